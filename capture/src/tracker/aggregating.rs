//! The aggregating record writer (`--aggregate`, `FileFormat::AggregatedAllocations`): events
//! are summed per location in the process instead of being written; the capture gets heap
//! samples while tracking, and every location's figures and the totals when it finishes.

use std::io;

use memray_analysis::replay::Replay;
use memray_format::records::*;

use super::now_ms;
use super::record_writer::StreamingWriter;

pub struct AggregatingWriter {
    /// Where the definitions, samples and, at the end, the sums go.
    out: StreamingWriter,
    sums: Replay,
}

impl AggregatingWriter {
    /// `sample_every`: a sampled capture's rate, so that each location's counts are the
    /// allocations its sampled ones stand for.
    pub(super) fn new(out: StreamingWriter, sample_every: u64) -> AggregatingWriter {
        let mut sums = Replay::new(Default::default());
        sums.set_sample_every(sample_every);
        AggregatingWriter { out, sums }
    }

    #[inline]
    pub(super) fn output(&mut self) -> &mut StreamingWriter {
        &mut self.out
    }

    #[inline]
    pub(super) fn event(&mut self, e: &Event) {
        self.sums.push_event(e);
    }

    /// Records the resident size with the heap's size so far.
    pub(super) fn memory_sample(&mut self, rss: u64) {
        let heap = self.sums.heap();
        if self.out.ok() {
            self.out.encoder().heap_sample(&HeapSample {
                time_ms: now_ms(),
                rss,
                heap,
            });
            self.out.seal_if_full();
        }
    }

    /// Writes what the aggregation summed up (every location's figures, then the totals) and
    /// finishes the capture.
    pub(super) fn finish(self, header: &Header) -> io::Result<()> {
        let AggregatingWriter { mut out, sums } = self;
        if out.ok() {
            let a = sums.finish(Default::default(), header.clone(), None);
            for (key, st) in &a.locations {
                out.encoder().aggregate(&AggregateRecord {
                    thread: key.thread,
                    allocator: key.allocator,
                    stack: key.stack,
                    native_stack: key.native_stack,
                    peak_bytes: st.peak_bytes,
                    peak_count: st.peak_count,
                    leaked_bytes: st.live_bytes,
                    leaked_count: st.live_count,
                    total_bytes: st.total_bytes,
                    total_count: st.total_count,
                });
                out.seal_if_full();
            }
            out.encoder().aggregate_totals(&AggregateTotals {
                peak_memory: a.peak_memory,
                n_allocations: a.n_allocations,
                n_deallocations: a.n_deallocations,
                bytes_allocated: a.bytes_allocated,
            });
        }
        out.finish()
    }
}
