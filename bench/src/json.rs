// SPDX-License-Identifier: GPL-2.0-only

//! A small JSON value and its writer, for the raw results file.
//!
//! Objects keep their keys in insertion order. Strings are escaped as RFC 8259
//! requires; numbers that JSON cannot hold (NaN, infinities) are written as
//! `null`.

use std::fmt::Write;

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer, written exactly.
    Int(i64),
    /// A floating-point number; NaN and infinities are written as `null`.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Builds an object from `(key, value)` pairs.
    pub fn obj<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Self {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Builds an array of numbers.
    pub fn nums(values: &[f64]) -> Self {
        Json::Arr(values.iter().map(|&v| Json::Num(v)).collect())
    }

    /// Returns the compact text of this value.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None, 0);
        out
    }

    /// Returns the indented text of this value, ending in a newline.
    ///
    /// Arrays of scalars stay on one line, so long sample lists stay readable.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(2), 0);
        out.push('\n');
        out
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Json::Arr(_) | Json::Obj(_))
    }

    fn write(&self, out: &mut String, indent: Option<usize>, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Num(f) => write_num(out, *f),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                let flat = indent.is_none() || items.iter().all(Json::is_scalar);
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        if flat && indent.is_some() {
                            out.push(' ');
                        }
                    }
                    if !flat {
                        newline(out, indent, depth + 1);
                    }
                    item.write(out, indent, depth + 1);
                }
                if !flat && !items.is_empty() {
                    newline(out, indent, depth);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, indent, depth + 1);
                    write_str(out, key);
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    value.write(out, indent, depth + 1);
                }
                if !pairs.is_empty() {
                    newline(out, indent, depth);
                }
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, indent: Option<usize>, depth: usize) {
    if let Some(width) = indent {
        out.push('\n');
        out.push_str(&" ".repeat(width * depth));
    }
}

fn write_num(out: &mut String, f: f64) {
    if f.is_finite() {
        // Rust prints finite floats without exponent or NaN, which JSON
        // accepts as is (`1`, `0.5`, `-3.25`).
        let _ = write!(out, "{f}");
    } else {
        out.push_str("null");
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
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
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            // U+2028 and U+2029 are valid JSON but break JavaScript parsers.
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::Str(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::Str(s)
    }
}

impl From<f64> for Json {
    fn from(f: f64) -> Self {
        Json::Num(f)
    }
}

impl From<u64> for Json {
    fn from(i: u64) -> Self {
        i64::try_from(i).map_or(Json::Num(i as f64), Json::Int)
    }
}

impl From<usize> for Json {
    fn from(i: usize) -> Self {
        Json::from(i as u64)
    }
}

impl From<u32> for Json {
    fn from(i: u32) -> Self {
        Json::Int(i.into())
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Json::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quotes, backslashes and control characters are escaped.
    #[test]
    fn strings_are_escaped() {
        let s = Json::from("a\"b\\c\nd\te\r\u{1}\u{8}\u{c}\u{7f}");
        assert_eq!(s.to_compact(), r#""a\"b\\c\nd\te\r\u0001\b\f\u007f""#);
    }

    /// Non-ASCII text passes through as UTF-8, line separators excepted.
    #[test]
    fn unicode_passes_through() {
        assert_eq!(Json::from("µs → ok").to_compact(), "\"µs → ok\"");
        assert_eq!(Json::from("\u{2028}").to_compact(), r#""\u2028""#);
    }

    /// NaN and infinities, which JSON cannot hold, become null.
    #[test]
    fn non_finite_numbers_become_null() {
        let v = Json::nums(&[1.5, f64::NAN, f64::INFINITY, -2.0, 1e21]);
        assert_eq!(v.to_compact(), "[1.5,null,null,-2,1000000000000000000000]");
    }

    /// Large unsigned integers stay exact up to `i64::MAX`.
    #[test]
    fn integers_are_exact() {
        assert_eq!(
            Json::from(u64::MAX >> 1).to_compact(),
            "9223372036854775807"
        );
        assert_eq!(Json::from(7u32).to_compact(), "7");
    }

    /// Objects keep key order, and keys are escaped too.
    #[test]
    fn objects_keep_order_and_escape_keys() {
        let v = Json::obj([
            ("b", Json::Int(1)),
            ("a\"", Json::Null),
            ("c", Json::Bool(true)),
        ]);
        assert_eq!(v.to_compact(), r#"{"b":1,"a\"":null,"c":true}"#);
    }

    /// Pretty output indents containers and keeps scalar arrays on one line.
    #[test]
    fn pretty_output_is_indented() {
        let v = Json::obj([
            ("xs", Json::nums(&[1.0, 2.0])),
            ("o", Json::obj([("k", Json::from("v"))])),
            ("e", Json::Arr(vec![])),
            ("n", Json::Arr(vec![Json::Arr(vec![])])),
        ]);
        let want = "{\n  \"xs\": [1, 2],\n  \"o\": {\n    \"k\": \"v\"\n  },\n  \"e\": [],\n  \"n\": [\n    []\n  ]\n}\n";
        assert_eq!(v.to_pretty(), want);
    }
}
