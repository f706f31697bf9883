//! The command line of `memray-live` (`memray live`).

use clap::Parser;

/// Remotely monitor allocations in a text-based interface.
///
/// Connects to a program tracked with `memray run --live-remote` (or a `Tracker` with a
/// `SocketDestination`) on the loopback interface, waiting until it listens, and shows what it
/// has allocated and not yet freed, refreshed about once a second: the process, the heap size
/// and its history, and a table by function of the memory allocated by each function itself
/// (own) and by it and everything it called (total), with the number of allocations.
///
/// Keys: t, o, a sort by total, own memory or allocation count; m shows threads one at a time
/// (switch with < and > or the Left and Right arrows) or all merged; space pauses the table;
/// Up, Down, PageUp, PageDown, Home and End scroll; q (or Esc) quits. When the program exits,
/// the view says so and stays until q.
#[derive(Parser)]
#[command(
    name = "memray-live",
    version,
    after_help = "Memray's spelling: `memray live PORT`. `memray run --live SCRIPT` starts the \
                  program and this interface together."
)]
pub struct Args {
    /// Remote port to connect to
    #[arg(allow_negative_numbers = true)]
    pub port: i64,
}
