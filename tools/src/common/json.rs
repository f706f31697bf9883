//! JSON exactly as Python's `json.dump(obj, f, indent=2)` writes it: two-space indent,
//! `": "` between key and value, and every non-ASCII character escaped as `\uXXXX`.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, PrettyFormatter};

/// Python's `ensure_ascii` over the layout of another formatter: everything as `F` writes it,
/// but strings with every character outside printable ASCII escaped.
struct Ascii<F>(F);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $t:ty),*)),* $(,)?) => {
        $(fn $name<W: ?Sized + Write>(&mut self, w: &mut W $(, $arg: $t)*) -> io::Result<()> {
            self.0.$name(w $(, $arg)*)
        })*
    };
}

impl<F: Formatter> Formatter for Ascii<F> {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        end_object_key(),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_ascii_fragment(w, fragment)
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        esc: CharEscape,
    ) -> io::Result<()> {
        self.0.write_char_escape(w, esc)
    }
}

/// Writes a string fragment as Python's `ensure_ascii` does: everything outside printable
/// ASCII (`DEL` too) as `\\uXXXX` (UTF-16 units).
fn write_ascii_fragment<W: ?Sized + Write>(w: &mut W, fragment: &str) -> io::Result<()> {
    let bytes = fragment.as_bytes();
    let mut start = 0;
    for (i, ch) in fragment.char_indices() {
        if ch.is_ascii() && ch != '\x7f' {
            continue;
        }
        w.write_all(&bytes[start..i])?;
        let mut units = [0u16; 2];
        for u in ch.encode_utf16(&mut units) {
            write!(w, "\\u{:04x}", u)?;
        }
        start = i + ch.len_utf8();
    }
    w.write_all(&bytes[start..])
}

/// The separators of Python's `json.dump(obj, f)`: one line, `", "` between items, `": "`
/// after keys.
struct PythonSeparators;

impl Formatter for PythonSeparators {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// Writes `value` to `out` the way Python's `json.dump(obj, f)` does with its default
/// separators (no indentation, no trailing newline).
pub fn write_python_json_compact<T: Serialize, W: Write>(out: W, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, Ascii(PythonSeparators));
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// Serializes `value` the way Python's `json.dump(..., indent=2)` does (no trailing newline).
pub fn to_python_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        Ascii(PrettyFormatter::with_indent(b"  ")),
    );
    value
        .serialize(&mut ser)
        .expect("serializing to memory cannot fail");
    String::from_utf8(out).expect("the formatter writes ASCII")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_like_python() {
        let v = serde_json::json!({"a": [1, 2], "b": "é😀\"", "c": []});
        assert_eq!(
            super::to_python_json(&v),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"\\u00e9\\ud83d\\ude00\\\"\",\n  \"c\": []\n}"
        );
    }

    #[test]
    fn compact_layout_like_python() {
        let v = serde_json::json!({"a": [1, 2, {"x": "\u{7f}é"}], "b": {}});
        let mut out = Vec::new();
        super::write_python_json_compact(&mut out, &v).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\": [1, 2, {\"x\": \"\\u007f\\u00e9\"}], \"b\": {}}"
        );
    }
}
