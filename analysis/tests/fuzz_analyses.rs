//! Bounded fuzzing of every shared analysis (run by `make test`): random event streams and
//! random bytes after a valid header never make an analysis panic, and the replay's books
//! balance (what is live at the end equals what was allocated minus what was freed).

use memray_analysis::functions::by_function;
use memray_analysis::snapshot::{aggregate, View};
use memray_analysis::stats;
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::{analyze, Analysis, ReplayOptions};
use memray_format::*;
use proptest::prelude::*;

fn all_options() -> ReplayOptions {
    ReplayOptions {
        size_counts: true,
        temporary_threshold: Some(2),
        temporal_peaks: true,
        lifetimes: true,
    }
}

/// Runs every analysis a report can ask for.
fn exercise(a: &Analysis) {
    let _ = stats::compute(a, 5);
    for view in [View::Peak, View::Leaks, View::Temporary] {
        for merge in [true, false] {
            let groups = aggregate(a, view, merge);
            let _ = by_function(a, &groups, 0.95);
            for split in [false, true] {
                for inverted in [false, true] {
                    let t = CallTree::build(
                        a,
                        &groups,
                        TreeOptions {
                            split_threads: split,
                            inverted,
                        },
                    );
                    let _ = t.bounded(5);
                }
            }
        }
    }
}

fn header() -> Header {
    Header {
        main_thread_id: 1,
        main_thread_skipped_frames: 1,
        ..Default::default()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Event(usize, u32, u64, u64, u32),
    Sample(u64),
    Node(u32, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..15, 1u32..4, 0u64..40, 0u64..5000, 0u32..8)
            .prop_map(|(a, t, addr, size, stack)| Op::Event(a, t, addr, size, stack)),
        1 => any::<u64>().prop_map(Op::Sample),
        1 => (0u32..4, 0u32..30).prop_map(|(p, l)| Op::Node(p, l)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_streams_never_panic_and_balance(ops in proptest::collection::vec(op(), 0..300)) {
        let mut w = CaptureWriter::new(Vec::new(), &header(), WriterOptions { chunk_size: 97, ..Default::default() }).unwrap();
        w.define_code(&CodeDef { function: "f".into(), filename: "a.py".into(), first_line: 1 }).unwrap();
        let mut nodes = 0u32;
        for o in &ops {
            match *o {
                Op::Event(a, thread, addr, size, stack) => {
                    let allocator = AllocatorType::ALL[a];
                    let dealloc = allocator.is_deallocator();
                    let e = Event {
                        allocator,
                        thread,
                        address: 0x1000 + addr * 64,
                        size: if matches!(allocator, AllocatorType::Free | AllocatorType::PymallocFree) { 0 } else { size },
                        stack: if dealloc { 0 } else { stack.min(nodes) },
                        native_stack: 0,
                    };
                    w.event(&e).unwrap();
                }
                Op::Sample(t) => w.memory_sample(&MemorySample { time_ms: t, rss: t / 3 }).unwrap(),
                Op::Node(p, line) => {
                    let parent = p.min(nodes);
                    w.define_node(&StackNode { parent, code: 0, line, entry: true }).unwrap();
                    nodes += 1;
                }
            }
        }
        let bytes = w.finish(1).unwrap();
        let mut c = Capture::File(CaptureFile::from_vec(bytes).unwrap());
        let a = analyze(&mut c, all_options()).unwrap();
        // The books balance: the live figures of all locations add up to the leaked bytes.
        let live: u64 = a.locations.iter().map(|(_, s)| s.live_bytes).sum();
        prop_assert_eq!(live, a.leaked_bytes);
        let peak_sum: u64 = a.locations.iter().map(|(_, s)| s.peak_bytes).sum();
        prop_assert_eq!(peak_sum, a.peak_memory);
        prop_assert!(a.leaked_bytes <= a.peak_memory);
        exercise(&a);
    }

    #[test]
    fn random_records_never_panic(tail in proptest::collection::vec(prop_oneof![any::<u8>(), 0x80u8..0x90, 1u8..12], 0..600)) {
        let mut bytes = CaptureWriter::new(Vec::new(), &header(), WriterOptions::default()).unwrap().finish(1).unwrap();
        // Keep the file prefix and header, replace everything after with random bytes.
        let header_len = memray_format::file_layout::FILE_PREFIX_LEN
            + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        bytes.truncate(header_len);
        // One uncompressed chunk whose checksum holds, so the random records get decoded.
        let h = memray_format::chunk::ChunkHeader {
            stored_len: tail.len() as u32,
            raw_len: tail.len() as u32,
            n_events: tail.iter().filter(|&&b| b >= 0x80).count() as u32,
            crc32: crc32fast::hash(&tail),
            ..Default::default()
        };
        bytes.extend_from_slice(&h.encode());
        bytes.extend_from_slice(&tail);
        if let Ok(f) = CaptureFile::from_vec(bytes) {
            let mut c = Capture::File(f);
            if let Ok(a) = analyze(&mut c, all_options()) {
                exercise(&a);
            }
        }
    }
}
