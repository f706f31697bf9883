//! The man pages: every program's command line as a clap command, rendered by `clap_mangen`
//! from the same definitions the programs parse (`make man` writes them into `man/` with
//! `gen-man`; `tests/man_pages.rs` checks that the committed pages are up to date).

use clap::{Command, CommandFactory};

/// Every program with a man page, as the clap command the page is made from.
pub fn all() -> Vec<Command> {
    vec![
        crate::memray::args::command(),
        crate::capture::Cli::command(),
        crate::flamegraph::Args::command(),
        crate::live::Args::command(),
        crate::parse::Args::command(),
        crate::stats::Args::command(),
        crate::transform::Args::command(),
    ]
}

/// Every program's man page: its file name (`memray-stats.1`) and its roff text.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    all()
        .into_iter()
        .map(|cmd| {
            let file = format!("{}.1", cmd.get_name());
            let mut roff = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut roff)?;
            Ok((file, roff))
        })
        .collect()
}
