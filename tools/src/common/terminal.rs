//! Text from the profiled program (function, file and thread names, the command line) made
//! safe for a terminal: control characters, which could move the cursor or rewrite the screen
//! (ANSI escape sequences), are shown as `\x1b`-style escapes instead of being sent raw.

use std::borrow::Cow;

pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_control(c) {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    c.is_control() && c != ' '
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_control_characters() {
        assert_eq!(super::for_terminal("f\x1b[31mred\n"), "f\\x1b[31mred\\x0a");
        assert_eq!(super::for_terminal("plain é"), "plain é");
        assert_eq!(super::for_terminal("c1\u{9b}"), "c1\\x9b");
    }
}
