//! What a sampled capture's sizes mean (FORMAT.md §6): an allocation of `s` bytes recorded
//! with probability `p = 1 - exp(-s/R)` is written as `s / p` bytes, the bytes it stands for.
//! The tracker computes that weight; the reports turn it back into the allocation's size (for
//! size histograms) and give the expected error of an estimate.

/// The bytes a recorded allocation of `size` stands for at `rate`: `size / p`, rounded.
pub fn weight(size: u64, rate: u64) -> u64 {
    if rate == 0 || size == 0 {
        return size;
    }
    let s = size as f64;
    let p = -(-s / rate as f64).exp_m1();
    (s / p).round() as u64
}

/// The size of the allocation a recorded `weight` stands for (the inverse of [`weight`],
/// within a byte or two: weights are rounded). A size below the rate is no weight (every
/// weight is at least the rate): an `mmap`, recorded as it is.
pub fn size_of(weight_bytes: u64, rate: u64) -> u64 {
    if rate == 0 || weight_bytes < rate {
        return weight_bytes;
    }
    // `weight` grows with the size, from `rate` (size 0) on: bisect.
    let (mut lo, mut hi) = (0u64, weight_bytes);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if weight(mid, rate) < weight_bytes {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The number of allocations a recorded allocation of `weight_bytes` at `address` stands for:
/// `1 / p` (1 in a capture that is not sampled, and for a size below the rate, which is no
/// weight: an `mmap`), made whole by rounding up or down as a hash of the address says, so
/// that sums stay unbiased (always rounding 4.5 up would count 10% too many). A function of
/// the block alone, so its allocation and its free count the same.
#[inline]
pub fn count_weight(weight_bytes: u64, rate: u64, address: u64) -> u64 {
    if rate == 0 || weight_bytes < rate {
        return 1;
    }
    let c = counts(weight_bytes, rate);
    let whole = c.floor();
    // A uniform number in [0, 1) from the address (splitmix64's finalizer).
    let mut z = address.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let u = (z >> 11) as f64 / (1u64 << 53) as f64;
    (whole as u64)
        .saturating_add(u64::from(c - whole > u))
        .max(1)
}

/// The number of allocations a recorded allocation of `weight_bytes` stands for, `1 / p`, as
/// a fraction (for sums over many records of one weight).
pub fn counts(weight_bytes: u64, rate: u64) -> f64 {
    if rate == 0 || weight_bytes < rate {
        return 1.0;
    }
    count_weight_sampled(weight_bytes as f64, rate as f64)
}

/// [`count_weight`] of a sampled capture: solves `s / (1 - exp(-s/R)) = w` for the size `s` by
/// Newton's method from above (the left side is convex and increasing, and lies between
/// `R + s/2` and `R + s`, so `s <= 2(w - R)`), then gives `w / s`.
#[cold]
fn count_weight_sampled(w: f64, r: f64) -> f64 {
    let mut s = (2.0 * (w - r)).max(1.0);
    for _ in 0..50 {
        let x = s / r;
        let q = -(-x).exp_m1(); // 1 - exp(-x)
        let g = s / q - w;
        let dg = (q - x * (-x).exp()) / (q * q);
        if dg.is_nan() || dg <= 0.0 {
            break;
        }
        let next = (s - g / dg).max(1.0);
        if (s - next).abs() < 1e-6 * s {
            s = next;
            break;
        }
        s = next;
    }
    (w / s.max(1.0)).max(1.0)
}

/// The expected relative error (one standard deviation) of an estimated total of `bytes` made
/// of allocations much smaller than `rate`: `sqrt(rate / bytes)`. Larger allocations are
/// estimated better, so this is an upper bound. None for a capture that is not sampled.
pub fn relative_error(bytes: u64, rate: u64) -> Option<f64> {
    if rate == 0 {
        return None;
    }
    Some(if bytes == 0 {
        1.0
    } else {
        (rate as f64 / bytes as f64).sqrt().min(1.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_size_over_probability() {
        assert_eq!(weight(100, 0), 100);
        assert_eq!(weight(0, 512), 0);
        // Much larger than the rate: sampled almost surely, stands for itself.
        assert_eq!(weight(100 << 20, 512 << 10), 100 << 20);
        // Small: about the rate plus half the size.
        let w = weight(16, 524_288);
        assert!((524_295..=524_297).contains(&w), "{w}");
        // Equal to the rate: s / (1 - 1/e).
        assert_eq!(weight(1000, 1000), 1582);
    }

    #[test]
    fn sizes_come_back_from_weights() {
        let rate = 524_288;
        for size in [1, 8, 100, 4096, 100_000, 524_288, 3 << 20] {
            let back = size_of(weight(size, rate), rate);
            assert!(back.abs_diff(size) <= 2, "{size} -> {back}");
        }
        assert_eq!(size_of(12345, 0), 12345);
        assert_eq!(size_of(4096, rate), 4096);
    }

    #[test]
    fn counts_are_one_over_the_probability() {
        let rate = 524_288;
        assert_eq!(count_weight(100, 0, 8), 1);
        assert_eq!(count_weight(4096, rate, 8), 1); // below the rate: an mmap
        assert_eq!(count_weight(weight(100 << 20, rate), rate, 8), 1);
        for size in [16u64, 100, 4096, 100_000, 524_288, 2 << 20] {
            let p = -(-(size as f64) / rate as f64).exp_m1();
            let expected = 1.0 / p;
            let w = weight(size, rate);
            // Weights are whole bytes, so a tiny size comes back within a byte.
            let tolerance = expected / size as f64 + 1e-6;
            assert!((counts(w, rate) - expected).abs() <= tolerance, "{size}");
            // Whole counts over many blocks: unbiased.
            let n = 100_000u64;
            let sum: u64 = (0..n)
                .map(|i| count_weight(w, rate, 0x7f00_0000 + 16 * i))
                .sum();
            let mean = sum as f64 / n as f64;
            assert!(
                (mean - counts(w, rate)).abs() < 0.01 * expected,
                "{size}: {mean}"
            );
        }
    }

    #[test]
    fn the_error_shrinks_with_the_estimate() {
        assert_eq!(relative_error(100, 0), None);
        assert_eq!(relative_error(400 << 10, 4 << 10), Some(0.1));
        assert_eq!(relative_error(0, 4), Some(1.0));
    }
}
