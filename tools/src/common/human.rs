//! Human-readable sizes and times, formatted exactly as Memray formats them.

use chrono::{Local, TimeZone};

/// Decimal units with three decimals: `0.000B`, `3.072kB`, `5.243MB` (Memray's `size_fmt`).
pub fn size_fmt(bytes: u64) -> String {
    let mut num = bytes as f64;
    for unit in ["", "k", "M", "G", "T", "P", "E", "Z"] {
        if num.abs() < 1000.0 {
            return format!("{num:5.3}{unit}B");
        }
        num /= 1000.0;
    }
    format!("{num:.1}YB")
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM` in the local time zone (Python's `str(datetime)`).
// `u64::is_multiple_of` needs Rust 1.87; the workspace's rust-version is 1.85.
#[allow(clippy::manual_is_multiple_of)]
pub fn datetime_str(ms: u64) -> String {
    let Some(t) = Local.timestamp_millis_opt(ms as i64).single() else {
        return String::from("<invalid time>");
    };
    if ms % 1000 == 0 {
        t.format("%Y-%m-%d %H:%M:%S%:z").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f%:z").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_memray() {
        assert_eq!(size_fmt(0), "0.000B");
        assert_eq!(size_fmt(4), "4.000B");
        assert_eq!(size_fmt(999), "999.000B");
        assert_eq!(size_fmt(3072), "3.072kB");
        assert_eq!(size_fmt(3_341_500), "3.341MB");
        assert_eq!(size_fmt(5_242_880), "5.243MB");
        assert_eq!(size_fmt(1_500_000), "1.500MB");
    }
}
