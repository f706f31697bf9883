//! Byte-based Poisson sampling (`--sample-every R`): which allocations a capture records, the
//! bytes each recorded one stands for, and whether a free concerns a recorded block.
//!
//! Every thread counts down an exponentially distributed number of bytes (mean R); the
//! allocation during which the count runs out is recorded, and the count is drawn again. So an
//! allocation of `s` bytes is recorded with probability `p = 1 - exp(-s/R)`, independently of
//! every other (the exponential has no memory), as in tcmalloc and Go. It is written with
//! `s / p` bytes, which makes every sum the reports make an unbiased estimate.
//!
//! The countdown lives in C thread-locals (csrc/common.c): the allocation that is not recorded
//! costs one subtraction. A free is recorded only for a recorded block, found in the capture's
//! set of sampled addresses ([`super::tracker::State`]); in front of that set, a fixed table of
//! counters indexed by a hash of the address answers "certainly not sampled" for almost every
//! free without a lock, and does not grow with the heap.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

extern "C" {
    fn memray_sample_skip(size: u64) -> i32;
    fn memray_sample_state(left: *mut *mut u64, rng: *mut *mut u64, gen: *mut *mut u32);
    /// Bumped at every start: a thread whose words were drawn for another one draws again.
    static memray_sample_generation: AtomicU32;
}

/// True while the capture being written is sampled.
pub static SAMPLING: AtomicBool = AtomicBool::new(false);
/// Mean bytes between two sampled bytes (0: not sampling).
static RATE: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);

/// Counters of sampled live blocks by address hash: 0 means no sampled block can be there.
const FILTER_BITS: u32 = 16;
static FILTER: [AtomicU32; 1 << FILTER_BITS] = [const { AtomicU32::new(0) }; 1 << FILTER_BITS];

/// Starts sampling one allocated byte in `rate` (0: record everything), with this seed (None:
/// a fresh one). Called before tracking starts, while no hook records.
pub fn start(rate: u64, seed: Option<u64>) {
    for c in FILTER.iter() {
        c.store(0, Relaxed);
    }
    RATE.store(rate, Relaxed);
    SEED.store(seed.unwrap_or_else(fresh_seed), Relaxed);
    // SAFETY: an atomic defined in csrc/common.c.
    unsafe { memray_sample_generation.fetch_add(1, Relaxed) };
    SAMPLING.store(rate != 0, Relaxed);
}

/// Stops sampling (tracking has stopped).
pub fn stop() {
    SAMPLING.store(false, Relaxed);
}

/// For an allocation of `size` bytes while sampling: None when it is not recorded, else the
/// number of bytes it stands for.
#[inline(always)]
pub fn sampled(size: usize) -> Option<u64> {
    let size = size as u64;
    // SAFETY: reads and writes only the calling thread's own words.
    if unsafe { memray_sample_skip(size) } != 0 {
        return None;
    }
    decide(size)
}

/// The slow path: the countdown ran out during this allocation (or the thread has not drawn
/// one for this capture yet).
#[cold]
#[inline(never)]
fn decide(size: u64) -> Option<u64> {
    let rate = RATE.load(Relaxed);
    if rate == 0 {
        return Some(size);
    }
    let (mut left, mut rng, mut gen) = (
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    // SAFETY: the pointers are set to the calling thread's thread-locals, which only this
    // thread touches and which live as long as it does.
    let (left, rng, gen) = unsafe {
        memray_sample_state(&mut left, &mut rng, &mut gen);
        (&mut *left, &mut *rng, &mut *gen)
    };
    // SAFETY: an atomic defined in csrc/common.c.
    let current = unsafe { memray_sample_generation.load(Relaxed) };
    if *gen != current {
        *gen = current;
        *rng = thread_seed(SEED.load(Relaxed), crate::tracker::current_tid());
        *left = draw(rng, rate);
        if size < *left {
            *left -= size;
            return None;
        }
    }
    *left = draw(rng, rate);
    Some(memray_format::sampling::weight(size, rate))
}

/// An exponentially distributed count of bytes with mean `rate`, at least 1.
fn draw(rng: &mut u64, rate: u64) -> u64 {
    // Uniform in (0, 1]: never 0, so the logarithm is finite.
    let u = ((next(rng) >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
    let x = -u.ln() * rate as f64;
    (x.ceil() as u64).max(1)
}

/// xorshift64*: small and fast; the state is never 0.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Thread `tid`'s generator state for a capture seeded with `seed`.
fn thread_seed(seed: u64, tid: u32) -> u64 {
    splitmix(seed ^ splitmix(u64::from(tid))).max(1)
}

fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    splitmix(nanos ^ (u64::from(std::process::id()) << 32))
}

#[inline(always)]
fn slot(address: usize) -> &'static AtomicU32 {
    let h = ((address as u64) >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FILTER_BITS);
    &FILTER[h as usize]
}

/// False when no sampled block can live at `address` (the common case, without a lock).
#[inline(always)]
pub fn maybe_sampled(address: usize) -> bool {
    slot(address).load(Relaxed) != 0
}

/// A sampled block now lives at `address` (called with the capture's lock held).
pub fn note_sampled(address: usize) {
    slot(address).fetch_add(1, Relaxed);
}

/// The sampled block at `address` has been freed (called with the capture's lock held).
pub fn note_freed(address: usize) {
    slot(address).fetch_sub(1, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_countdown_is_exponential_with_mean_the_rate() {
        let mut rng = thread_seed(7, 1);
        let n = 200_000u64;
        let rate = 4096;
        let sum: u64 = (0..n).map(|_| draw(&mut rng, rate)).sum();
        let mean = sum as f64 / n as f64;
        assert!((mean - rate as f64).abs() < rate as f64 * 0.01, "{mean}");
        // P(X > rate) = 1/e.
        let mut rng = thread_seed(8, 1);
        let over = (0..n).filter(|_| draw(&mut rng, rate) > rate).count() as f64 / n as f64;
        assert!((over - (-1f64).exp()).abs() < 0.005, "{over}");
    }

    #[test]
    fn seeds_give_each_thread_its_own_sequence() {
        assert_eq!(thread_seed(1, 1), thread_seed(1, 1));
        assert_ne!(thread_seed(1, 1), thread_seed(1, 2));
        assert_ne!(thread_seed(1, 1), thread_seed(2, 1));
        assert_ne!(thread_seed(0, 0), 0);
    }
}
