//! `memray-parse` (`memray parse`): every record of a capture, one per line, for debugging the
//! format. [`args`] is the command line, [`records`] the lines.

pub mod args;
pub mod records;

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::bail;

use crate::common::cli;
pub use args::Args;

/// The program: exit status 0, or 1 with one line on stderr (standard output a terminal too).
pub fn main(args: Args) -> ExitCode {
    cli::run("memray-parse", || {
        if std::io::stdout().is_terminal() {
            bail!("You must redirect stdout to a file or shell pipeline.");
        }
        let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        records::dump(&args.results, &mut out)?;
        out.flush()?;
        Ok(())
    })
}
