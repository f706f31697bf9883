//! What every report of a sampled capture (`memray run --sample-every`) says about it: its
//! byte figures are estimates, made from one allocated byte in `sample_every` on average, and
//! the peak's expected relative error (see `memray_format::sampling`).

use memray_format::records::Header;
use serde::Serialize;

use super::human::size_fmt;

/// The sampling of a capture, as the reports present it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Estimate {
    /// Mean bytes between two sampled bytes.
    pub sample_every: u64,
    /// One standard deviation of the estimated peak, relative to it (an upper bound).
    pub expected_relative_error: f64,
}

impl Estimate {
    /// None for a capture that records every allocation.
    pub fn of(header: &Header, peak: u64) -> Option<Estimate> {
        let rate = header.sample_every;
        Some(Estimate {
            sample_every: rate,
            expected_relative_error: memray_format::sampling::relative_error(peak, rate)?,
        })
    }

    /// One line for the terminal reports.
    pub fn line(&self) -> String {
        format!(
            "Estimated from a sampled capture: one allocated byte in {} ({} bytes) was recorded; \
             sizes and allocation counts are estimates (the peak within ±{:.1}% at one standard \
             deviation).",
            size_fmt(self.sample_every),
            self.sample_every,
            self.expected_relative_error * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sampled_captures_are_estimates() {
        let mut h = Header::default();
        assert!(Estimate::of(&h, 1000).is_none());
        h.sample_every = 4096;
        let e = Estimate::of(&h, 409_600).unwrap();
        assert_eq!(e.expected_relative_error, 0.1);
        assert!(e.line().contains("±10.0%"), "{}", e.line());
        assert!(e.line().contains("4096 bytes"), "{}", e.line());
    }
}
