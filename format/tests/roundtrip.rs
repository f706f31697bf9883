//! Round trips of every record kind through the writer and both readers, and the reader's
//! behaviour on truncated, corrupt and foreign input.

use memray_format::chunk::Chunk;
use memray_format::*;
use proptest::prelude::*;

fn header() -> Header {
    Header {
        pid: 4242,
        main_thread_id: 1,
        start_time_ms: 1_700_000_000_000,
        command_line: "python3 prog.py --flag".into(),
        python_version: "3.11.7".into(),
        python_allocator: "pymalloc".into(),
        native_traces: true,
        trace_python_allocators: true,
        follow_fork: false,
        file_format: FileFormat::AllAllocations,
        memory_interval_ms: 10,
        main_thread_skipped_frames: 4,
        stdlib_dir: "/usr/lib/python3.11".into(),
        site_packages: vec!["/venv/lib/python3.11/site-packages".into()],
        sys_path: vec!["/work".into(), "/usr/lib/python3.11".into()],
        parent_pid: 77,
        sample_every: 524_288,
    }
}

/// Writes a small capture with every record kind; returns the bytes.
fn sample(compress: impl Into<Compress>, chunk_size: usize) -> Vec<u8> {
    let compression = compress.into().0;
    let mut w = CaptureWriter::new(
        Vec::new(),
        &header(),
        WriterOptions {
            compression,
            chunk_size,
        },
    )
    .unwrap();
    let f = w
        .define_code(&CodeDef {
            function: "f".into(),
            filename: "a.py".into(),
            first_line: 3,
        })
        .unwrap();
    let g = w
        .define_code(&CodeDef {
            function: "g".into(),
            filename: "b.py".into(),
            first_line: 10,
        })
        .unwrap();
    let n1 = w
        .define_node(&StackNode {
            parent: 0,
            code: f,
            line: 5,
            entry: true,
        })
        .unwrap();
    let n2 = w
        .define_node(&StackNode {
            parent: n1,
            code: g,
            line: 12,
            entry: true,
        })
        .unwrap();
    let nat = w
        .define_native_node(&NativeNode {
            parent: 0,
            ip: 0x7f00_0000_1234,
        })
        .unwrap();
    w.thread_name(&ThreadName {
        thread: 1,
        name: "MainThread".into(),
    })
    .unwrap();
    w.image(&ImageMap {
        path: "/lib/libc.so.6".into(),
        load_address: 0x7f00_0000_0000,
        segments: vec![(0, 4096), (8192, 100)],
        build_id: vec![0xde, 0xad, 0xbe, 0xef],
    })
    .unwrap();
    w.memory_sample(&MemorySample {
        time_ms: 1_700_000_000_005,
        rss: 1 << 20,
    })
    .unwrap();
    for i in 0..200u64 {
        let e = Event {
            allocator: AllocatorType::Malloc,
            thread: 1 + (i % 2) as u32,
            address: 0x1000 + i * 64,
            size: 100 + i,
            stack: if i % 3 == 0 { n1 } else { n2 },
            native_stack: if i % 5 == 0 { nat } else { 0 },
        };
        w.event(&e).unwrap();
        if i % 2 == 0 {
            w.event(&Event {
                allocator: AllocatorType::Free,
                size: 0,
                stack: 0,
                native_stack: 0,
                ..e
            })
            .unwrap();
        }
    }
    w.event(&Event {
        allocator: AllocatorType::Mmap,
        thread: 1,
        address: 0x7000_0000,
        size: 3 * 4096,
        stack: n2,
        native_stack: 0,
    })
    .unwrap();
    w.event(&Event {
        allocator: AllocatorType::Munmap,
        thread: 1,
        address: 0x7000_1000,
        size: 4096,
        stack: 0,
        native_stack: 0,
    })
    .unwrap();
    w.images_reset().unwrap();
    w.finish(1_700_000_000_999).unwrap()
}

fn all_chunks(bytes: Vec<u8>) -> (Vec<Chunk>, Option<Trailer>) {
    let f = CaptureFile::from_vec(bytes).unwrap();
    let mut out = Vec::new();
    f.for_each_chunk(|c| {
        out.push(c);
        Ok(())
    })
    .unwrap();
    (out, f.trailer)
}

