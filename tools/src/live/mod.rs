//! `memray-live` (`memray live PORT`) and the view of `memray run --live`: a terminal UI over a
//! capture streamed by a running program. The stream is read on a background thread by the
//! shared live state of the analysis crate ([`memray_analysis::live`]); this module connects,
//! draws it about once a second and handles the keys. [`args`] is the command line, [`app`]
//! the state of the view and its keys, [`view`] the drawing.

pub mod app;
pub mod args;
pub mod view;

use std::io::{self, Stdout};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::{self, Event};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use memray_analysis::live::{connect_loopback, Live};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::common::cli;
use app::{Action, App};
pub use args::Args;

/// How often the view takes a new snapshot.
pub const REFRESH: Duration = Duration::from_secs(1);
/// How long to wait between attempts to connect.
const RETRY: Duration = Duration::from_millis(100);

/// The program `memray-live PORT`: connects to a program tracked with
/// `memray run --live-remote` and shows its live heap until the user quits.
pub fn main(args: Args) -> ExitCode {
    // Memray's words, alone on the line.
    let port = match check_port(args.port) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    cli::run("memray-live", || {
        let stream = connect(port, || Ok(()))?;
        let live_state =
            Live::start(stream).with_context(|| format!("could not read from port {port}"))?;
        run(&live_state, Options::default())
    })
}

/// Tells what a bad port is, as Memray does (`Invalid port: N`).
pub fn check_port(port: i64) -> Result<u16> {
    u16::try_from(port)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| anyhow::anyhow!("Invalid port: {port}"))
}

/// Connects to `port` on the loopback interface, trying again until something listens there.
/// `keep_waiting` is asked between attempts; its error ends the wait.
pub fn connect(port: u16, mut keep_waiting: impl FnMut() -> Result<()>) -> Result<TcpStream> {
    loop {
        if let Ok(s) = connect_loopback(port) {
            return Ok(s);
        }
        keep_waiting()?;
        std::thread::sleep(RETRY);
    }
}

/// What the view shows besides the stream.
#[derive(Default)]
pub struct Options<'a> {
    /// Called about once a second: how the program exited (`exit code 0`), once it has
    /// (`memray run --live` knows; `memray live` does not).
    pub on_tick: Option<Box<dyn FnMut() -> Option<String> + 'a>>,
}

/// Memray shows `memray` for the path of its own program at the head of a command line.
fn display_command_line(cmd: &str) -> String {
    if cmd.is_empty() {
        return "???".to_string();
    }
    let mut words: Vec<&str> = cmd.split(' ').collect();
    if words[0].ends_with("/memray") || words[0].ends_with("/memray/__main__.py") {
        words[0] = "memray";
    }
    words.join(" ")
}

/// The terminal in raw mode on the alternate screen; put back as it was when dropped (and on
/// a panic).
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
}

impl Screen {
    fn enter() -> Result<Screen> {
        terminal::enable_raw_mode().context("cannot use the terminal")?;
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            hook(info);
        }));
        execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok(Screen { terminal })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn clock() -> String {
    chrono::Local::now()
        .format("%a %b %e %H:%M:%S %Y")
        .to_string()
}

/// Shows the live view of `live` until the user quits.
pub fn run(live: &Live, mut opts: Options<'_>) -> Result<()> {
    let mut app = App::new(
        live.header.pid,
        display_command_line(&live.header.command_line),
    );
    app.sample_every = live.header.sample_every;
    let mut screen = Screen::enter()?;
    let mut next_tick = Instant::now();
    let mut dirty = true;
    let mut final_refresh_done = false;
    loop {
        if Instant::now() >= next_tick {
            if let Some(tick) = opts.on_tick.as_mut() {
                if let Some(s) = tick() {
                    app.exit_status = Some(s);
                }
            }
            // Once the program has gone, the last view stays as it is.
            if !final_refresh_done {
                let d = live.lock();
                final_refresh_done = d.ended;
                app.refresh(&d);
            }
            next_tick = Instant::now() + REFRESH;
            dirty = true;
        }
        if dirty {
            let now = clock();
            screen.terminal.draw(|f| view::draw(f, &mut app, &now))?;
            dirty = false;
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        if !event::poll(wait)? {
            continue;
        }
        match event::read()? {
            Event::Key(k) => match app.handle_key(k) {
                Action::Quit => break,
                Action::None => {}
                Action::Redraw => dirty = true,
                Action::Rebuild => {
                    app.rebuild(&live.lock());
                    dirty = true;
                }
            },
            Event::Resize(..) => dirty = true,
            _ => {}
        }
    }
    drop(screen);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(check_port(8080).unwrap(), 8080);
        for bad in [0, -1, 65536, 1 << 40] {
            assert_eq!(
                check_port(bad).unwrap_err().to_string(),
                format!("Invalid port: {bad}")
            );
        }
    }

    #[test]
    fn memray_program_path_shortened() {
        assert_eq!(
            display_command_line("/venv/bin/memray run --live x.py"),
            "memray run --live x.py"
        );
        assert_eq!(
            display_command_line("/venv/lib/memray/__main__.py run x.py"),
            "memray run x.py"
        );
        assert_eq!(display_command_line("python x.py"), "python x.py");
        assert_eq!(display_command_line(""), "???");
    }
}
