// SPDX-License-Identifier: GPL-2.0-only

//! Human renderings of everything mydevctl prints; [`crate::json`] has the
//! JSON ones.
//!
//! Every function returns the complete text, newline included, so tests can
//! compare it byte for byte. Human output is `key: value` lines whose keys
//! are the field names of the UAPI structs and of `/proc/mydevice`, aligned
//! in one column, the keys that the JSON output uses too.

use core::fmt::Write as _;

use mydevice_abi::{MydevStats, MydevStatus, MYDEV_FLAG_HUNG_UP};

use crate::size::human_bytes;

/// The width of the key column of human output, colon included.
const KEY_WIDTH: usize = 17;

/// The state of the device before and after a control command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// `MYDEV_STATUS` just before the command.
    pub before: MydevStatus,
    /// `MYDEV_STATUS` just after it.
    pub after: MydevStatus,
}

/// One sample of `watch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The number of this sample, from 1.
    pub index: u64,
    /// The number of samples asked for, if finite.
    pub count: Option<u64>,
    /// The time between samples, in milliseconds.
    pub interval_ms: u64,
    /// Milliseconds since the first sample.
    pub elapsed_ms: u64,
    /// The pairs of `/proc/mydevice`, in file order.
    pub proc: Vec<(String, String)>,
    /// `MYDEV_STATS`.
    pub stats: MydevStats,
    /// Bytes read per second since the previous sample.
    pub read_rate: Option<u64>,
    /// Bytes written per second since the previous sample.
    pub write_rate: Option<u64>,
}

fn line(out: &mut String, key: &str, value: impl core::fmt::Display) {
    let key = format!("{key}:");
    // Writing to a `String` cannot fail.
    let _ = writeln!(out, "{key:<KEY_WIDTH$}{value}");
}

fn bytes(n: u64) -> String {
    match human_bytes(n) {
        Some(h) => format!("{n} bytes ({h})"),
        None if n == 1 => "1 byte".to_owned(),
        None => format!("{n} bytes"),
    }
}

fn count_bytes(n: u64) -> String {
    match human_bytes(n) {
        Some(h) => format!("{n} ({h})"),
        None => n.to_string(),
    }
}

fn rate(rate: Option<u64>) -> String {
    match rate {
        None => "-".to_owned(),
        Some(r) => match human_bytes(r) {
            Some(h) => format!("{r} B/s ({h}/s)"),
            None => format!("{r} B/s"),
        },
    }
}

/// Renders a fill level as a percentage with one decimal, truncated.
fn percent(used: u32, size: u32) -> Option<String> {
    if size == 0 {
        return None;
    }
    let tenths = u64::from(used) * 1000 / u64::from(size);
    Some(format!("{}.{}%", tenths / 10, tenths % 10))
}

/// Renders a number of milliseconds as seconds, without trailing zeros.
pub fn seconds(ms: u64) -> String {
    let frac = ms % 1000;
    if frac == 0 {
        format!("{}s", ms / 1000)
    } else {
        let frac = format!("{frac:03}");
        format!("{}.{}s", ms / 1000, frac.trim_end_matches('0'))
    }
}

/// Renders `MYDEV_STATUS` for people.
pub fn status_human(device: &str, s: &MydevStatus) -> String {
    let mut out = String::new();
    line(&mut out, "device", device);
    line(&mut out, "buffer_size", bytes(s.buffer_size.into()));
    let used = bytes(s.bytes_used.into());
    match percent(s.bytes_used, s.buffer_size) {
        Some(p) => line(&mut out, "bytes_used", format!("{used}, {p} full")),
        None => line(&mut out, "bytes_used", used),
    }
    line(
        &mut out,
        "bytes_free",
        bytes(s.buffer_size.saturating_sub(s.bytes_used).into()),
    );
    line(
        &mut out,
        "open_count",
        format!("{} (mydevctl's own included)", s.open_count),
    );
    line(&mut out, "read_count", s.read_count);
    line(&mut out, "write_count", s.write_count);
    out
}

fn hung_up(s: &MydevStats) -> bool {
    s.flags & MYDEV_FLAG_HUNG_UP != 0
}

/// Renders `MYDEV_STATS` for people.
pub fn stats_human(device: &str, s: &MydevStats) -> String {
    let mut out = String::new();
    line(&mut out, "device", device);
    line(&mut out, "version", s.version);
    line(&mut out, "bytes_read", count_bytes(s.bytes_read));
    line(&mut out, "bytes_written", count_bytes(s.bytes_written));
    line(&mut out, "reads", s.reads);
    line(&mut out, "writes", s.writes);
    line(&mut out, "reader_sleeps", s.reader_sleeps);
    line(&mut out, "writer_sleeps", s.writer_sleeps);
    line(&mut out, "readers_waiting", s.readers_waiting);
    line(&mut out, "writers_waiting", s.writers_waiting);
    line(&mut out, "hung_up", if hung_up(s) { "yes" } else { "no" });
    out
}

