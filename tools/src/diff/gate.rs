//! The CI gates of `memray-diff`: thresholds (`10%`, `1MB`, `512KiB`, `1000000`) and the checks
//! `--fail-if-peak-grows`, `--fail-if-leaks-grow` and `--fail-if-location-grows` make.

use std::str::FromStr;

use serde::Serialize;

use memray_analysis::diff::Diff;

use crate::common::human::size_fmt;

/// How much growth a gate allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// A percentage of the base figure.
    Percent(f64),
    Bytes(u64),
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = || format!("{s:?} is not a threshold: give a percentage (10%) or a size (1MB)");
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            if !v.is_finite() || v < 0.0 {
                return Err(bad());
            }
            return Ok(Threshold::Percent(v));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let v: f64 = num.parse().map_err(|_| bad())?;
        let scale: f64 = match unit.trim() {
            "" | "B" => 1.0,
            "k" | "kB" | "KB" => 1e3,
            "M" | "MB" => 1e6,
            "G" | "GB" => 1e9,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        let bytes = v * scale;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(bad());
        }
        Ok(Threshold::Bytes(bytes.round() as u64))
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threshold::Percent(p) => write!(f, "{p}%"),
            Threshold::Bytes(b) => write!(f, "{}", size_fmt(*b)),
        }
    }
}

impl Threshold {
    /// Whether going from `base` to `new` exceeds the threshold.
    pub fn exceeded(&self, base: u64, new: u64) -> bool {
        let change = i128::from(new) - i128::from(base);
        if change <= 0 {
            return false;
        }
        match *self {
            Threshold::Bytes(b) => change > i128::from(b),
            Threshold::Percent(p) => base == 0 || change as f64 * 100.0 > p * base as f64,
        }
    }
}

/// `+1.049MB (+12.5%)`: a change and its part of the base.
pub fn change_fmt(base: u64, new: u64) -> String {
    let change = i128::from(new) - i128::from(base);
    let sign = if change < 0 { "-" } else { "+" };
    let size = size_fmt(change.unsigned_abs().min(u128::from(u64::MAX)) as u64);
    if base == 0 {
        if change == 0 {
            return format!("{sign}{size}");
        }
        return format!("{sign}{size} (new)");
    }
    format!(
        "{sign}{size} ({sign}{:.1}%)",
        change.unsigned_abs() as f64 * 100.0 / base as f64
    )
}

/// A gate that failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// `peak`, `leaks` or `location`.
    pub gate: &'static str,
    pub threshold: String,
    /// What grew: `peak memory`, `leaked bytes`, or the location.
    pub what: String,
    pub base: u64,
    pub new: u64,
    /// The line printed for it.
    pub message: String,
}

fn failure(gate: &'static str, t: Threshold, what: String, base: u64, new: u64) -> Failure {
    let message = format!(
        "{what} grew by {}, more than {t}: {} -> {}",
        change_fmt(base, new),
        size_fmt(base),
        size_fmt(new)
    );
    Failure {
        gate,
        threshold: t.to_string(),
        what,
        base,
        new,
        message,
    }
}

/// Every gate exceeded, in the order the flags are listed.
pub fn check(
    d: &Diff,
    peak: Option<Threshold>,
    leaks: Option<Threshold>,
    location: Option<Threshold>,
) -> Vec<Failure> {
    let mut out = Vec::new();
    if let Some(t) = peak.filter(|t| t.exceeded(d.base.peak_memory, d.new.peak_memory)) {
        out.push(failure(
            "peak",
            t,
            "peak memory".into(),
            d.base.peak_memory,
            d.new.peak_memory,
        ));
    }
    if let Some(t) = leaks.filter(|t| t.exceeded(d.base.leaked_bytes, d.new.leaked_bytes)) {
        out.push(failure(
            "leaks",
            t,
            "leaked bytes".into(),
            d.base.leaked_bytes,
            d.new.leaked_bytes,
        ));
    }
    if let Some(t) = location {
        for r in d
            .rows
            .iter()
            .filter(|r| t.exceeded(r.base.bytes, r.new.bytes))
        {
            out.push(failure(
                "location",
                t,
                super::report::place(r),
                r.base.bytes,
                r.new.bytes,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_as_percentages_and_sizes() {
        assert_eq!("10%".parse(), Ok(Threshold::Percent(10.0)));
        assert_eq!("2.5 %".parse(), Ok(Threshold::Percent(2.5)));
        assert_eq!("1000000".parse(), Ok(Threshold::Bytes(1_000_000)));
        assert_eq!("1MB".parse(), Ok(Threshold::Bytes(1_000_000)));
        assert_eq!("1.5kB".parse(), Ok(Threshold::Bytes(1_500)));
        assert_eq!("512KiB".parse(), Ok(Threshold::Bytes(524_288)));
        assert_eq!("1GiB".parse(), Ok(Threshold::Bytes(1 << 30)));
        for bad in ["", "%", "ten", "-5%", "5XB", "1e400"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_threshold_is_exceeded_only_by_growth_past_it() {
        let pct = Threshold::Percent(10.0);
        assert!(!pct.exceeded(1000, 1100));
        assert!(pct.exceeded(1000, 1101));
        assert!(!pct.exceeded(1000, 900));
        assert!(pct.exceeded(0, 1));
        assert!(!pct.exceeded(0, 0));
        let bytes = Threshold::Bytes(100);
        assert!(!bytes.exceeded(5000, 5100));
        assert!(bytes.exceeded(5000, 5101));
    }

    #[test]
    fn changes_read_with_their_sign_and_share() {
        assert_eq!(change_fmt(1_000_000, 2_048_576), "+1.049MB (+104.9%)");
        assert_eq!(change_fmt(2_000, 1_000), "-1.000kB (-50.0%)");
        assert_eq!(change_fmt(0, 1_000), "+1.000kB (new)");
        assert_eq!(change_fmt(5, 5), "+0.000B (+0.0%)");
    }
}
