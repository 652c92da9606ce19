// SPDX-License-Identifier: GPL-2.0-only

//! Parsing of the `key: value` lines of `/proc/mydevice`.

/// Splits the text of `/proc/mydevice` into `(key, value)` pairs, in order.
///
/// Keys and values are trimmed. Blank lines and lines without a colon are
/// skipped, so a future kernel may add free text without breaking this.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented file parses into its ten pairs, in order.
    #[test]
    fn documented_format_parses() {
        let text = "buffer_size: 4096\nbytes_used: 0\nopen_count: 0\nread_count: 0\n\
                    write_count: 0\nbytes_read: 0\nbytes_written: 0\nreaders_waiting: 0\n\
                    writers_waiting: 0\nhung_up: 0\n";
        let pairs = parse(text);
        assert_eq!(pairs.len(), 10, "pairs: {pairs:?}");
        assert_eq!(pairs[0], ("buffer_size".to_owned(), "4096".to_owned()));
        assert_eq!(pairs[9], ("hung_up".to_owned(), "0".to_owned()));
    }

    /// Odd lines are skipped and whitespace is trimmed.
    #[test]
    fn odd_lines_are_tolerated() {
        let pairs = parse("\n  a :  1 \nno colon here\n: orphan\nb: x: y\r\n");
        assert_eq!(
            pairs,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x: y".to_owned())
            ]
        );
        assert!(parse("").is_empty());
    }
}
