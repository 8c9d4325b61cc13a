//! The `posterior` binary, run against a test database (its URL appended to the arguments).

use std::process::{Command, Output};

pub fn posterior(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_posterior"))
        .args(args)
        .args(["--database-url", database_url])
        .output()
        .unwrap()
}

/// The same, which must succeed: its standard output.
pub fn posterior_ok(database_url: &str, args: &[&str]) -> String {
    let output = posterior(database_url, args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
