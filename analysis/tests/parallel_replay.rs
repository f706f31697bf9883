//! The parallel replay (chunks replayed on their own, then merged) gives exactly what the
//! sequential replay gives, on random event streams cut into many chunks: every figure of
//! every location, the peak, the leaks, the samples, the temporary allocations, the temporal
//! views, with one worker or several, from a file or a stream.

use std::io::Cursor;

use memray_analysis::{analyze, analyze_sequential, Analysis, ReplayOptions};
use memray_format::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// allocator index, thread, address slot, size, stack.
    Event(usize, u32, u64, u64, u32),
    /// An allocation at a new address, or a free of a live one (by index among the live).
    Fresh(bool, u32, usize, u64, u32),
    Sample(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..15, 1u32..4, 0u64..40, 0u64..5000, 0u32..8)
            .prop_map(|(a, t, addr, size, stack)| Op::Event(a, t, addr, size, stack)),
        // Few sizes, so that the heap often comes back to the same height (ties for the peak).
        6 => (any::<bool>(), 1u32..3, 0usize..64, 1u64..4, 0u32..8)
            .prop_map(|(alloc, t, i, size, stack)| Op::Fresh(alloc, t, i, size * 16, stack)),
        1 => any::<u64>().prop_map(Op::Sample),
    ]
}

/// Writes the ops as a capture with small chunks (stacks need no definitions to be told
/// apart) (`huge`: one allocation of nearly 2^64
/// bytes, so the sums saturate).
fn capture(ops: &[Op], chunk_size: usize, huge: bool) -> Vec<u8> {
    let header = Header {
        main_thread_id: 1,
        ..Default::default()
    };
    let opts = WriterOptions {
        chunk_size,
        ..Default::default()
    };
    let mut w = CaptureWriter::new(Vec::new(), &header, opts).unwrap();
    w.define_code(&CodeDef {
        function: "f".into(),
        filename: "a.py".into(),
        first_line: 1,
    })
    .unwrap();
    let mut next_fresh = 0u64;
    let mut live: Vec<u64> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let e = match *o {
            Op::Event(a, thread, addr, size, stack) => {
                let allocator = AllocatorType::ALL[a];
                let dealloc = allocator.is_deallocator();
                let free = matches!(allocator, AllocatorType::Free | AllocatorType::PymallocFree);
                Event {
                    allocator,
                    thread,
                    address: 0x1000 + addr * 64,
                    size: match (free, huge && i == ops.len() / 2) {
                        (true, _) => 0,
                        (false, true) => u64::MAX - 10,
                        (false, false) => size,
                    },
                    stack: if dealloc { 0 } else { stack },
                    native_stack: if dealloc { 0 } else { stack % 3 },
                }
            }
            Op::Fresh(true, thread, _, size, stack) => {
                next_fresh += 1;
                let address = 0x100_0000 + next_fresh * 16;
                live.push(address);
                Event {
                    allocator: AllocatorType::PymallocMalloc,
                    thread,
                    address,
                    size,
                    stack,
                    native_stack: 0,
                }
            }
            Op::Fresh(false, thread, i, _, _) => {
                if live.is_empty() {
                    continue;
                }
                let address = live.swap_remove(i % live.len());
                Event {
                    allocator: AllocatorType::PymallocFree,
                    thread,
                    address,
                    size: 0,
                    stack: 0,
                    native_stack: 0,
                }
            }
            Op::Sample(t) => {
                w.memory_sample(&MemorySample {
                    time_ms: t,
                    rss: t / 3,
                })
                .unwrap();
                continue;
            }
        };
        w.event(&e).unwrap();
    }
    w.finish(1).unwrap()
}

/// Every figure of two analyses, side by side (`LocStats` also holds bookkeeping that is
/// free to differ).
fn assert_same(a: &Analysis, b: &Analysis) -> std::result::Result<(), TestCaseError> {
    prop_assert_eq!(&a.header, &b.header);
    prop_assert_eq!(a.trailer, b.trailer);
    prop_assert_eq!(a.defs.codes.len(), b.defs.codes.len());
    let figures = |x: &Analysis| -> Vec<_> {
        x.locations
            .iter()
            .map(|(k, s)| {
                (
                    *k,
                    [
                        s.total_bytes,
                        s.total_count,
                        s.live_bytes,
                        s.live_count,
                        s.peak_bytes,
                        s.peak_count,
                        s.first_address,
                    ],
                )
            })
            .collect()
    };
    prop_assert_eq!(figures(a), figures(b));
    prop_assert_eq!(a.peak_memory, b.peak_memory);
    prop_assert_eq!(a.peak_event, b.peak_event);
    prop_assert_eq!(a.n_events, b.n_events);
    prop_assert_eq!(a.n_allocations, b.n_allocations);
    prop_assert_eq!(a.n_deallocations, b.n_deallocations);
    prop_assert_eq!(a.bytes_allocated, b.bytes_allocated);
    prop_assert_eq!(a.leaked_bytes, b.leaked_bytes);
    prop_assert_eq!(&a.size_counts, &b.size_counts);
    prop_assert_eq!(&a.snapshots, &b.snapshots);
    prop_assert_eq!(&a.threads, &b.threads);
    prop_assert_eq!(&a.temporary, &b.temporary);
    prop_assert_eq!(&a.interval_peaks, &b.interval_peaks);
    prop_assert_eq!(&a.interval_runs, &b.interval_runs);
    prop_assert_eq!(&a.lifetimes, &b.lifetimes);
    Ok(())
}

fn options(threshold: usize) -> [ReplayOptions; 3] {
    [
        ReplayOptions {
            size_counts: true,
            temporary_threshold: Some(threshold),
            temporal_peaks: true,
            lifetimes: true,
        },
        ReplayOptions::default(),
        ReplayOptions {
            temporary_threshold: Some(usize::MAX),
            ..Default::default()
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn parallel_replay_matches_sequential(
        ops in proptest::collection::vec(op(), 0..400),
        chunk_size in 20usize..400,
        threshold in 0usize..6,
        huge in proptest::bool::weighted(0.1),
    ) {
        let bytes = capture(&ops, chunk_size, huge);
        for opts in options(threshold) {
            let file = || Capture::File(CaptureFile::from_vec(bytes.clone()).unwrap());
            let expected = analyze_sequential(&mut file(), opts).unwrap();
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let got = pool.install(|| analyze(&mut file(), opts)).unwrap();
                assert_same(&expected, &got)?;
                let input: Box<dyn std::io::Read + Send> = Box::new(Cursor::new(bytes.clone()));
                let mut stream = Capture::Stream(Box::new(StreamReader::new(input).unwrap()));
                let got = pool.install(|| analyze(&mut stream, opts)).unwrap();
                assert_same(&expected, &got)?;
            }
        }
    }
}
