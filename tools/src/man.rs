//! The man pages: every program's command line as a clap command, rendered by `clap_mangen`
//! from the same definitions the programs parse (`make man` writes them into `man/` with
//! `gen-man`; `tests/man_pages.rs` checks that every program has an up-to-date page).

use clap::{Command, CommandFactory};

/// Every program, as the clap command its man page is made from.
pub fn all() -> Vec<Command> {
    vec![
        crate::memray::args::command(),
        crate::capture::Cli::command(),
        crate::diff::Args::command(),
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

/// Every program's man page: its file name (`memray-stats.1`) and its roff text; a program
/// with subcommands also gets one page per subcommand (`memray-capture-run.1`, which
/// `memray-capture.1` refers to), with its options.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for cmd in all() {
        let name = cmd.get_name().to_string();
        for sub in cmd.get_subcommands() {
            // clap names are 'static; these few live as long as the generator anyway.
            let full: &'static str =
                Box::leak(format!("{name}-{}", sub.get_name()).into_boxed_str());
            out.push(render(sub.clone().name(full), full)?);
        }
        out.push(render(cmd, &name)?);
    }
    Ok(out)
}

fn render(cmd: Command, name: &str) -> std::io::Result<(String, Vec<u8>)> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut roff)?;
    Ok((format!("{name}.1"), roff))
}
