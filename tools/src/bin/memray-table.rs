//! `memray-table`: a self-contained, sortable and searchable HTML table of a capture.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use memray_tools::args::table::Args;
use memray_tools::flamegraph::data::view_name;
use memray_tools::output::{check_overwrite, create_output, report_output};
use memray_tools::view::load_view;

fn main() -> ExitCode {
    let args = Args::parse();
    memray_tools::cli::run("memray-table", || {
        let output = args
            .output
            .clone()
            .unwrap_or_else(|| report_output(&args.results, "table", ".html"));
        check_overwrite(&output, args.force)?;
        let merged = !args.split_threads;
        let (a, groups) = load_view(&args.results, &args.view, merged)?;
        let title = format!("memray table: {}", view_name(args.view.view(), false));
        let doc = memray_tools::table::build(&a, &groups, merged, title);
        let page =
            memray_tools::html::embed(memray_tools::table::TEMPLATE, &serde_json::to_string(&doc)?);
        create_output(&output, args.force)?.write_all(page.as_bytes())?;
        println!("Wrote {}", output.display());
        Ok(())
    })
}
