//! Sizes near 2^64 (a corrupt or hostile capture's): every analysis adds them up saturating at
//! `u64::MAX` instead of overflowing (a panic in builds with overflow checks, a wrapped total
//! otherwise), and the parallel replay still gives the sequential one's figures.

use memray_analysis::functions::by_function;
use memray_analysis::snapshot::{aggregate, Aggregate, View};
use memray_analysis::temporal_records::{allocation_records, high_water_mark_records};
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::{analyze, analyze_sequential, stats, Analysis, ReplayOptions};
use memray_format::*;

const MAX: u64 = u64::MAX;

const EVERY_OBSERVER: ReplayOptions = ReplayOptions {
    size_counts: true,
    temporary_threshold: Some(1),
    temporal_peaks: true,
    lifetimes: true,
};

fn event(allocator: AllocatorType, thread: u32, address: u64, size: u64, stack: u32) -> Event {
    Event {
        allocator,
        thread,
        address,
        size,
        stack,
        native_stack: 0,
    }
}

/// Three threads: a block of 2^64 - 1 bytes allocated and freed; three mappings at the top of
/// the address space (the last one reaching past its end), cut by two unmaps; then six blocks
/// of 2^64 - 1 - k bytes on distinct addresses, half under `make` (called by `main`), half
/// under `main` itself, with memory samples between them. Small chunks, so that the parallel
/// replay merges many.
fn capture() -> Vec<u8> {
    use AllocatorType::*;
    let header = Header {
        main_thread_id: 1,
        start_time_ms: 1_000,
        command_line: "python huge.py".into(),
        ..Header::default()
    };
    let opts = WriterOptions {
        compression: Compression::None,
        chunk_size: 64,
    };
    let mut w = CaptureWriter::new(Vec::new(), &header, opts).unwrap();
    let main = w
        .define_code(&CodeDef {
            function: "main".into(),
            filename: "huge.py".into(),
            first_line: 1,
        })
        .unwrap();
    let make = w
        .define_code(&CodeDef {
            function: "make".into(),
            filename: "huge.py".into(),
            first_line: 5,
        })
        .unwrap();
    let root = w
        .define_node(&StackNode {
            parent: 0,
            code: main,
            line: 3,
            entry: true,
        })
        .unwrap();
    let leaf = w
        .define_node(&StackNode {
            parent: root,
            code: make,
            line: 7,
            entry: true,
        })
        .unwrap();
    for thread in 2..=3 {
        w.thread_name(&ThreadName {
            thread,
            name: format!("worker-{thread}"),
        })
        .unwrap();
    }
    w.event(&event(Calloc, 1, 0x9000, MAX, root)).unwrap();
    w.event(&event(Free, 1, 0x9000, 0, 0)).unwrap();
    w.event(&event(Mmap, 1, MAX - 0x30_0000, 0x10_0000, leaf))
        .unwrap();
    w.event(&event(Mmap, 2, MAX - 0x20_0000, 0x10_0000, leaf))
        .unwrap();
    w.event(&event(Mmap, 3, MAX - 0x10_0000, MAX, leaf))
        .unwrap();
    w.event(&event(Munmap, 3, MAX - 0x8_0000, 0x1000, 0))
        .unwrap();
    w.event(&event(Munmap, 3, MAX - 0x10, MAX, 0)).unwrap();
    for k in 0..6u64 {
        w.memory_sample(&MemorySample {
            time_ms: 1_000 + 10 * k,
            rss: MAX - k,
        })
        .unwrap();
        let thread = 1 + (k % 3) as u32;
        let stack = if k % 2 == 0 { leaf } else { root };
        w.event(&event(Malloc, thread, 0x1000 * (k + 1), MAX - k, stack))
            .unwrap();
    }
    w.finish(2_000).unwrap()
}

fn analysis(parallel: bool) -> Analysis {
    let mut c = Capture::File(CaptureFile::from_vec(capture()).unwrap());
    if parallel {
        analyze(&mut c, EVERY_OBSERVER).unwrap()
    } else {
        analyze_sequential(&mut c, EVERY_OBSERVER).unwrap()
    }
}

fn sizes(groups: &[Aggregate], stack: u32) -> Vec<u64> {
    groups
        .iter()
        .filter(|g| g.stack == stack)
        .map(|g| g.size)
        .collect()
}

