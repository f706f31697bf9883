//! `memray-live`: the live view over a real socket, without a terminal: a capture written by
//! the format crate's writer into a TCP connection, read by the shared live state, shown by the
//! view into ratatui's test backend (80x24), with the keys the UI handles.
//!
//! Stacks (outermost first; the main thread hides 1 frame, `_run_tracker`):
//! - S_GROW (thread 1): `_run_tracker` `<module>:10` `grow:3` — the growing list;
//! - S_GROW_B (thread 1): `_run_tracker` `<module>:10` `grow:4` — one other line of `grow`;
//! - S_SMALL (thread 2, "worker"): `run:975` `small:20` — many small blocks.

mod common;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{base_header, code, ev, memory_sample, node, thread_name, START_MS};
use crossterm::event::{KeyCode, KeyEvent};
use memray_analysis::live::{connect_loopback, Live, LiveData};
use memray_format::{AllocatorType, CaptureWriter, Header, WriterOptions};
use memray_tools::live::app::{Action, App, SortKey};
use memray_tools::live::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const APP: &str = "/proj/app.py";

fn header() -> Header {
    Header {
        command_line: "/venv/bin/memray run --live app.py".into(),
        ..base_header()
    }
}

/// Serves the capture in two steps: 3 x 1000 bytes in `grow` (2 at line 3, 1 at line 4) and
/// 10 x 50 bytes in `small` on the worker; then, once told, 2 x 1000 more in `grow` and a
/// free of the line-4 block, and the end.
fn serve(listener: TcpListener, go_on: mpsc::Receiver<()>) {
    let (stream, _) = listener.accept().unwrap();
    let mut w = CaptureWriter::new(stream, &header(), WriterOptions::default()).unwrap();
    let c_tracker = code(&mut w, "_run_tracker", "/x/memray/commands/run.py", 1);
    let c_module = code(&mut w, "<module>", APP, 1);
    let c_grow = code(&mut w, "grow", APP, 1);
    let c_run = code(&mut w, "run", "/usr/lib/python3.11/threading.py", 1);
    let c_small = code(&mut w, "small", APP, 1);
    let n_tracker = node(&mut w, 0, c_tracker, 83);
    let n_module = node(&mut w, n_tracker, c_module, 10);
    let s_grow = node(&mut w, n_module, c_grow, 3);
    let s_grow_b = node(&mut w, n_module, c_grow, 4);
    let n_run = node(&mut w, 0, c_run, 975);
    let s_small = node(&mut w, n_run, c_small, 20);
    for (thread, name) in [(1, "MainThread"), (2, "worker")] {
        thread_name(&mut w, thread, name);
    }
    use AllocatorType::*;
    ev(&mut w, Malloc, 1, 0x1000, 1000, s_grow);
    ev(&mut w, Malloc, 1, 0x2000, 1000, s_grow);
    ev(&mut w, Malloc, 1, 0x3000, 1000, s_grow_b);
    for i in 0..10 {
        ev(&mut w, Malloc, 2, 0x9000 + i * 64, 50, s_small);
    }
    memory_sample(&mut w, START_MS + 1500, 10_000_000);
    w.flush_chunk().unwrap();
    go_on.recv().unwrap();
    ev(&mut w, Malloc, 1, 0x4000, 1000, s_grow);
    ev(&mut w, Malloc, 1, 0x5000, 1000, s_grow);
    ev(&mut w, Free, 1, 0x3000, 0, 0);
    memory_sample(&mut w, START_MS + 2500, 11_000_000);
    w.finish(START_MS + 3000).unwrap();
}