#[test]
fn every_record_kind_round_trips() {
    for compress in [Compression::None, Compression::Lz4, Compression::Zstd(1)] {
        for chunk_size in [16, 64, 1 << 20] {
            let bytes = sample(compress, chunk_size);
            let (chunks, trailer) = all_chunks(bytes.clone());
            let trailer = trailer.expect("complete capture has a trailer");
            assert_eq!(trailer.end_time_ms, 1_700_000_000_999);
            assert_eq!(trailer.n_allocations, 201);
            assert_eq!(trailer.n_deallocations, 101);
            assert_eq!(trailer.n_codes, 2);
            assert_eq!(trailer.n_nodes, 2);
            let events: Vec<Event> = chunks.iter().flat_map(|c| c.events.clone()).collect();
            assert_eq!(events.len(), 302);
            assert_eq!(events[0].address, 0x1000);
            assert_eq!(events[0].native_stack, 1);
            assert_eq!(events[1].allocator, AllocatorType::Free);
            let last = events.last().unwrap();
            assert_eq!(
                (last.allocator, last.address, last.size),
                (AllocatorType::Munmap, 0x7000_1000, 4096)
            );
            let codes: Vec<_> = chunks.iter().flat_map(|c| c.codes.clone()).collect();
            assert_eq!(codes[1].function, "g");
            let nodes: Vec<_> = chunks.iter().flat_map(|c| c.nodes.clone()).collect();
            assert_eq!(
                nodes[1],
                StackNode {
                    parent: 1,
                    code: 1,
                    line: 12,
                    entry: true,
                }
            );
            let natives: Vec<_> = chunks.iter().flat_map(|c| c.native_nodes.clone()).collect();
            assert_eq!(natives[0].ip, 0x7f00_0000_1234);
            let images: Vec<_> = chunks.iter().flat_map(|c| c.images.clone()).collect();
            assert_eq!(images.len(), 2);
            assert_eq!(
                images[0].as_ref().unwrap().segments,
                vec![(0, 4096), (8192, 100)]
            );
            assert!(images[1].is_none());
            let names: Vec<_> = chunks.iter().flat_map(|c| c.thread_names.clone()).collect();
            assert_eq!(names[0].name, "MainThread");
            let samples: Vec<_> = chunks.iter().flat_map(|c| c.samples.clone()).collect();
            assert_eq!(samples[0].1.rss, 1 << 20);

            // The stream reader sees the same chunks.
            let mut s = StreamReader::new(&bytes[..]).unwrap();
            assert_eq!(s.header, header());
            let mut streamed = Vec::new();
            while let Some(c) = s.next_chunk().unwrap() {
                streamed.push(c);
            }
            assert_eq!(streamed, chunks);
            assert!(s.is_complete());
        }
    }
}

#[test]
fn header_round_trips() {
    let f = CaptureFile::from_vec(sample(true, 1 << 20)).unwrap();
    assert_eq!(f.header, header());
}

#[test]
fn truncation_at_every_offset_never_panics() {
    let bytes = sample(true, 64);
    let full = all_chunks(bytes.clone()).0;
    let total_events: usize = full.iter().map(|c| c.events.len()).sum();
    for cut in 0..bytes.len() {
        let part = bytes[..cut].to_vec();
        if let Ok(f) = CaptureFile::from_vec(part.clone()) {
            assert!(!f.is_complete() || cut == bytes.len());
            let mut n = 0;
            let r = f.for_each_chunk(|c| {
                n += c.events.len();
                Ok(())
            });
            assert!(r.is_ok(), "cut at {cut}: {r:?}");
            assert!(n <= total_events);
        }
        if let Ok(mut s) = StreamReader::new(&part[..]) {
            while let Ok(Some(_)) = s.next_chunk() {}
            assert!(!s.is_complete());
        }
    }
}

#[test]
fn a_cut_short_capture_keeps_its_complete_chunks() {
    let bytes = sample(false, 64);
    let f = CaptureFile::from_vec(bytes.clone()).unwrap();
    let n_chunks = f.chunks.len();
    assert!(n_chunks > 3);
    // Cut in the middle of the last-but-one chunk: everything before it survives.
    let cut = f.chunks[n_chunks - 2].offset as usize + 40;
    let g = CaptureFile::from_vec(bytes[..cut].to_vec()).unwrap();
    assert!(!g.is_complete());
    assert_eq!(g.chunks.len(), n_chunks - 2);
}