#[test]
fn sums_of_huge_sizes_saturate_in_every_analysis() {
    let a = analysis(true);
    let (root, leaf) = (1, 2);

    assert_eq!(a.n_allocations, 10);
    assert_eq!(a.n_deallocations, 3);
    assert_eq!(a.threads, vec![1, 2, 3]);
    assert_eq!(a.bytes_allocated, MAX);
    assert_eq!(a.peak_memory, MAX);
    assert_eq!(a.leaked_bytes, MAX);
    assert_eq!(a.size_counts.values().sum::<u64>(), 10);
    assert_eq!(a.size_counts[&MAX], 3);

    let s = stats::compute(&a, 5);
    assert_eq!(s.total_bytes_allocated, MAX);
    assert_eq!(s.max_size, Some(MAX));
    assert_eq!(s.histogram.iter().map(|b| b.count).sum::<u64>(), 10);
    assert_eq!(s.top_by_size[0].bytes, MAX);
    assert_eq!(s.modules_by_size[0].bytes, MAX);
    let by_allocator: u64 = s.allocator_distribution.iter().map(|(_, n)| n).sum();
    assert_eq!(by_allocator, 10);

    // The peak is the last allocation's state (every later state equal to it becomes it), so
    // both views hold the same: the mappings and the six blocks.
    for view in [View::Peak, View::Leaks, View::Temporary] {
        for merge in [true, false] {
            let groups = aggregate(&a, view, merge);
            for split_threads in [false, true] {
                for inverted in [false, true] {
                    let opts = TreeOptions {
                        split_threads,
                        inverted,
                    };
                    let tree = CallTree::build(&a, &groups, opts);
                    if view != View::Temporary {
                        assert_eq!(tree.total(), MAX, "{view:?} merged={merge} {opts:?}");
                    }
                    for n in &tree.nodes[1..] {
                        assert!(n.bytes <= tree.nodes[n.parent as usize].bytes);
                    }
                    let _ = tree.bounded(3);
                }
            }
            let rows = by_function(&a, &groups, 1.0);
            if view == View::Temporary {
                continue;
            }
            if merge {
                // Three blocks of nearly 2^64 bytes each, on three threads, in one group.
                assert_eq!(sizes(&groups, root), vec![MAX]);
                assert_eq!(sizes(&groups, leaf), vec![MAX]);
            } else {
                assert!(sizes(&groups, leaf).iter().all(|&b| b >= MAX - 0x10_0000));
            }
            let main = rows.iter().find(|r| r.function == "main").unwrap();
            assert_eq!(main.total_bytes, MAX);
            assert_eq!(main.own_bytes, MAX);
            let make = rows.iter().find(|r| r.function == "make").unwrap();
            assert_eq!(make.own_bytes, MAX);
        }
    }

    for merge in [true, false] {
        let (records, peaks) = high_water_mark_records(&a, merge, 0);
        assert_eq!(peaks.last(), Some(&MAX));
        if merge {
            let malloc_leaf = records
                .iter()
                .find(|r| r.key.stack == leaf && r.key.allocator == AllocatorType::Malloc as u8)
                .unwrap();
            assert_eq!(malloc_leaf.intervals.last().unwrap().n_bytes, MAX);
        }
        let records = allocation_records(&a, merge, 0);
        assert!(!records.is_empty());
    }
}

#[test]
fn the_parallel_replay_still_matches_the_sequential_one() {
    let (p, s) = (analysis(true), analysis(false));
    assert_eq!(p.locations, s.locations);
    assert_eq!(
        (
            p.peak_memory,
            p.peak_event,
            p.leaked_bytes,
            p.bytes_allocated
        ),
        (
            s.peak_memory,
            s.peak_event,
            s.leaked_bytes,
            s.bytes_allocated
        )
    );
    assert_eq!((p.n_events, p.n_allocations), (s.n_events, s.n_allocations));
    assert_eq!(p.size_counts, s.size_counts);
    assert_eq!(p.snapshots, s.snapshots);
    assert_eq!(p.interval_peaks, s.interval_peaks);
    assert_eq!(p.interval_runs, s.interval_runs);
    assert_eq!(p.lifetimes, s.lifetimes);
    assert_eq!(p.temporary, s.temporary);
}
