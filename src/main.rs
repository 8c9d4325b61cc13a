//! The `posterior` command: parse, configure logging, call into the library.

use clap::Parser;

mod cli;

/// mimalloc: the server allocates small, short-lived buffers per request; glibc's malloc
/// showed up at the top of the profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use posterior::config::{Cli, Command, KeysCommand, Settings};
use posterior::engine::Actor;
use posterior::{Application, startup, store, telemetry};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            telemetry::init(args.log_format);
            let settings = Settings::from(args);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let app = Application::build(settings).await?;
                app.run_until_stopped().await?;
                anyhow::Ok(())
            })?;
            // Everything acknowledged is committed by now; a database call still waiting on
            // an unreachable server must not keep the process from exiting.
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        }
        Command::Migrate(db) => {
            telemetry::init(Default::default());
            let applied = startup::migrate(&db.database_url)?;
            println!("{} migration(s) applied", applied.len());
        }
        Command::Keys { action } => match action {
            KeysCommand::Create {
                scope,
                name,
                rate_limit,
                db,
            } => {
                startup::migrate(&db.database_url)?;
                let (key, record) = startup::create_key_with(
                    &db.database_url,
                    &Actor::cli(),
                    scope,
                    &name,
                    rate_limit,
                )?;
                eprintln!(
                    "Created {} key {} (shown only this once; store it safely):",
                    record.scope, record.id
                );
                println!("{key}");
            }
            KeysCommand::List { db } => {
                let mut conn = store::connect(&db.database_url)?;
                println!("id\tscope\thash\tcreated\tlast_used\tstate\trate_limit\tname");
                for k in store::list_keys(&mut conn)? {
                    let state = k.revoked_at.map_or("active".to_string(), |t| {
                        format!("revoked {}", t.format("%Y-%m-%d %H:%M:%S"))
                    });
                    let rate = k.rate_limit.map_or("-".to_string(), |r| format!("{r}/s"));
                    println!(
                        "{}\t{}\t{}…\t{}\t{}\t{}\t{}\t{}",
                        k.id,
                        k.scope,
                        k.hash_prefix(),
                        k.created_at.format("%Y-%m-%d %H:%M:%S"),
                        k.last_used_at.map_or("never".to_string(), |t| t
                            .format("%Y-%m-%d %H:%M")
                            .to_string()),
                        state,
                        rate,
                        k.label
                    );
                }
            }
            KeysCommand::Revoke { id, db } => {
                startup::revoke_key(&db.database_url, &Actor::cli(), id)?;
                println!("revoked key {id}");
            }
        },
        Command::Audit(args) => {
            telemetry::init(Default::default());
            cli::audit(args)?;
        }
        Command::Export(args) => {
            telemetry::init(Default::default());
            cli::export(args)?;
        }
    }
    Ok(())
}