/// Renders the outcome of `clear`, `resize` or `hangup` for people.
pub fn change_human(command: &str, device: &str, c: &Change) -> String {
    let (b, a) = (&c.before, &c.after);
    match command {
        "clear" => format!(
            "cleared {device}: bytes_used {} -> {}\n",
            b.bytes_used, a.bytes_used
        ),
        "resize" => format!(
            "resized {device}: buffer_size {} -> {}, bytes_used {} -> {}\n",
            bytes(b.buffer_size.into()),
            bytes(a.buffer_size.into()),
            b.bytes_used,
            a.bytes_used
        ),
        _ => {
            let mut out = format!(
                "hung up {device}: readers drain the {} bytes left, then see end-of-file; \
                 writers get EPIPE\n",
                a.bytes_used
            );
            if a.open_count <= 1 {
                out.push_str(
                    "note: no other process has the device open, so the hangup ends when \
                     mydevctl closes it\n",
                );
            }
            out
        }
    }
}

/// Renders a `watch` sample for people.
pub fn sample_human(device: &str, proc_path: &str, s: &Sample) -> String {
    let mut out = String::new();
    let of = match s.count {
        Some(n) => format!("{} of {n}", s.index),
        None => s.index.to_string(),
    };
    // Writing to a `String` cannot fail.
    let _ = writeln!(
        out,
        "mydevctl watch: {device} every {}, sample {of}",
        seconds(s.interval_ms)
    );
    let _ = writeln!(out, "\n{proc_path}");
    for (key, value) in &s.proc {
        line(&mut out, key, value);
    }
    out.push_str("\nMYDEV_STATS\n");
    line(&mut out, "reads", s.stats.reads);
    line(&mut out, "writes", s.stats.writes);
    line(&mut out, "reader_sleeps", s.stats.reader_sleeps);
    line(&mut out, "writer_sleeps", s.stats.writer_sleeps);
    line(&mut out, "read_rate", rate(s.read_rate));
    line(&mut out, "write_rate", rate(s.write_rate));
    out
}