#[test]
fn wrong_magic_and_version_are_rejected_clearly() {
    let err = CaptureFile::from_vec(b"PK\x03\x04 this is a zip".to_vec()).unwrap_err();
    assert_eq!(err.to_string(), "not a memray capture (wrong magic number)");
    let err = CaptureFile::from_vec(Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "the file is empty, not a memray capture");
    let mut bytes = sample(true, 1 << 20);
    bytes[8] = 9;
    let err = CaptureFile::from_vec(bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported capture format version 9 (this reader supports versions 1 to 3)"
    );
}

#[test]
fn a_corrupt_chunk_in_a_complete_capture_is_an_error() {
    let mut bytes = sample(false, 1 << 20);
    let f = CaptureFile::from_vec(bytes.clone()).unwrap();
    let at = f.chunks[0].offset as usize + 50;
    bytes[at] ^= 0xff;
    let f = CaptureFile::from_vec(bytes).unwrap();
    let err = f.for_each_chunk(|_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_corruption_never_panics(pos in 0usize..4000, val in any::<u8>(), compress in any::<bool>()) {
        let mut bytes = sample(compress, 64);
        let p = pos % bytes.len();
        bytes[p] = val;
        if let Ok(f) = CaptureFile::from_vec(bytes.clone()) {
            let _ = f.for_each_chunk(|_| Ok(()));
        }
        if let Ok(mut s) = StreamReader::new(&bytes[..]) {
            while let Ok(Some(_)) = s.next_chunk() {}
        }
    }

    #[test]
    fn random_payloads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), compress in any::<bool>()) {
        // A valid prefix and chunk header in front of random payload bytes.
        let mut bytes = sample(compress, 1 << 20);
        let f = CaptureFile::from_vec(bytes.clone()).unwrap();
        let start = f.chunks[0].offset as usize;
        bytes.truncate(start);
        let h = memray_format::chunk::ChunkHeader {
            flags: u8::from(compress),
            stored_len: data.len() as u32,
            raw_len: if compress { 1000 } else { data.len() as u32 },
            n_events: 3,
            crc32: crc32fast_hash(&data),
            ..Default::default()
        };
        bytes.extend_from_slice(&h.encode());
        bytes.extend_from_slice(&data);
        if let Ok(f) = CaptureFile::from_vec(bytes) {
            let _ = f.for_each_chunk(|_| Ok(()));
        }
    }
}

fn crc32fast_hash(d: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(d);
    h.finalize()
}

/// Lets tests say `true`/`false` (zstd or none) or name a compression.
struct Compress(Compression);

impl From<bool> for Compress {
    fn from(b: bool) -> Self {
        Compress(if b {
            Compression::Zstd(1)
        } else {
            Compression::None
        })
    }
}

impl From<Compression> for Compress {
    fn from(c: Compression) -> Self {
        Compress(c)
    }
}

fn arb_event() -> impl Strategy<Value = Event> {
    (
        0usize..15,
        1u32..4,
        prop_oneof![0u64..64, any::<u64>()],
        prop_oneof![Just(32u64), 0u64..100_000],
        0u32..3,
    )
        .prop_map(|(a, thread, addr, size, stack)| {
            let allocator = AllocatorType::ALL[a];
            let dealloc = allocator.is_deallocator();
            Event {
                allocator,
                thread,
                address: addr.wrapping_mul(16).wrapping_add(0x1000),
                size: if allocator == AllocatorType::Free
                    || allocator == AllocatorType::PymallocFree
                {
                    0
                } else {
                    size
                },
                stack: if dealloc { 0 } else { stack },
                native_stack: 0,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Any event stream (repeated addresses, repeated sizes, thread switches) reads back as written.
    #[test]
    fn random_event_streams_round_trip(events in proptest::collection::vec(arb_event(), 0..400), chunk in 8usize..2000) {
        let mut w = CaptureWriter::new(Vec::new(), &header(), WriterOptions { compression: Compression::Zstd(1), chunk_size: chunk }).unwrap();
        for _ in 0..3 {
            w.define_node(&StackNode { parent: 0, code: 0, line: 1, entry: true }).unwrap();
        }
        for e in &events {
            w.event(e).unwrap();
        }
        let bytes = w.finish(5).unwrap();
        let (chunks, _) = all_chunks(bytes);
        let back: Vec<Event> = chunks.into_iter().flat_map(|c| c.events).collect();
        prop_assert_eq!(back, events);
    }
}
