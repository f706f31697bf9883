//! The command-line definitions of every program, kept in the library so that the man pages
//! (`make man`, from `gen-man`) are generated from the same definitions the programs parse.

pub mod capture;
pub mod flamegraph;
pub mod live;
pub mod parse;
pub mod stats;
pub mod summary;
pub mod table;
pub mod transform;
pub mod tree;

use clap::{Arg, ArgAction, Command, CommandFactory};

/// The dispatcher's interface, described for its man page (it parses its own arguments).
fn dispatcher() -> Command {
    Command::new("memray")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Memory profiler for Python applications")
        .long_about(
            "Runs `memray-<command> ARGS` for `memray <command> ARGS`, found beside this program \
             or on PATH (`memray run` runs `memray-capture run`), with Memray 1.20's exact \
             behaviour for each command.",
        )
        .arg(
            Arg::new("command")
                .help("The command to run (run, stats, …)")
                .required(true),
        )
        .arg(
            Arg::new("args")
                .help("Its arguments")
                .num_args(0..)
                .trailing_var_arg(true),
        )
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version"),
        )
}

/// Every program with a man page, as clap commands.
pub fn all() -> Vec<Command> {
    vec![
        dispatcher(),
        capture::Cli::command(),
        flamegraph::Args::command(),
        live::Args::command(),
        stats::Args::command(),
        transform::Args::command(),
        parse::Args::command(),
    ]
}
