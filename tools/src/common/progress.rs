//! The progress bar of a report reading a large capture: drawn on stderr once reading has
//! taken more than a second (small captures never show it), and never when stderr is not a
//! terminal (pipes, files, tests).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long reading goes on before the bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// Runs `read`, handing it a callback to report the bytes read so far (and the capture's size,
/// when known), and shows the bar while it runs if it takes long enough.
pub fn reading<T>(read: impl FnOnce(&mut dyn FnMut(u64, Option<u64>)) -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return read(&mut |_, _| {});
    }
    let start = Instant::now();
    let mut bar: Option<ProgressBar> = None;
    let result = read(&mut |done, total| {
        if bar.is_none() && start.elapsed() >= DELAY {
            bar = Some(new_bar(total));
        }
        if let Some(b) = &bar {
            b.set_position(done);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result
}

fn new_bar(total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
            "reading the capture {wide_bar} {bytes}/{total_bytes} ({eta} left)",
        ),
        None => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{spinner} reading the capture: {bytes}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
