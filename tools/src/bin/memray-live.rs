//! `memray-live PORT` (also `memray live PORT`): connects to a program tracked with
//! `memray run --live-remote` and shows its live heap in the terminal.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use memray_analysis::live::Live;
use memray_tools::args::live::Args;
use memray_tools::live;

fn main() -> ExitCode {
    let args = Args::parse();
    // Memray's words, alone on the line.
    let port = match live::check_port(args.port) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    memray_tools::cli::run("memray-live", || {
        let stream = live::connect(port, || Ok(()))?;
        let live_state =
            Live::start(stream).with_context(|| format!("could not read from port {port}"))?;
        live::run(&live_state, live::Options::default())
    })
}
