// SPDX-License-Identifier: GPL-2.0

//! A minimal writer for one-line JSON objects.
//!
//! mydevctl prints flat objects of strings, integers and booleans, with at
//! most one level of nesting, so a small builder that escapes strings
//! correctly is all it needs.

use core::fmt::Write as _;

/// Appends `s` to `out` as a JSON string literal, quotes included.
///
/// Quotes, backslashes and all control characters are escaped, as RFC 8259
/// requires. Everything else, including non-ASCII text, is copied as UTF-8.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                // Writing to a `String` cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON object under construction.
#[derive(Debug)]
pub struct Object {
    buf: String,
    empty: bool,
}

impl Default for Object {
    fn default() -> Self {
        Self::new()
    }
}

impl Object {
    /// Starts an empty object.
    pub fn new() -> Self {
        Self {
            buf: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        write_string(&mut self.buf, key);
        self.buf.push(':');
    }

    /// Adds a string member.
    pub fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        write_string(&mut self.buf, value);
        self
    }

    /// Adds an unsigned integer member.
    pub fn uint(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        // Writing to a `String` cannot fail.
        let _ = write!(self.buf, "{value}");
        self
    }

    /// Adds an unsigned integer member, or `null` for `None`.
    pub fn opt_uint(mut self, key: &str, value: Option<u64>) -> Self {
        match value {
            Some(v) => self.uint(key, v),
            None => {
                self.key(key);
                self.buf.push_str("null");
                self
            }
        }
    }

    /// Adds a boolean member.
    pub fn boolean(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds a nested object.
    pub fn object(mut self, key: &str, value: Object) -> Self {
        self.key(key);
        self.buf.push_str(&value.finish());
        self
    }

    /// Closes the object and returns its text, without a newline.
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, s);
        out
    }

    /// Plain text is copied unchanged between quotes.
    #[test]
    fn plain_strings_are_quoted() {
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(quoted("/dev/mydevice"), r#""/dev/mydevice""#);
        assert_eq!(quoted("größe ✓"), "\"größe ✓\"");
    }

    /// Quotes, backslashes and every control character are escaped.
    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(quoted(r#"a"b"#), r#""a\"b""#);
        assert_eq!(quoted(r"a\b"), r#""a\\b""#);
        assert_eq!(quoted("a\nb\rc\td"), r#""a\nb\rc\td""#);
        assert_eq!(quoted("\u{8}\u{c}"), r#""\b\f""#);
        assert_eq!(
            quoted("\u{0}\u{1}\u{1b}\u{1f}"),
            r#""\u0000\u0001\u001b\u001f""#
        );
        assert_eq!(quoted("\u{7f}"), r#""\u007f""#);
        // A slash needs no escape, and a space is not a control character.
        assert_eq!(quoted("/ "), r#""/ ""#);
    }

    /// Members are separated by commas, with no trailing comma.
    #[test]
    fn objects_join_members() {
        assert_eq!(Object::new().finish(), "{}");
        let json = Object::new()
            .string("s", "x\"y")
            .uint("n", u64::MAX)
            .boolean("t", true)
            .boolean("f", false)
            .opt_uint("none", None)
            .opt_uint("some", Some(7))
            .object("o", Object::new().uint("a", 1).uint("b", 2))
            .finish();
        assert_eq!(
            json,
            r#"{"s":"x\"y","n":18446744073709551615,"t":true,"f":false,"none":null,"some":7,"o":{"a":1,"b":2}}"#
        );
    }

    /// Keys are escaped like values.
    #[test]
    fn keys_are_escaped() {
        assert_eq!(
            Object::new().uint("we\"ird\n", 1).finish(),
            r#"{"we\"ird\n":1}"#
        );
    }
}
