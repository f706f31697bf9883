//! The command-line arguments several programs share, as clap groups each program flattens
//! (`#[command(flatten)]`) into its own: [`OutputArgs`] (`-o/--output`, `-f/--force`: every
//! program that writes a file), [`ViewArgs`] (`--leaks`, `--temporary-allocations`,
//! `--temporary-allocation-threshold`: every report), and [`FileReportArgs`] (the capture, then
//! those two: the reports written to a file), with [`READS_STDIN`], the note of every program
//! that reads a capture.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use memray_analysis::snapshot::View;

use super::output::{check_overwrite, create_output};

/// The `after_help` of every program that reads a capture.
pub const READS_STDIN: &str = "Reads `-` as standard input.";

/// `-o/--output` and `-f/--force`, flattened (`#[command(flatten)]`) into the arguments of
/// every program that writes a file. A program whose file is special rewords their help with
/// `#[command(mut_arg("output", ...))]` (`memray-stats`: the JSON file; `memray-transform`:
/// `-` for standard output; `memray-capture`: the capture).
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Output file name
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// If the output file already exists, overwrite it
    #[arg(short, long)]
    pub force: bool,
}

impl OutputArgs {
    /// The `-o` path, else `default()`.
    pub fn path_or(&self, default: impl FnOnce() -> PathBuf) -> PathBuf {
        self.output.clone().unwrap_or_else(default)
    }

    /// Fails with Memray's message when `path` exists and `--force` was not given.
    pub fn check(&self, path: &Path) -> Result<()> {
        check_overwrite(path, self.force)
    }

    /// Creates `path` for writing, as [`create_output`] does with `--force`.
    pub fn create(&self, path: &Path) -> Result<File> {
        create_output(path, self.force)
    }

    /// Writes `data` to a new `path` and says `Wrote <path>` on stdout, as Memray's reporters do.
    pub fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        self.create(path)?.write_all(data)?;
        println!("Wrote {}", path.display());
        Ok(())
    }
}

/// The view options every report shares (Memray's flags): the peak by default, `--leaks`, or
/// the temporary allocations.
#[derive(Args, Debug, Clone, Default)]
pub struct ViewArgs {
    /// Show memory leaks, instead of peak memory usage
    #[arg(long, conflicts_with_all = ["temporary_allocation_threshold", "temporary_allocations"])]
    pub leaks: bool,
    /// Report temporary allocations, as opposed to leaked allocations or high watermark
    /// allocations. An allocation is considered temporary if at most N other allocations
    /// occur before it is deallocated. With N=0, an allocation is temporary only if it is
    /// immediately deallocated before any other allocation occurs.
    #[arg(long, value_name = "N", conflicts_with = "temporary_allocations")]
    pub temporary_allocation_threshold: Option<usize>,
    /// Equivalent to --temporary-allocation-threshold=1
    #[arg(long)]
    pub temporary_allocations: bool,
    /// With a capture set (a directory of captures, one per process): report on process PID
    /// only
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

impl ViewArgs {
    /// The temporary-allocation threshold, if the temporary allocations were asked for.
    pub fn threshold(&self) -> Option<usize> {
        self.temporary_allocation_threshold
            .or(self.temporary_allocations.then_some(1))
    }

    /// The view asked for.
    pub fn view(&self) -> View {
        if self.threshold().is_some() {
            View::Temporary
        } else if self.leaks {
            View::Leaks
        } else {
            View::Peak
        }
    }
}

/// What every report written to a file takes first: the capture, where the file goes, and the
/// view (`memray-flamegraph`, `memray-table`).
#[derive(Args, Debug, Clone, Default)]
pub struct FileReportArgs {
    /// Results of the tracker run: a capture file, - for stdin, or a capture set (a directory
    /// of captures, or several capture files)
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<String>,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub view: ViewArgs,
}
