//! Drawing the live view: a title line, the header (process, thread, time, heap, status) with
//! the heap sparkline beside it, the table by function, and the keys. Fits 80x24.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Sparkline, Table};
use ratatui::Frame;

use super::app::{App, SortKey};
use crate::common::human::size_fmt;

/// Widths of the number columns: total, % total, own, % own, allocations.
const NUMBER_WIDTHS: [u16; 5] = [11, 7, 10, 7, 11];
const HEADER_HEIGHT: u16 = 7;

/// Memray's colour gradient for a share of the heap: green, orange, dark orange, red.
fn gradient(fraction: f64) -> Color {
    const STOPS: [(f64, (u8, u8, u8)); 4] = [
        (0.0, (97, 193, 44)),
        (0.4, (236, 152, 16)),
        (0.6, (255, 140, 0)),
        (1.0, (205, 92, 92)),
    ];
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for w in STOPS.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if f <= b {
            let t = if b > a { (f - a) / (b - a) } else { 0.0 };
            let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t) as u8;
            return Color::Rgb(mix(ca.0, cb.0), mix(ca.1, cb.1), mix(ca.2, cb.2));
        }
    }
    let (r, g, b) = STOPS[3].1;
    Color::Rgb(r, g, b)
}

/// Which end of a text too long for its column is kept.
#[derive(Clone, Copy)]
enum Keep {
    Start,
    End,
}

/// `s` cut to `width` characters, keeping its start or its end (`…` marks the cut).
fn cut(s: &str, width: usize, keep: Keep) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    match keep {
        Keep::Start => format!("{}…", s.chars().take(width - 1).collect::<String>()),
        Keep::End => format!("…{}", s.chars().skip(n - (width - 1)).collect::<String>()),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn bold(s: &str) -> Span<'static> {
    Span::styled(s.to_string(), Style::default().add_modifier(Modifier::BOLD))
}

