// SPDX-License-Identifier: GPL-2.0-only

//! Parsing of buffer sizes such as `4096`, `64K`, `1M` or `64KiB`.
//!
//! Units are binary and case-insensitive: `K`/`KiB` is 1024, `M`/`MiB` is
//! 1024², `G`/`GiB` is 1024³, and a bare number or a `B` suffix means bytes.
//! The decimal-looking `KB`, `MB` and `GB` are refused as ambiguous, so that
//! nobody gets 65536 bytes while expecting 64000.

use core::fmt;

use mydevice_abi::{MYDEV_BUFFER_MAX, MYDEV_BUFFER_MIN};

/// Why a size argument was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// The argument is empty.
    Empty,
    /// The argument does not start with a decimal digit.
    NotANumber(String),
    /// The number is followed by a unit this tool does not know.
    UnknownUnit(String, String),
    /// The unit is `KB`, `MB` or `GB`, which could mean 1000 or 1024.
    AmbiguousUnit(String, String),
    /// The value does not fit in 64 bits.
    Overflow(String),
    /// The value parsed but is outside `MYDEV_BUFFER_MIN..=MYDEV_BUFFER_MAX`.
    OutOfRange(String, u64),
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = format!("{MYDEV_BUFFER_MIN}..={MYDEV_BUFFER_MAX}");
        match self {
            Self::Empty => write!(
                f,
                "an empty size is invalid: expected bytes like 4096, 64K, 1M or 64KiB"
            ),
            Self::NotANumber(arg) => write!(
                f,
                "{arg:?} is not a size: expected bytes like 4096, 64K, 1M or 64KiB"
            ),
            Self::UnknownUnit(arg, unit) => write!(
                f,
                "{arg:?} has an unknown unit {unit:?}: use B, K, KiB, M, MiB, G or GiB"
            ),
            Self::AmbiguousUnit(arg, unit) => write!(
                f,
                "{arg:?} has the ambiguous unit {unit:?}: use K/KiB (1024) or M/MiB (1048576)"
            ),
            Self::Overflow(arg) => write!(f, "{arg} is invalid: far too large ({range})"),
            Self::OutOfRange(arg, bytes) => {
                if arg.bytes().all(|b| b.is_ascii_digit()) {
                    write!(f, "{bytes} bytes is invalid ({range})")
                } else {
                    write!(f, "{arg} = {bytes} bytes is invalid ({range})")
                }
            }
        }
    }
}

impl std::error::Error for SizeError {}

/// Parses a size with an optional binary unit into bytes.
///
/// # Errors
///
/// Returns [`SizeError`] for an empty argument, a missing number, an unknown
/// or ambiguous unit, or a value that does not fit in a `u64`.
pub fn parse_size(arg: &str) -> Result<u64, SizeError> {
    if arg.is_empty() {
        return Err(SizeError::Empty);
    }
    let split = arg.find(|c: char| !c.is_ascii_digit()).unwrap_or(arg.len());
    let (digits, unit) = arg.split_at(split);
    if digits.is_empty() {
        return Err(SizeError::NotANumber(arg.to_owned()));
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" | "mb" | "gb" => {
            return Err(SizeError::AmbiguousUnit(arg.to_owned(), unit.to_owned()));
        }
        _ => return Err(SizeError::UnknownUnit(arg.to_owned(), unit.to_owned())),
    };
    // Only ASCII digits remain, so the sole way `parse` can fail is overflow.
    let number: u64 = digits
        .parse()
        .map_err(|_| SizeError::Overflow(arg.to_owned()))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| SizeError::Overflow(arg.to_owned()))
}

/// Parses a size and checks it against the capacity limits of the device.
///
/// # Errors
///
/// Returns what [`parse_size`] returns, or [`SizeError::OutOfRange`] when the
/// size is 0 or larger than [`MYDEV_BUFFER_MAX`].
pub fn parse_capacity(arg: &str) -> Result<u32, SizeError> {
    let bytes = parse_size(arg)?;
    match u32::try_from(bytes) {
        Ok(n) if (MYDEV_BUFFER_MIN..=MYDEV_BUFFER_MAX).contains(&n) => Ok(n),
        _ => Err(SizeError::OutOfRange(arg.to_owned(), bytes)),
    }
}

