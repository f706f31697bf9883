//! The table of `memray summary`: the functions holding the most memory in a view — total and
//! own bytes with their share, and allocation counts (Memray's columns).

use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};

use memray_analysis::functions::FunctionRow;

use crate::common::human::size_fmt;
use crate::common::terminal::for_terminal;

pub const COLUMNS: usize = 5;

fn share_color(fraction: f64) -> Color {
    if fraction > 0.6 {
        Color::Red
    } else if fraction > 0.2 {
        Color::Yellow
    } else if fraction > 0.05 {
        Color::DarkGreen
    } else {
        Color::Green
    }
}

/// Renders the rows sorted by column `sort` (1..=5, Memray's numbering), at most `max_rows`.
pub fn render(
    rows: &[FunctionRow],
    sort: usize,
    max_rows: usize,
    color: bool,
    width: Option<u16>,
) -> String {
    let total = rows
        .iter()
        .map(|r| r.own_bytes)
        .fold(0u64, u64::saturating_add);
    let n_allocs = rows
        .iter()
        .map(|r| r.count)
        .fold(0u64, u64::saturating_add)
        .max(1);
    let total_f = total.max(1) as f64;
    let mut sorted: Vec<&FunctionRow> = rows.iter().collect();
    let key = |r: &FunctionRow| match sort {
        1 | 2 => r.total_bytes,
        3 | 4 => r.own_bytes,
        _ => r.count,
    };
    sorted.sort_by_key(|r| std::cmp::Reverse(key(r)));
    sorted.truncate(max_rows);

    let mut headers = [
        "Location",
        "Total Memory",
        "Total Memory %",
        "Own Memory",
        "Own Memory %",
        "Allocation Count",
    ]
    .map(String::from);
    headers[sort] = format!("<{}>", headers[sort]);
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = width {
        table.set_width(w);
    }
    if !color {
        table.force_no_tty();
    } else {
        table.enforce_styling();
    }
    table.set_header(headers.iter().map(Cell::new));
    for r in sorted {
        let paint = |cell: Cell, fraction: f64| {
            if color {
                cell.fg(share_color(fraction))
            } else {
                cell
            }
        };
        let t = r.total_bytes as f64 / total_f;
        let o = r.own_bytes as f64 / total_f;
        let c = r.count as f64 / n_allocs as f64;
        let location = format!(
            "{} at {}",
            for_terminal(&r.function),
            for_terminal(&r.filename)
        );
        table.add_row(vec![
            Cell::new(location),
            paint(Cell::new(size_fmt(r.total_bytes)), t),
            paint(Cell::new(format!("{:.2}%", t * 100.0)), t),
            paint(Cell::new(size_fmt(r.own_bytes)), o),
            paint(Cell::new(format!("{:.2}%", o * 100.0)), o),
            paint(Cell::new(r.count.to_string()), c),
        ]);
    }
    for i in 1..=COLUMNS {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.to_string()
}
