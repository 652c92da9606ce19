// SPDX-License-Identifier: GPL-2.0-only

//! The JSON output: one object per line, as `docs/mydevctl.schema.json`
//! describes it.
//!
//! Every object starts with `schema_version`. Each member has one type for
//! good, fixed by the structs below: counters are integers, flags booleans,
//! and a rate that cannot be computed yet is `null`, never a string. An
//! incompatible change of a member's name or type must raise
//! [`SCHEMA_VERSION`]; adding a member need not.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use mydevice_abi::{MydevStats, MydevStatus, MYDEV_FLAG_HUNG_UP};

use crate::error::{errno_name, Error};
use crate::format::{Change, Sample};

/// The version of the schema, the `schema_version` of every object.
pub const SCHEMA_VERSION: u32 = 1;

/// The keys of `/proc/mydevice` whose values are integers; in `watch`
/// samples they are JSON integers, and any other key is a string.
pub const PROC_INTEGER_KEYS: &[&str] = &[
    "buffer_size",
    "bytes_used",
    "open_count",
    "read_count",
    "write_count",
    "bytes_read",
    "bytes_written",
    "readers_waiting",
    "writers_waiting",
    "hung_up",
];

/// One output line: the members every object has, then its own.
#[derive(Serialize)]
struct Line<'a, T> {
    schema_version: u32,
    command: &'a str,
    device: &'a str,
    #[serde(flatten)]
    body: T,
}

/// `MYDEV_STATUS`, with the derived free space.
#[derive(Serialize)]
struct Status {
    buffer_size: u32,
    bytes_used: u32,
    bytes_free: u32,
    open_count: u32,
    read_count: u32,
    write_count: u32,
}

impl From<&MydevStatus> for Status {
    fn from(s: &MydevStatus) -> Self {
        Self {
            buffer_size: s.buffer_size,
            bytes_used: s.bytes_used,
            bytes_free: s.buffer_size.saturating_sub(s.bytes_used),
            open_count: s.open_count,
            read_count: s.read_count,
            write_count: s.write_count,
        }
    }
}

/// `MYDEV_STATS`, with the hangup flag decoded.
#[derive(Serialize)]
struct Stats {
    size: u32,
    version: u32,
    bytes_read: u64,
    bytes_written: u64,
    reads: u64,
    writes: u64,
    reader_sleeps: u64,
    writer_sleeps: u64,
    readers_waiting: u32,
    writers_waiting: u32,
    flags: u32,
    hung_up: bool,
}

impl From<&MydevStats> for Stats {
    fn from(s: &MydevStats) -> Self {
        Self {
            size: s.size,
            version: s.version,
            bytes_read: s.bytes_read,
            bytes_written: s.bytes_written,
            reads: s.reads,
            writes: s.writes,
            reader_sleeps: s.reader_sleeps,
            writer_sleeps: s.writer_sleeps,
            readers_waiting: s.readers_waiting,
            writers_waiting: s.writers_waiting,
            flags: s.flags,
            hung_up: s.flags & MYDEV_FLAG_HUNG_UP != 0,
        }
    }
}

/// The outcome of `clear`, `resize` or `hangup`.
#[derive(Serialize)]
struct ChangeBody {
    before: Status,
    after: Status,
}

/// A value of `/proc/mydevice`.
#[derive(Serialize)]
#[serde(untagged)]
enum ProcValue<'a> {
    Integer(u64),
    Text(&'a str),
}

/// The pairs of `/proc/mydevice` as one object, in file order.
struct Proc<'a>(Vec<(&'a str, ProcValue<'a>)>);

impl Serialize for Proc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// One `watch` sample.
#[derive(Serialize)]
struct SampleBody<'a> {
    sample: u64,
    elapsed_ms: u64,
    proc: Proc<'a>,
    stats: Stats,
    read_rate: Option<u64>,
    write_rate: Option<u64>,
}

/// An error, in place of the output of its command.
#[derive(Serialize)]
struct ErrorLine<'a> {
    schema_version: u32,
    command: Option<&'a str>,
    error: ErrorBody,
}

#[derive(Serialize)]
struct ErrorBody {
    kind: &'static str,
    errno: Option<i32>,
    name: Option<String>,
    message: String,
}

fn to_line<T: Serialize>(value: &T) -> Result<String, Error> {
    let mut text = serde_json::to_string(value).map_err(|e| Error::Output(e.into()))?;
    text.push('\n');
    Ok(text)
}

fn line<'a, T: Serialize>(command: &'a str, device: &'a str, body: T) -> Result<String, Error> {
    to_line(&Line {
        schema_version: SCHEMA_VERSION,
        command,
        device,
        body,
    })
}