/// Renders a byte count with a binary unit, truncated to one decimal.
///
/// Counts below 1024 return `None`, since `512 bytes` needs no gloss. Exact
/// multiples print without a decimal (`64 KiB`); others are truncated, never
/// rounded up, so `1048575` reads `1023.9 KiB` rather than a false `1 MiB`.
pub fn human_bytes(n: u64) -> Option<String> {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return None;
    }
    let mut unit = 1024u128;
    let mut index = 0;
    while index + 1 < UNITS.len() && u128::from(n) >= unit * 1024 {
        unit *= 1024;
        index += 1;
    }
    let n = u128::from(n);
    let name = UNITS[index];
    if n % unit == 0 {
        Some(format!("{} {name}", n / unit))
    } else {
        let tenths = n * 10 / unit;
        Some(format!("{}.{} {name}", tenths / 10, tenths % 10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain byte counts parse as themselves.
    #[test]
    fn plain_numbers_are_bytes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1"), Ok(1));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("007"), Ok(7));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    /// Every unit form is binary and case-insensitive.
    #[test]
    fn units_are_binary_and_case_insensitive() {
        for (arg, want) in [
            ("64K", 65536),
            ("64k", 65536),
            ("64KiB", 65536),
            ("64kib", 65536),
            ("64KIB", 65536),
            ("64kIb", 65536),
            ("1M", 1 << 20),
            ("1m", 1 << 20),
            ("1MiB", 1 << 20),
            ("1mib", 1 << 20),
            ("2G", 2 << 30),
            ("2GiB", 2 << 30),
            ("512B", 512),
            ("512b", 512),
            ("0K", 0),
        ] {
            assert_eq!(parse_size(arg), Ok(want), "parsing {arg:?}");
        }
    }

    /// `KB`, `MB` and `GB` are refused, as they could mean powers of ten.
    #[test]
    fn decimal_looking_units_are_ambiguous() {
        for arg in ["64KB", "64kb", "1MB", "1mB", "1GB"] {
            let err = parse_size(arg).expect_err(arg);
            assert!(
                matches!(err, SizeError::AmbiguousUnit(..)),
                "{arg:?}: expected AmbiguousUnit, got {err:?}"
            );
        }
        assert_eq!(
            parse_size("64KB").unwrap_err().to_string(),
            "\"64KB\" has the ambiguous unit \"KB\": use K/KiB (1024) or M/MiB (1048576)"
        );
    }

    /// Values beyond 64 bits, before or after the unit, are overflow errors.
    #[test]
    fn overflow_is_reported() {
        for arg in [
            "18446744073709551616",
            "99999999999999999999999",
            "18014398509481984K",
            "17592186044416M",
            "17179869184G",
        ] {
            assert_eq!(
                parse_size(arg),
                Err(SizeError::Overflow(arg.to_owned())),
                "parsing {arg:?}"
            );
        }
        // The largest value that still fits.
        assert_eq!(
            parse_size("18014398509481983K"),
            Ok(18014398509481983 << 10)
        );
    }

    /// Anything that is not digits followed by a known unit is garbage.
    #[test]
    fn garbage_is_refused() {
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        for arg in ["abc", "K", "-1", "+1", " 1", ".5K", "KiB", "é"] {
            assert_eq!(
                parse_size(arg),
                Err(SizeError::NotANumber(arg.to_owned())),
                "parsing {arg:?}"
            );
        }
        for (arg, unit) in [
            ("1.5K", ".5K"),
            ("64 K", " K"),
            ("64Ki", "Ki"),
            ("64KK", "KK"),
            ("10T", "T"),
            ("4096 ", " "),
            ("1_000", "_000"),
            ("1e3", "e3"),
            ("0x10", "x10"),
            ("64K\u{0}", "K\u{0}"),
            ("5é", "é"),
        ] {
            assert_eq!(
                parse_size(arg),
                Err(SizeError::UnknownUnit(arg.to_owned(), unit.to_owned())),
                "parsing {arg:?}"
            );
        }
    }

    /// Capacities are checked against 1..=1048576 before the kernel is asked.
    #[test]
    fn capacity_range_is_enforced() {
        assert_eq!(parse_capacity("1"), Ok(1));
        assert_eq!(parse_capacity("4096"), Ok(4096));
        assert_eq!(parse_capacity("1M"), Ok(1_048_576));
        assert_eq!(parse_capacity("1024K"), Ok(1_048_576));
        assert_eq!(parse_capacity("1048576"), Ok(1_048_576));
        assert_eq!(
            parse_capacity("0"),
            Err(SizeError::OutOfRange("0".to_owned(), 0))
        );
        assert_eq!(
            parse_capacity("1048577"),
            Err(SizeError::OutOfRange("1048577".to_owned(), 1_048_577))
        );
        assert_eq!(
            parse_capacity("4G"),
            Err(SizeError::OutOfRange("4G".to_owned(), 4 << 30))
        );
    }

    /// Range errors read as the issue asks, naming the bytes and the range.
    #[test]
    fn range_errors_name_bytes_and_range() {
        assert_eq!(
            parse_capacity("0").unwrap_err().to_string(),
            "0 bytes is invalid (1..=1048576)"
        );
        assert_eq!(
            parse_capacity("0K").unwrap_err().to_string(),
            "0K = 0 bytes is invalid (1..=1048576)"
        );
        assert_eq!(
            parse_capacity("2M").unwrap_err().to_string(),
            "2M = 2097152 bytes is invalid (1..=1048576)"
        );
        assert_eq!(
            parse_capacity("99999999999999999999")
                .unwrap_err()
                .to_string(),
            "99999999999999999999 is invalid: far too large (1..=1048576)"
        );
    }

    /// The other errors quote the argument and show what is accepted.
    #[test]
    fn parse_error_messages() {
        assert_eq!(
            parse_size("abc").unwrap_err().to_string(),
            "\"abc\" is not a size: expected bytes like 4096, 64K, 1M or 64KiB"
        );
        assert_eq!(
            parse_size("").unwrap_err().to_string(),
            "an empty size is invalid: expected bytes like 4096, 64K, 1M or 64KiB"
        );
        assert_eq!(
            parse_size("10T").unwrap_err().to_string(),
            "\"10T\" has an unknown unit \"T\": use B, K, KiB, M, MiB, G or GiB"
        );
        // Control characters are escaped, not written to the terminal.
        assert_eq!(
            parse_size("\u{1b}[2J").unwrap_err().to_string(),
            "\"\\u{1b}[2J\" is not a size: expected bytes like 4096, 64K, 1M or 64KiB"
        );
    }

    /// Human sizes use exact units where they can and truncate otherwise.
    #[test]
    fn human_bytes_truncates() {
        assert_eq!(human_bytes(0), None);
        assert_eq!(human_bytes(1023), None);
        assert_eq!(human_bytes(1024).as_deref(), Some("1 KiB"));
        assert_eq!(human_bytes(1536).as_deref(), Some("1.5 KiB"));
        assert_eq!(human_bytes(4096).as_deref(), Some("4 KiB"));
        assert_eq!(human_bytes(1_048_575).as_deref(), Some("1023.9 KiB"));
        assert_eq!(human_bytes(1_048_576).as_deref(), Some("1 MiB"));
        assert_eq!(human_bytes(123_456_789).as_deref(), Some("117.7 MiB"));
        assert_eq!(human_bytes(5 << 30).as_deref(), Some("5 GiB"));
        assert_eq!(human_bytes(u64::MAX).as_deref(), Some("15.9 EiB"));
    }
}
