//! The man pages: every program's command line as a clap command, rendered by `clap_mangen`
//! from the same definitions the programs parse (`make man` writes them into `man/` with
//! `gen-man`; `tests/man_pages.rs` checks that every program has an up-to-date page).

use clap::{Command, CommandFactory};

/// Every program, as the clap command its man page is made from.
pub fn all() -> Vec<Command> {
    vec![
        crate::memray::args::command(),
        crate::capture::Cli::command(),
        crate::flamegraph::Args::command(),
        crate::live::Args::command(),
        crate::parse::Args::command(),
        crate::stats::Args::command(),
        crate::summary::Args::command(),
        crate::table::Args::command(),
        crate::transform::Args::command(),
        crate::tree::Args::command(),
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