/// Computes a rate in units per second from two counter readings.
///
/// Returns `None` when no time passed or the counter went backwards, which
/// happens when the module is reloaded between samples.
pub fn per_second(before: u64, after: u64, elapsed_ms: u64) -> Option<u64> {
    let delta = after.checked_sub(before)?;
    if elapsed_ms == 0 {
        return None;
    }
    let r = u128::from(delta) * 1000 / u128::from(elapsed_ms);
    Some(u64::try_from(r).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> MydevStatus {
        MydevStatus {
            buffer_size: 4096,
            bytes_used: 12,
            open_count: 3,
            read_count: 7,
            write_count: 9,
            _reserved: 0,
        }
    }

    fn stats() -> MydevStats {
        MydevStats {
            size: 72,
            version: 1,
            bytes_read: 123_456_789,
            bytes_written: 123_456_801,
            reads: 10,
            writes: 11,
            reader_sleeps: 2,
            writer_sleeps: 0,
            readers_waiting: 1,
            writers_waiting: 0,
            flags: 0,
            _reserved: 0,
        }
    }

    /// Status text is aligned `key: value` lines with sizes explained.
    #[test]
    fn status_human_exact() {
        assert_eq!(
            status_human("/dev/mydevice", &status()),
            "device:          /dev/mydevice\n\
             buffer_size:     4096 bytes (4 KiB)\n\
             bytes_used:      12 bytes, 0.2% full\n\
             bytes_free:      4084 bytes (3.9 KiB)\n\
             open_count:      3 (mydevctl's own included)\n\
             read_count:      7\n\
             write_count:     9\n"
        );
    }

    /// A full one-megabyte buffer shows 100% and no free space.
    #[test]
    fn status_human_full_buffer() {
        let s = MydevStatus {
            buffer_size: 1_048_576,
            bytes_used: 1_048_576,
            open_count: 1,
            ..MydevStatus::default()
        };
        let text = status_human("/dev/mydevice", &s);
        assert!(
            text.contains("buffer_size:     1048576 bytes (1 MiB)\n"),
            "{text}"
        );
        assert!(
            text.contains("bytes_used:      1048576 bytes (1 MiB), 100.0% full\n"),
            "{text}"
        );
        assert!(text.contains("bytes_free:      0 bytes\n"), "{text}");
    }

    /// Singular and zero-capacity edge cases render without dividing by 0.
    #[test]
    fn status_human_edge_cases() {
        let s = MydevStatus {
            buffer_size: 1,
            bytes_used: 1,
            ..MydevStatus::default()
        };
        let text = status_human("d", &s);
        assert!(text.contains("buffer_size:     1 byte\n"), "{text}");
        assert!(
            text.contains("bytes_used:      1 byte, 100.0% full\n"),
            "{text}"
        );
        let text = status_human("d", &MydevStatus::default());
        assert!(text.contains("bytes_used:      0 bytes\n"), "{text}");
    }

    /// Stats text lists every counter and the hangup flag.
    #[test]
    fn stats_human_exact() {
        assert_eq!(
            stats_human("/dev/mydevice", &stats()),
            "device:          /dev/mydevice\n\
             version:         1\n\
             bytes_read:      123456789 (117.7 MiB)\n\
             bytes_written:   123456801 (117.7 MiB)\n\
             reads:           10\n\
             writes:          11\n\
             reader_sleeps:   2\n\
             writer_sleeps:   0\n\
             readers_waiting: 1\n\
             writers_waiting: 0\n\
             hung_up:         no\n"
        );
        let hung = MydevStats {
            flags: MYDEV_FLAG_HUNG_UP,
            ..stats()
        };
        assert!(stats_human("d", &hung).ends_with("hung_up:         yes\n"));
    }

    /// Control commands report the state before and after.
    #[test]
    fn change_human_exact() {
        let before = status();
        let cleared = Change {
            before,
            after: MydevStatus {
                bytes_used: 0,
                ..before
            },
        };
        assert_eq!(
            change_human("clear", "/dev/mydevice", &cleared),
            "cleared /dev/mydevice: bytes_used 12 -> 0\n"
        );
        let resized = Change {
            before,
            after: MydevStatus {
                buffer_size: 65536,
                ..before
            },
        };
        assert_eq!(
            change_human("resize", "/dev/mydevice", &resized),
            "resized /dev/mydevice: buffer_size 4096 bytes (4 KiB) -> 65536 bytes (64 KiB), \
             bytes_used 12 -> 12\n"
        );
        let hung = Change {
            before,
            after: before,
        };
        assert_eq!(
            change_human("hangup", "/dev/mydevice", &hung),
            "hung up /dev/mydevice: readers drain the 12 bytes left, then see end-of-file; \
             writers get EPIPE\n"
        );
    }

    /// A hangup with no other opener warns that it ends at once.
    #[test]
    fn hangup_alone_warns() {
        let alone = MydevStatus {
            open_count: 1,
            ..status()
        };
        let text = change_human(
            "hangup",
            "/dev/mydevice",
            &Change {
                before: alone,
                after: alone,
            },
        );
        assert!(
            text.ends_with(
                "note: no other process has the device open, so the hangup ends when \
                 mydevctl closes it\n"
            ),
            "{text}"
        );
    }

    fn sample() -> Sample {
        Sample {
            index: 2,
            count: Some(3),
            interval_ms: 500,
            elapsed_ms: 501,
            proc: vec![
                ("buffer_size".to_owned(), "4096".to_owned()),
                ("bytes_used".to_owned(), "0".to_owned()),
                ("hung_up".to_owned(), "0".to_owned()),
                ("odd".to_owned(), "x\"y".to_owned()),
            ],
            stats: stats(),
            read_rate: Some(2048),
            write_rate: Some(0),
        }
    }

    /// A watch sample shows the proc file, the extra counters and rates.
    #[test]
    fn sample_human_exact() {
        assert_eq!(
            sample_human("/dev/mydevice", "/proc/mydevice", &sample()),
            "mydevctl watch: /dev/mydevice every 0.5s, sample 2 of 3\n\
             \n\
             /proc/mydevice\n\
             buffer_size:     4096\n\
             bytes_used:      0\n\
             hung_up:         0\n\
             odd:             x\"y\n\
             \n\
             MYDEV_STATS\n\
             reads:           10\n\
             writes:          11\n\
             reader_sleeps:   2\n\
             writer_sleeps:   0\n\
             read_rate:       2048 B/s (2 KiB/s)\n\
             write_rate:      0 B/s\n"
        );
        let first = Sample {
            index: 1,
            count: None,
            interval_ms: 1000,
            read_rate: None,
            write_rate: None,
            ..sample()
        };
        let text = sample_human("d", "p", &first);
        assert!(
            text.starts_with("mydevctl watch: d every 1s, sample 1\n"),
            "{text}"
        );
        assert!(
            text.ends_with("read_rate:       -\nwrite_rate:      -\n"),
            "{text}"
        );
    }

    /// Rates divide by the elapsed time and refuse backwards counters.
    #[test]
    fn rates() {
        assert_eq!(per_second(0, 1000, 1000), Some(1000));
        assert_eq!(per_second(0, 1000, 500), Some(2000));
        assert_eq!(per_second(0, 1, 3000), Some(0));
        assert_eq!(per_second(5, 5, 1000), Some(0));
        assert_eq!(per_second(10, 5, 1000), None);
        assert_eq!(per_second(0, 5, 0), None);
        assert_eq!(per_second(0, u64::MAX, 1), Some(u64::MAX));
    }

    /// Intervals print as seconds without trailing zeros.
    #[test]
    fn seconds_trim_zeros() {
        assert_eq!(seconds(1000), "1s");
        assert_eq!(seconds(500), "0.5s");
        assert_eq!(seconds(2250), "2.25s");
        assert_eq!(seconds(125), "0.125s");
        assert_eq!(seconds(86_400_000), "86400s");
    }
}