/// Renders `MYDEV_STATUS` as one JSON line.
///
/// # Errors
///
/// Returns [`Error::Output`] if serialization fails, which it cannot for
/// these types.
pub fn status(device: &str, s: &MydevStatus) -> Result<String, Error> {
    line("status", device, Status::from(s))
}

/// Renders `MYDEV_STATS` as one JSON line.
///
/// # Errors
///
/// As [`status`].
pub fn stats(device: &str, s: &MydevStats) -> Result<String, Error> {
    line("stats", device, Stats::from(s))
}

/// Renders the outcome of `clear`, `resize` or `hangup` as one JSON line.
///
/// # Errors
///
/// As [`status`].
pub fn change(command: &str, device: &str, c: &Change) -> Result<String, Error> {
    let body = ChangeBody {
        before: Status::from(&c.before),
        after: Status::from(&c.after),
    };
    line(command, device, body)
}

/// Renders a `watch` sample as one JSON line.
///
/// # Errors
///
/// Returns [`Error::ProcFormat`] when a key of [`PROC_INTEGER_KEYS`] does
/// not hold an unsigned decimal integer, since printing it as a string would
/// change its type.
pub fn sample(device: &str, s: &Sample) -> Result<String, Error> {
    let mut proc = Vec::with_capacity(s.proc.len());
    for (key, value) in &s.proc {
        let value = if PROC_INTEGER_KEYS.contains(&key.as_str()) {
            match value.parse::<u64>() {
                Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => ProcValue::Integer(n),
                _ => {
                    return Err(Error::ProcFormat {
                        key: key.clone(),
                        value: value.clone(),
                    })
                }
            }
        } else {
            ProcValue::Text(value)
        };
        proc.push((key.as_str(), value));
    }
    let body = SampleBody {
        sample: s.index,
        elapsed_ms: s.elapsed_ms,
        proc: Proc(proc),
        stats: Stats::from(&s.stats),
        read_rate: s.read_rate,
        write_rate: s.write_rate,
    };
    line("watch", device, body)
}

