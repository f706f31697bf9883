//! LEB128 variable-length integers and zigzag mapping: the primitive encoding of every record field.

#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

/// Appends `v` as unsigned LEB128 (7 bits per byte, high bit = more bytes follow).
#[inline]
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Maps a signed delta onto an unsigned value so that small magnitudes encode in few bytes.
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ ((v & 1) as i64).wrapping_neg()
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A bounds-checked cursor over an encoded byte slice. Every read fails cleanly (None) at the end
/// of the input instead of panicking, so corrupt data can never crash a reader.
pub struct Cursor<'a> {
    /// The bytes not read yet (the end of the input).
    rest: &'a [u8],
    /// The whole input's length.
    len: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor {
            rest: buf,
            len: buf.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn position(&self) -> usize {
        // `rest` is the end of the input: never saturates.
        self.len.saturating_sub(self.rest.len())
    }

    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    #[inline]
    pub fn u64(&mut self) -> Option<u64> {
        let mut result = 0u64;
        // 7 bits a byte: at most 10 bytes, the last holding bit 63 only.
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.rest.split_first()?;
            self.rest = rest;
            if shift == 63 && b > 1 {
                return None; // overflows u64
            }
            result |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(result);
            }
        }
        None
    }

    #[inline]
    pub fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.u64()?).ok()
    }

    #[inline]
    pub fn i64(&mut self) -> Option<i64> {
        self.u64().map(unzigzag)
    }

    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        let (s, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest;
        Some(s)
    }

    pub fn string(&mut self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn u64_round_trip(v in any::<u64>()) {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            let mut c = Cursor::new(&out);
            prop_assert_eq!(c.u64(), Some(v));
            prop_assert!(c.is_empty());
        }

        #[test]
        fn zigzag_round_trip(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }

        #[test]
        fn truncated_varint_is_none(v in 128u64..) {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            out.pop();
            prop_assert_eq!(Cursor::new(&out).u64(), None);
        }
    }

    #[test]
    fn position_counts_the_bytes_read() {
        let mut out = Vec::new();
        put_u64(&mut out, 300);
        put_bytes(&mut out, b"abc");
        let mut c = Cursor::new(&out);
        assert_eq!(c.u64(), Some(300));
        assert_eq!(c.position(), 2);
        assert_eq!(c.bytes(), Some(&b"abc"[..]));
        assert_eq!(c.position(), 6);
        assert!(c.is_empty());
        assert_eq!(c.bytes(), None);
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let bad = [0xffu8; 11];
        assert_eq!(Cursor::new(&bad).u64(), None);
    }
}