pub fn draw(f: &mut Frame<'_>, app: &mut App, now: &str) {
    let [title, header, table, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(HEADER_HEIGHT),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_title(f, title, now);
    draw_header(f, app, header);
    draw_table(f, app, table);
    draw_footer(f, app, footer);
}

fn draw_title(f: &mut Frame<'_>, area: Rect, now: &str) {
    let left = Line::from(vec![
        Span::raw(" "),
        bold("Memray"),
        Span::raw(" live tracking"),
    ]);
    f.render_widget(Paragraph::new(left), area);
    let right = Line::from(format!("{now} ")).alignment(Alignment::Right);
    f.render_widget(Paragraph::new(right), area);
}

fn status_spans(app: &App) -> Vec<Span<'static>> {
    let mut parts: Vec<Span<'static>> = Vec::new();
    if app.paused {
        parts.push(Span::styled(
            "Table updates paused",
            Style::default().fg(Color::Yellow),
        ));
    }
    if app.disconnected {
        if !parts.is_empty() {
            parts.push(Span::raw(" "));
        }
        parts.push(Span::styled(
            "Remote has disconnected",
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
        if let Some(s) = &app.exit_status {
            parts.push(Span::raw(format!(" ({s})")));
        }
    }
    if parts.is_empty() {
        return parts;
    }
    parts.insert(0, bold("Status: "));
    parts
}

/// Said on the frame of the header once the stream has ended.
fn ended_banner(app: &App) -> Option<String> {
    if !app.disconnected {
        return None;
    }
    Some(match (&app.error, &app.exit_status) {
        (Some(e), _) => format!(" Connection lost: {e} "),
        (None, Some(_)) => " The program has exited ".to_string(),
        (None, None) => " The program has exited or stopped tracking ".to_string(),
    })
}

fn draw_header(f: &mut Frame<'_>, app: &App, area: Rect) {
    let graph_width = (area.width * 2 / 5).clamp(30.min(area.width), 80);
    let [info, graph] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(graph_width)]).areas(area);

    let (tid, thread) = if app.merge_threads {
        ("*".to_string(), "All threads".to_string())
    } else {
        match app.current_thread() {
            Some(t) => {
                let mut label = format!("Thread {} of {}", app.thread_idx + 1, app.threads.len());
                if let Some(name) = app.thread_names.get(&t).filter(|n| !n.is_empty()) {
                    label.push_str(&format!(" ({name})"));
                }
                (format!("{t:#x}"), label)
            }
            None => ("-".to_string(), "No thread has allocated yet".to_string()),
        }
    };
    let lines = vec![
        Line::from(vec![
            bold("PID: "),
            Span::raw(app.pid.to_string()),
            Span::raw("  "),
            bold("CMD: "),
            Span::raw(app.command_line.clone()),
        ]),
        Line::from(vec![
            bold("TID: "),
            Span::raw(tid),
            Span::raw("  "),
            bold(&thread),
        ]),
        Line::from(vec![
            bold("Samples: "),
            Span::raw(app.samples.to_string()),
            Span::raw("  "),
            bold("Duration: "),
            Span::raw(format!("{:.1} seconds", app.elapsed_ms as f64 / 1000.0)),
        ]),
        Line::from(vec![
            bold("Heap: "),
            Span::raw(size_fmt(app.heap)),
            Span::raw("  "),
            bold("Peak: "),
            Span::raw(size_fmt(app.peak)),
            Span::raw(if app.sample_every > 0 {
                format!(
                    "  (estimates: sampled every {})",
                    size_fmt(app.sample_every)
                )
            } else {
                String::new()
            }),
        ]),
        Line::from(status_spans(app)),
    ];
    let mut block = Block::bordered().title(" Process ");
    if let Some(banner) = ended_banner(app) {
        block = block.title_bottom(Span::styled(
            banner,
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    f.render_widget(Paragraph::new(lines).block(block), info);

    let inner = graph.width.saturating_sub(2) as usize;
    let mut data: Vec<u64> = app
        .history
        .iter()
        .skip(app.history.len().saturating_sub(inner))
        .copied()
        .collect();
    let max = data.iter().copied().max().unwrap_or(0).max(app.heap).max(1);
    // Newest at the right edge, as the data scrolls in.
    let pad = inner.saturating_sub(data.len());
    data.splice(0..0, std::iter::repeat_n(0, pad));
    let subtitle = format!(
        " {} ({:.0}% of {} max) ",
        size_fmt(app.heap),
        percent(app.heap, max),
        size_fmt(max)
    );
    let block = Block::bordered()
        .title(" Heap Usage ")
        .title_bottom(Line::from(subtitle).alignment(Alignment::Right));
    f.render_widget(
        Sparkline::default()
            .block(block)
            .data(data)
            .max(max)
            .style(Style::default().fg(Color::Cyan)),
        graph,
    );
}

fn draw_table(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let spacing = 1u16;
    let fixed: u16 = NUMBER_WIDTHS.iter().sum::<u16>() + 6 * spacing;
    let rest = area.width.saturating_sub(fixed);
    let function_w = (rest / 2).max(8);
    let file_w = rest.saturating_sub(function_w);
    let mut widths = vec![Constraint::Length(function_w)];
    widths.extend(NUMBER_WIDTHS.iter().map(|&w| Constraint::Length(w)));
    widths.push(Constraint::Length(file_w));

    let sorted = Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    let plain = Style::default().add_modifier(Modifier::BOLD);
    let heading = |text: &str, on: bool, right: bool| {
        let line = Line::from(Span::styled(
            text.to_string(),
            if on { sorted } else { plain },
        ));
        Cell::from(if right { line.right_aligned() } else { line })
    };
    let header = TableRow::new(vec![
        heading("Function", false, false),
        heading("Total Bytes", app.sort == SortKey::Total, true),
        heading("% Total", app.sort == SortKey::Total, true),
        heading("Own Bytes", app.sort == SortKey::Own, true),
        heading("% Own", app.sort == SortKey::Own, true),
        heading("Allocations", app.sort == SortKey::Allocations, true),
        heading("File:Line", false, false),
    ]);

    // The header takes one line; the rest shows rows.
    app.page = area.height.saturating_sub(1).max(1) as usize;
    let max = app.rows.len().saturating_sub(app.page);
    app.offset = app.offset.min(max);
    let heap = app.table_heap;
    let n_allocs: u64 = app.rows.iter().map(|r| r.count).max().unwrap_or(0);
    let number = |text: String, color: Color| {
        Cell::from(Line::from(Span::styled(text, Style::default().fg(color))).right_aligned())
    };
    let rows: Vec<TableRow<'_>> = app
        .rows
        .iter()
        .skip(app.offset)
        .take(app.page)
        .map(|r| {
            let total_c = gradient(percent(r.total, heap) / 100.0);
            let own_c = gradient(percent(r.own, heap) / 100.0);
            let count_c = gradient(percent(r.count, n_allocs) / 100.0);
            let location = if r.line > 0 {
                format!("{}:{}", r.file, r.line)
            } else {
                r.file.clone()
            };
            TableRow::new(vec![
                Cell::from(cut(&r.function, function_w as usize, Keep::Start)),
                number(size_fmt(r.total), total_c),
                number(format!("{:.2}%", percent(r.total, heap)), total_c),
                number(size_fmt(r.own), own_c),
                number(format!("{:.2}%", percent(r.own, heap)), own_c),
                number(r.count.to_string(), count_c),
                Cell::from(cut(&location, file_w as usize, Keep::End)),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(spacing),
        area,
    );
}

fn draw_footer(f: &mut Frame<'_>, app: &App, area: Rect) {
    let key = Style::default()
        .fg(Color::Black)
        .bg(Color::Cyan)
        .add_modifier(Modifier::BOLD);
    let mut items: Vec<(&str, &str)> = vec![("q", "Quit")];
    if app.merge_threads {
        items.push(("m", "Unmerge threads"));
    } else {
        items.push(("m", "Merge"));
        items.push(("< >", "Thread"));
    }
    items.extend([("t", "Total"), ("o", "Own"), ("a", "Allocs")]);
    if app.paused {
        items.push(("space", "Unpause"));
    } else if !app.disconnected {
        items.push(("space", "Pause"));
    }
    let mut spans = Vec::new();
    for (k, label) in items {
        spans.push(Span::styled(format!(" {k} "), key));
        spans.push(Span::raw(format!(" {label} ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_the_useful_end() {
        assert_eq!(cut("/a/b/c.py:12", 8, Keep::End), "…c.py:12");
        assert_eq!(cut("c.py:1", 8, Keep::End), "c.py:1");
        assert_eq!(cut("a_long_function", 6, Keep::Start), "a_lon…");
    }

    #[test]
    fn gradient_ends() {
        assert_eq!(gradient(0.0), Color::Rgb(97, 193, 44));
        assert_eq!(gradient(1.0), Color::Rgb(205, 92, 92));
        assert_eq!(gradient(f64::NAN), Color::Rgb(97, 193, 44));
    }
}
