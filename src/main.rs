//! The `posterior` command: parse, configure logging, call into the library.

use clap::Parser;

mod cli;

/// mimalloc: the server allocates small, short-lived buffers per request; glibc's malloc
/// showed up at the top of the profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use posterior::config::{Cli, Command, KeysCommand, ScopeArg, Settings, SimulateArgs, Simulation};
use posterior::domain::Scope;
use posterior::engine::Actor;
use posterior::{Application, startup, store, telemetry};

fn scope(arg: ScopeArg) -> Scope {
    match arg {
        ScopeArg::Admin => Scope::Admin,
        ScopeArg::Client => Scope::Client,
    }
}

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
        Command::Simulate(args) => simulate(&args),
        Command::Keys { action } => match action {
            KeysCommand::Create {
                scope: s,
                name,
                rate_limit,
                db,
            } => {
                startup::migrate(&db.database_url)?;
                let (key, record) = startup::create_key_with(
                    &db.database_url,
                    &Actor::cli(),
                    scope(s),
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

/// The bandit simulations of docs/simulation.md, driving the server's own sampler and updates.
fn simulate(args: &SimulateArgs) {
    use posterior::simulate::*;
    use std::time::Instant;
    let wanted = |s: Simulation| args.only.is_none_or(|o| o == s);
    let q = args.quick;
    if wanted(Simulation::Gaussian) {
        let start = Instant::now();
        let row = gaussian_two_arms(if q { 2_000 } else { 100_000 }, 2000, args.seed);
        println!(
            "## Gaussian Thompson sampling (Lattimore & Szepesvári, Experiment 36.1)\n\n{}",
            render_gaussian(&row)
        );
        println!("({:.0} s)\n", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::LaiRobbins) {
        let start = Instant::now();
        let (t_short, t_long) = if q {
            (10_000, 100_000)
        } else {
            (100_000, 1_000_000)
        };
        let mut rows = static_arms(
            10,
            &[0.1],
            if q { 8 } else { 500 },
            t_short,
            t_long,
            args.seed,
        );
        rows.extend(static_arms(
            10,
            &[0.02],
            if q { 8 } else { 1000 },
            t_short,
            t_long,
            args.seed + 1,
        ));
        println!(
            "## Static arms against Lai–Robbins\n\n{}",
            render_static(&rows)
        );
        println!("({:.0} s)\n", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::ChapelleLi) {
        let start = Instant::now();
        let (runs, steps) = if q { (4, 100_000) } else { (100, 1_000_000) };
        let rows = chapelle_li(runs, steps, &[1, 3, 10, 32, 100, 316, 1000], args.seed);
        println!(
            "## Chapelle & Li (2011), Table 1 ({steps} steps)\n\n{}",
            render_chapelle_li(&rows)
        );
        println!("({:.0} s)", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::Contextual) {
        let start = Instant::now();
        let (runs, checkpoints): (usize, &[u64]) = if q {
            (20, &[1_000, 10_000])
        } else {
            (100, &[1_000, 10_000, 50_000])
        };
        let policies = [
            ContextualPolicy::Pooled,
            ContextualPolicy::PerSegment { m_max: 0 },
            ContextualPolicy::PerSegment { m_max: 10 },
            ContextualPolicy::PerSegment { m_max: 30 },
            ContextualPolicy::PerSegment { m_max: 100 },
        ];
        for (name, scenario) in [
            (
                "4 segments (40/30/20/10%), best variants a, b, c, a",
                ContextualScenario::default(),
            ),
            (
                "24 small segments (Zipf shares), 21 prefer b, 3 differ",
                ContextualScenario::many_small(),
            ),
        ] {
            let rows = contextual(&scenario, &policies, runs, checkpoints, args.seed);
            println!(
                "## Contextual bandit: {name}; regret against the per-segment oracle\n\n{}",
                render_contextual(&rows)
            );
        }
        println!("({:.0} s)", start.elapsed().as_secs_f64());
    }
}
