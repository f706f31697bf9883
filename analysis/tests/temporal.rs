//! The temporal analyses on a hand-made capture with known intervals: interval peaks, each
//! location's value at those peaks, and allocation lifetimes.

use memray_analysis::{analyze, ReplayOptions};
use memray_format::*;

fn ev(allocator: AllocatorType, address: u64, size: u64, stack: u32) -> Event {
    Event {
        allocator,
        thread: 1,
        address,
        size,
        stack,
        native_stack: 0,
    }
}

#[test]
fn interval_peaks_runs_and_lifetimes() {
    use AllocatorType::*;
    let header = Header {
        main_thread_id: 1,
        ..Default::default()
    };
    let mut w = CaptureWriter::new(Vec::new(), &header, WriterOptions::default()).unwrap();
    w.define_code(&CodeDef {
        function: "f".into(),
        filename: "a.py".into(),
        first_line: 1,
    })
    .unwrap();
    let s1 = w
        .define_node(&StackNode {
            parent: 0,
            code: 0,
            line: 2,
            entry: true,
        })
        .unwrap();
    let s2 = w
        .define_node(&StackNode {
            parent: 0,
            code: 0,
            line: 3,
            entry: true,
        })
        .unwrap();
    // Interval 0: peak 150 with s1=100, s2=50.
    w.event(&ev(Malloc, 0xa, 100, s1)).unwrap();
    w.event(&ev(Malloc, 0xb, 50, s2)).unwrap();
    w.event(&ev(Free, 0xa, 0, 0)).unwrap();
    w.memory_sample(&MemorySample {
        time_ms: 10,
        rss: 1,
    })
    .unwrap();
    // Interval 1: peak 80 with s1=30, s2=50.
    w.event(&ev(Malloc, 0xc, 30, s1)).unwrap();
    w.memory_sample(&MemorySample {
        time_ms: 20,
        rss: 1,
    })
    .unwrap();
    // Interval 2: nothing happens; the peak is the heap it started with.
    let bytes = w.finish(30).unwrap();
    let mut c = Capture::File(CaptureFile::from_vec(bytes).unwrap());
    let a = analyze(
        &mut c,
        ReplayOptions {
            temporal_peaks: true,
            lifetimes: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(a.interval_peaks, vec![150, 80, 80]);
    let loc = |stack: u32| {
        a.locations
            .iter()
            .position(|(k, _)| k.stack == stack)
            .unwrap()
    };
    assert_eq!(a.interval_runs[loc(s1)], vec![(0, 100, 1), (1, 30, 1)]);
    assert_eq!(a.interval_runs[loc(s2)], vec![(0, 50, 1)]);
    let lt: Vec<(usize, u32, Option<u32>, u64)> = a
        .lifetimes
        .iter()
        .map(|l| (l.location as usize, l.allocated_in, l.freed_in, l.bytes))
        .collect();
    assert!(lt.contains(&(loc(s1), 0, Some(0), 100)));
    assert!(lt.contains(&(loc(s2), 0, None, 50)));
    assert!(lt.contains(&(loc(s1), 1, None, 30)));
    assert_eq!(lt.len(), 3);
}
