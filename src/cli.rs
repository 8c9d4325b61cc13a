//! `posterior export` and `posterior audit`: the HTTP exports' bytes, written straight from the
//! database to a file or stdout. Part of the binary (declared in main.rs), not the library.

use posterior::config::{DownloadArgs, ExportArgs};
use posterior::engine::export::{self, ExportRequest, Sink};
use posterior::store;
use std::io::{self, Write};

/// `posterior export`.
pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let request = ExportRequest {
        experiment: args.experiment,
        data: args.data,
        format: args.download.format,
        range: args.download.range()?,
    };
    let rows = write(&args.download, |conn, sink| {
        export::run_export(conn, &request, None, sink)
    })?;
    tracing::info!(rows, "export written");
    Ok(())
}

/// `posterior audit`.
pub fn audit(args: DownloadArgs) -> anyhow::Result<()> {
    let (format, range) = (args.format, args.range()?);
    let rows = write(&args, |conn, sink| {
        export::write_audit_log(conn, format, range, sink)
    })?;
    tracing::info!(rows, "audit log written");
    Ok(())
}

/// Runs `export` into `--output` (or stdout), page by page.
fn write(
    args: &DownloadArgs,
    export: impl FnOnce(
        &mut diesel::PgConnection,
        &mut dyn Sink,
    ) -> Result<u64, posterior::engine::EngineError>,
) -> anyhow::Result<u64> {
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::fs::File::create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut conn = store::connect(&args.db.database_url)?;
    let mut sink = WriteSink {
        out: io::BufWriter::new(out),
        failed: None,
    };
    let rows = export(&mut conn, &mut sink)?;
    if let Some(e) = sink.failed {
        return Err(e.into());
    }
    sink.out.flush()?;
    Ok(rows)
}

/// A sink into a writer. A sink can only say "stop", so the error is kept for afterwards.
struct WriteSink<W: Write> {
    out: W,
    failed: Option<io::Error>,
}

impl<W: Write> Sink for WriteSink<W> {
    fn send(&mut self, bytes: Vec<u8>) -> bool {
        match self.out.write_all(&bytes) {
            Ok(()) => true,
            Err(e) => {
                self.failed = Some(e);
                false
            }
        }
    }
}