/// Renders an error as one JSON line.
///
/// `command` is the subcommand that failed, or `None` when the command line
/// did not parse. `errno` and `name` are set for failed system calls only.
///
/// # Errors
///
/// As [`status`].
pub fn error(command: Option<&str>, err: &Error) -> Result<String, Error> {
    let (kind, errno) = match err {
        Error::Usage(_) => ("usage", None),
        Error::Device { errno, .. } => ("device", Some(*errno as i32)),
        Error::ProcFormat { .. } => ("proc_format", None),
        Error::Output(e) => ("output", e.raw_os_error()),
    };
    to_line(&ErrorLine {
        schema_version: SCHEMA_VERSION,
        command,
        error: ErrorBody {
            kind,
            errno,
            name: errno.map(errno_name),
            message: err.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;

    use serde_json::{json, Value};

    use crate::error::Op;
    use mydevice_abi::sys::Errno;

    fn parsed(text: &str) -> Value {
        assert!(text.ends_with('\n'), "one line: {text:?}");
        assert_eq!(text.matches('\n').count(), 1, "one line: {text:?}");
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn status_value() -> MydevStatus {
        MydevStatus {
            buffer_size: 4096,
            bytes_used: 12,
            open_count: 3,
            read_count: 7,
            write_count: 9,
            _reserved: 0,
        }
    }

    fn stats_value() -> MydevStats {
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

    /// Status JSON has every field, plus the derived free space, in order.
    #[test]
    fn status_exact() {
        assert_eq!(
            status("/dev/mydevice", &status_value()).expect("serializes"),
            "{\"schema_version\":1,\"command\":\"status\",\"device\":\"/dev/mydevice\",\
             \"buffer_size\":4096,\"bytes_used\":12,\"bytes_free\":4084,\"open_count\":3,\
             \"read_count\":7,\"write_count\":9}\n"
        );
    }

    /// A device path with quotes or control characters stays valid JSON.
    #[test]
    fn device_path_is_escaped() {
        let text = status("/dev/my \"dev\"\n", &MydevStatus::default()).expect("serializes");
        assert_eq!(parsed(&text)["device"], json!("/dev/my \"dev\"\n"));
    }

    /// Stats JSON has every field, the raw flags and a decoded boolean.
    #[test]
    fn stats_exact() {
        assert_eq!(
            stats("/dev/mydevice", &stats_value()).expect("serializes"),
            "{\"schema_version\":1,\"command\":\"stats\",\"device\":\"/dev/mydevice\",\
             \"size\":72,\"version\":1,\"bytes_read\":123456789,\"bytes_written\":123456801,\
             \"reads\":10,\"writes\":11,\"reader_sleeps\":2,\"writer_sleeps\":0,\
             \"readers_waiting\":1,\"writers_waiting\":0,\"flags\":0,\"hung_up\":false}\n"
        );
        let hung = MydevStats {
            flags: MYDEV_FLAG_HUNG_UP,
            bytes_read: u64::MAX,
            ..stats_value()
        };
        let v = parsed(&stats("d", &hung).expect("serializes"));
        assert_eq!(v["bytes_read"], json!(u64::MAX));
        assert_eq!(v["flags"], json!(1));
        assert_eq!(v["hung_up"], json!(true));
    }

    /// Control commands nest the two status snapshots.
    #[test]
    fn change_nests_before_and_after() {
        let before = status_value();
        let after = MydevStatus {
            buffer_size: 5,
            bytes_used: 5,
            ..before
        };
        let v = parsed(&change("resize", "/dev/mydevice", &Change { before, after }).expect("ok"));
        assert_eq!(v["schema_version"], json!(1));
        assert_eq!(v["command"], json!("resize"));
        assert_eq!(v["before"]["buffer_size"], json!(4096));
        assert_eq!(v["after"]["buffer_size"], json!(5));
        assert_eq!(v["after"]["bytes_free"], json!(0));
    }

    fn sample_value(proc: &[(&str, &str)]) -> Sample {
        Sample {
            index: 2,
            count: Some(3),
            interval_ms: 500,
            elapsed_ms: 501,
            proc: proc
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            stats: stats_value(),
            read_rate: Some(2048),
            write_rate: Some(0),
        }
    }

    /// A watch sample nests proc and stats, in the file's order.
    #[test]
    fn sample_exact() {
        let s = sample_value(&[("buffer_size", "4096"), ("hung_up", "0"), ("note", "x\"y")]);
        assert_eq!(
            sample("/dev/mydevice", &s).expect("serializes"),
            "{\"schema_version\":1,\"command\":\"watch\",\"device\":\"/dev/mydevice\",\
             \"sample\":2,\"elapsed_ms\":501,\"proc\":{\"buffer_size\":4096,\"hung_up\":0,\
             \"note\":\"x\\\"y\"},\"stats\":{\"size\":72,\"version\":1,\
             \"bytes_read\":123456789,\"bytes_written\":123456801,\"reads\":10,\
             \"writes\":11,\"reader_sleeps\":2,\"writer_sleeps\":0,\"readers_waiting\":1,\
             \"writers_waiting\":0,\"flags\":0,\"hung_up\":false},\"read_rate\":2048,\
             \"write_rate\":0}\n"
        );
        let first = Sample {
            read_rate: None,
            write_rate: None,
            ..s
        };
        let v = parsed(&sample("d", &first).expect("serializes"));
        assert_eq!(v["read_rate"], Value::Null);
        assert_eq!(v["write_rate"], Value::Null);
    }

    /// A proc key keeps its type whatever its value: documented counters are
    /// integers, other keys strings, even when they look like numbers.
    #[test]
    fn sample_types_depend_on_the_key_only() {
        let s = sample_value(&[("bytes_used", "0"), ("future", "17"), ("other", "-1")]);
        let v = parsed(&sample("d", &s).expect("serializes"));
        assert_eq!(
            v["proc"],
            json!({"bytes_used": 0, "future": "17", "other": "-1"})
        );
    }

    /// A documented counter that is not an integer fails the sample rather
    /// than turning into a string.
    #[test]
    fn sample_refuses_a_malformed_counter() {
        for bad in ["-1", "+1", "", "99999999999999999999", "x"] {
            let s = sample_value(&[("bytes_used", bad)]);
            match sample("d", &s) {
                Err(Error::ProcFormat { key, value }) => {
                    assert_eq!((key.as_str(), value.as_str()), ("bytes_used", bad));
                }
                other => panic!("{bad:?}: expected ProcFormat, got {other:?}"),
            }
        }
    }

    /// Errors carry the errno and its name where there is one.
    #[test]
    fn errors_are_objects() {
        let err = Error::Device {
            command: "status",
            op: Op::Open { write: false },
            path: PathBuf::from("/dev/mydevice"),
            errno: Errno::ENOENT,
        };
        let v = parsed(&error(Some("status"), &err).expect("serializes"));
        assert_eq!(v["schema_version"], json!(1));
        assert_eq!(v["command"], json!("status"));
        assert_eq!(v["error"]["kind"], json!("device"));
        assert_eq!(v["error"]["errno"], json!(Errno::ENOENT as i32));
        assert_eq!(v["error"]["name"], json!("ENOENT"));
        assert_eq!(v["error"]["message"], json!(err.to_string()));

        let usage = Error::Usage("unexpected argument 'x' found".to_owned());
        let v = parsed(&error(None, &usage).expect("serializes"));
        assert_eq!(v["command"], Value::Null);
        assert_eq!(
            v["error"],
            json!({"kind": "usage", "errno": null, "name": null,
                   "message": "unexpected argument 'x' found"})
        );
    }
}
