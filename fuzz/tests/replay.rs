//! Replays every input kept for the fuzz targets — the corpus (`corpus/<target>/`) and the
//! crashers and hangs found and minimized so far (`regressions/<target>/`) — through the same
//! target functions the fuzzer runs, so `make test` fails if any of them crashes or hangs
//! again.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// Longer than any input should take, even in a debug build on a loaded machine.
const HANG: Duration = Duration::from_secs(60);

#[test]
fn every_kept_input_runs_through_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ran = 0;
    for (name, target) in memray_fuzz::TARGETS {
        for kind in ["corpus", "regressions"] {
            let Ok(dir) = std::fs::read_dir(root.join(kind).join(name)) else {
                continue;
            };
            for entry in dir {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let (done, finished) = mpsc::channel();
                let worker = std::thread::spawn(move || {
                    target(&data);
                    let _ = done.send(());
                });
                match finished.recv_timeout(HANG) {
                    Ok(()) => {}
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        panic!("{} hung in target {name}", path.display())
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {}
                }
                assert!(
                    worker.join().is_ok(),
                    "{} crashed target {name}",
                    path.display()
                );
                ran += 1;
            }
        }
    }
    assert!(ran > 0, "no corpus found under {}", root.display());
}
