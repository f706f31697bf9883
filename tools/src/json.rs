//! JSON exactly as Python's `json.dump(obj, f, indent=2)` writes it: two-space indent,
//! `": "` between key and value, and every non-ASCII character escaped as `\uXXXX`.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, PrettyFormatter};

struct AsciiFormatter<'a>(PrettyFormatter<'a>);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $t:ty),*)),* $(,)?) => {
        $(fn $name<W: ?Sized + Write>(&mut self, w: &mut W $(, $arg: $t)*) -> io::Result<()> {
            self.0.$name(w $(, $arg)*)
        })*
    };
}

impl Formatter for AsciiFormatter<'_> {
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
        for ch in fragment.chars() {
            if ch.is_ascii() {
                w.write_all(&[ch as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in ch.encode_utf16(&mut units) {
                    write!(w, "\\u{:04x}", u)?;
                }
            }
        }
        Ok(())
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        esc: CharEscape,
    ) -> io::Result<()> {
        self.0.write_char_escape(w, esc)
    }
}

/// Serializes `value` the way Python's `json.dump(..., indent=2)` does (no trailing newline).
pub fn to_python_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        AsciiFormatter(PrettyFormatter::with_indent(b"  ")),
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
}