fn wait_until(live: &Live, what: &str, cond: impl Fn(&LiveData) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond(&live.lock()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

fn screen(app: &mut App) -> String {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| view::draw(f, app, "Thu Nov 14 22:13:20 2023"))
        .unwrap();
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn names(app: &App) -> Vec<&str> {
    app.rows.iter().map(|r| r.function.as_str()).collect()
}

fn key(app: &mut App, c: char) -> Action {
    app.handle_key(KeyEvent::from(KeyCode::Char(c)))
}

#[test]
fn live_view_over_a_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go_on, wait) = mpsc::channel();
    let server = std::thread::spawn(move || serve(listener, wait));

    let live = Live::start(connect_loopback(port).unwrap()).unwrap();
    assert_eq!(live.header.pid, 4242);
    wait_until(&live, "the first chunk", |d| d.chunks >= 1);
    assert!(live.is_active());

    let mut app = App::new(live.header.pid, "memray run --live app.py".into());
    {
        let d = live.lock();
        assert_eq!(d.heap(), 3500);
        assert_eq!(d.threads(), &[1, 2]);
        assert_eq!(d.heap_history(10), vec![3500]);
        // Python's snapshot: by stack and thread, in order of first allocation.
        let groups: Vec<(u32, u64, u64)> = d
            .snapshot(false)
            .iter()
            .map(|g| (g.thread, g.size, g.count))
            .collect();
        assert_eq!(groups, vec![(1, 2000, 2), (1, 1000, 1), (2, 500, 10)]);
        app.refresh(&d);
    }
    // By total: <module> holds everything grow holds; the runner's own frame is hidden.
    assert_eq!(names(&app), vec!["<module>", "grow", "run", "small"]);
    let grow = &app.rows[1];
    assert_eq!(
        (grow.total, grow.own, grow.count, grow.line),
        (3000, 3000, 3, 3)
    );
    assert_eq!(grow.file, APP);

    let text = screen(&mut app);
    assert!(
        text.contains("PID: 4242  CMD: memray run --live app.py"),
        "{text}"
    );
    assert!(text.contains("TID: *  All threads"), "{text}");
    assert!(text.contains("Heap: 3.500kB"), "{text}");
    assert!(text.contains("/proj/app.py:3"), "{text}");
    assert!(!text.contains("Remote has disconnected"), "{text}");
    let grow_line = text.lines().find(|l| l.starts_with("grow ")).unwrap();
    assert!(grow_line.contains("3.000kB  85.71%"), "{grow_line}");

    // Sorting.
    assert_eq!(key(&mut app, 'a'), Action::Redraw);
    assert_eq!(app.sort, SortKey::Allocations);
    assert_eq!(names(&app), vec!["run", "small", "<module>", "grow"]);
    key(&mut app, 'o');
    assert_eq!(names(&app)[..2], ["grow", "small"]);
    key(&mut app, 't');
    assert_eq!(names(&app)[0], "<module>");

    // One thread at a time.
    assert_eq!(
        key(&mut app, '>'),
        Action::None,
        "no switching while merged"
    );
    assert_eq!(key(&mut app, 'm'), Action::Rebuild);
    app.rebuild(&live.lock());
    assert_eq!(names(&app), vec!["<module>", "grow"]);
    assert!(screen(&mut app).contains("TID: 0x1  Thread 1 of 2 (MainThread)"));
    assert_eq!(key(&mut app, '>'), Action::Rebuild);
    app.rebuild(&live.lock());
    assert_eq!(names(&app), vec!["run", "small"]);
    assert!(screen(&mut app).contains("TID: 0x2  Thread 2 of 2 (worker)"));
    key(&mut app, '>');
    app.rebuild(&live.lock());
    assert_eq!(app.current_thread(), Some(1), "wraps around");
    key(&mut app, 'm');
    app.rebuild(&live.lock());

    // Paused: the table keeps its snapshot while the header follows the program.
    key(&mut app, ' ');
    assert!(app.paused);
    go_on.send(()).unwrap();
    wait_until(&live, "the end", |d| d.ended);
    server.join().unwrap();
    app.refresh(&live.lock());
    assert_eq!(app.heap, 4500);
    assert_eq!(app.rows[1].total, 3000, "paused table");
    assert!(screen(&mut app).contains("Table updates paused"));
    key(&mut app, ' ');
    assert!(!app.paused);
    app.refresh(&live.lock());
    assert_eq!(
        (app.rows[1].function.as_str(), app.rows[1].total),
        ("grow", 4000)
    );
    // Pausing a view whose program has gone does nothing.
    key(&mut app, ' ');
    assert!(!app.paused);

    // The end is reported, with the tracker's figures.
    {
        let d = live.lock();
        assert!(d.ended && d.complete && d.error.is_none());
        assert_eq!(d.end_time_ms, Some(START_MS + 3000));
        assert_eq!(d.elapsed_ms(), 3000);
        assert_eq!(d.peak(), 5500);
        assert_eq!(d.heap_history(10), vec![3500, 4500]);
    }
    assert!(!live.is_active());
    let text = screen(&mut app);
    assert!(text.contains("Remote has disconnected"), "{text}");
    assert!(
        text.contains("The program has exited or stopped tracking"),
        "{text}"
    );
    assert!(text.contains("Duration: 3.0 seconds"), "{text}");
    app.exit_status = Some("exit code 0".into());
    let text = screen(&mut app);
    assert!(
        text.contains("Status: Remote has disconnected (exit code 0)"),
        "{text}"
    );
    assert!(text.contains("The program has exited"), "{text}");
    // No Pause key once the program has gone.
    assert!(!text.lines().last().unwrap().contains("Pause"), "{text}");

    assert_eq!(key(&mut app, 'q'), Action::Quit);
}

#[test]
fn scrolling_stays_within_the_rows() {
    let mut app = App::new(1, "x".into());
    app.page = 5;
    for i in 0..12 {
        app.rows.push(memray_tools::live::app::Row {
            function: format!("f{i}"),
            file: "a.py".into(),
            line: 1,
            total: 100 - i,
            own: 0,
            count: 1,
        });
    }
    let press = |app: &mut App, code| app.handle_key(KeyEvent::from(code));
    press(&mut app, KeyCode::Down);
    assert_eq!(app.offset, 1);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.offset, 6);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.offset, 7, "the last page ends at the last row");
    press(&mut app, KeyCode::Up);
    assert_eq!(app.offset, 6);
    press(&mut app, KeyCode::PageUp);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.offset, 0);
    press(&mut app, KeyCode::End);
    assert_eq!(app.offset, 7);
    press(&mut app, KeyCode::Home);
    assert_eq!(app.offset, 0);
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Quit);
}

#[test]
fn a_capture_cut_short_ends_the_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut w = CaptureWriter::new(stream, &header(), WriterOptions::default()).unwrap();
        ev(&mut w, AllocatorType::Malloc, 1, 0x10, 64, 0);
        w.flush_chunk().unwrap();
        // Gone without a footer (killed).
    });
    let live = Live::start(connect_loopback(port).unwrap()).unwrap();
    server.join().unwrap();
    wait_until(&live, "the end", |d| d.ended);
    let d = live.lock();
    assert!(!d.complete && d.error.is_none());
    assert_eq!(d.heap(), 64);
    let mut app = App::new(1, String::new());
    app.refresh(&d);
    // No Python frame: Memray's `???` row.
    assert_eq!(names(&app), vec!["???"]);
}
