//! The command line of `memray`, described as a clap command for its man page (the dispatcher
//! parses its own arguments, passing everything after the command on untouched).

use clap::{Arg, ArgAction, Command};

/// The dispatcher's interface.
pub fn command() -> Command {
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
