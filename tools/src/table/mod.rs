//! `memray-table` (`memray table`): a self-contained HTML table of the allocation locations of
//! a view, sortable by every column and searchable. [`args`] is the command line, [`data`] the
//! rows the page shows, `template.html` the page that shows them.

pub mod args;
pub mod data;

use std::process::ExitCode;

use crate::common::cli;
use crate::common::html::embed;
use crate::common::output::report_output;
use crate::common::view::{load_view, view_name};
pub use args::Args;

/// The page; `__MEMRAY_DATA__` is replaced by the JSON document (escaped for a script tag).
pub const TEMPLATE: &str = include_str!("template.html");

/// The program: `Wrote <file>` and exit status 0, or 1 with one line on stderr.
pub fn main(args: Args) -> ExitCode {
    let report = &args.report;
    cli::run("memray-table", || {
        let output = report
            .out
            .path_or(|| report_output(&report.results[0], "table", ".html"));
        report.out.check(&output)?;
        let merged = !args.split_threads;
        let (a, groups) = load_view(&report.results, &report.view, merged)?;
        let title = format!("memray table: {}", view_name(report.view.view(), false));
        let doc = data::build(&a, &groups, merged, title);
        let page = embed(TEMPLATE, &serde_json::to_string(&doc)?);
        report.out.write(&output, page.as_bytes())
    })
}
