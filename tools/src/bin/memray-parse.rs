//! `memray-parse`: prints every record of a capture, one per line, for debugging.

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::bail;
use clap::Parser;
use memray_tools::args::parse::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    memray_tools::cli::run("memray-parse", || {
        if std::io::stdout().is_terminal() {
            bail!("You must redirect stdout to a file or shell pipeline.");
        }
        let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        memray_tools::parse::dump(&args.results, &mut out)?;
        out.flush()?;
        Ok(())
    })
}
