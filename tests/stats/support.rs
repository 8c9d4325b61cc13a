//! What the statistics tests share: loading tests/reference/*.json, reading its numbers,
//! tracking the largest error of each function (printed with `-- --nocapture`), and the
//! proptest case count.

use proptest::prelude::{Just, ProptestConfig, Strategy};
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;

/// `cases` proptest cases, or `PROPTEST_CASES` when set; failing cases are kept next to the
/// test file (`properties.rs` → `properties.proptest-regressions`) and replayed first.
///
/// proptest's default (`SourceParallel`) climbs from the test file to the first directory
/// holding a `main.rs`, here tests/stats itself, and so reads and writes
/// tests/proptest-regressions/properties.txt: the seeds committed beside the test never ran.
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let default = ProptestConfig::default();
    // (PROPTEST_DISABLE_FAILURE_PERSISTENCE leaves it None; keep that)
    let failure_persistence = default
        .failure_persistence
        .as_ref()
        .map(|_| Box::new(FileFailurePersistence::WithSource("proptest-regressions")) as Box<_>);
    ProptestConfig {
        cases,
        failure_persistence,
        ..default
    }
}

/// (users, conversions) with conversions ≤ users, users up to `max_users`.
pub fn counts(max_users: u64) -> impl Strategy<Value = (u64, u64)> {
    (0..=max_users).prop_flat_map(|n| (Just(n), 0..=n))
}

pub fn load(name: &str) -> Value {
    let path = format!("{}/tests/reference/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A reference number: a decimal string (50-digit values) or a JSON number (inputs).
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|e| panic!("{s}: {e}")),
        Value::Number(n) => n.as_f64().expect("number"),
        other => panic!("not a number: {other}"),
    }
}

pub fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

/// Tracks the largest absolute and relative error of one function.
pub struct ErrorStats {
    name: &'static str,
    max_abs: f64,
    max_rel: f64,
    count: usize,
}

impl ErrorStats {
    pub fn new(name: &'static str) -> Self {
        ErrorStats {
            name,
            max_abs: 0.0,
            max_rel: 0.0,
            count: 0,
        }
    }
    pub fn add(&mut self, got: f64, want: f64, context: &str) -> (f64, f64) {
        assert!(
            got.is_finite() || got == want,
            "{}: non-finite {got} for {context}",
            self.name
        );
        let abs = (got - want).abs();
        let rel = if want != 0.0 { abs / want.abs() } else { abs };
        self.max_abs = self.max_abs.max(abs);
        self.max_rel = self.max_rel.max(rel);
        self.count += 1;
        (abs, rel)
    }
    pub fn report(&self) {
        eprintln!(
            "ACCURACY | {} | {} cases | max abs error {:.1e} | max rel error {:.1e} |",
            self.name, self.count, self.max_abs, self.max_rel
        );
    }
}
