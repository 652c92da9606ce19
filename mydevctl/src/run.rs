// SPDX-License-Identifier: GPL-2.0-only

//! Running a parsed command against the device.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mydevice_abi::{MydevStats, DEVICE_PATH, PROC_PATH};

use crate::cli::{self, Cli, Command, Parsed, Watch};
use crate::error::{Error, Ioctl, Op, EXIT_OK};
use crate::format::{self, Change, Sample};
use crate::{json, procfs};
use mydevice_abi::sys::{retry_eintr, Device, Errno, OFlag};

/// Clears a terminal and homes the cursor, for the redraws of `watch`.
const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

/// Picks the device node: `--device`, else a non-empty `$MYDEVICE_DEVICE`,
/// else `/dev/mydevice`.
pub fn resolve_device(option: Option<&PathBuf>, env: Option<OsString>) -> PathBuf {
    option
        .cloned()
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEVICE_PATH))
}

/// Runs the whole program and returns its exit code.
///
/// `args` excludes the program name. `env_device` is `$MYDEVICE_DEVICE`.
/// `terminal` says whether `out` is a terminal, which makes `watch` redraw
/// the screen. Errors are printed to `err` with a `mydevctl: ` prefix, or
/// with `--json` as a JSON object to `out`.
pub fn main<I>(
    args: I,
    env_device: Option<OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    terminal: bool,
) -> u8
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let json = cli::wants_json(&args);
    let (command, result) = match cli::parse(args) {
        Ok(Parsed::Print(text)) => (None, write_all(out, &text)),
        Ok(Parsed::Run(cli)) => {
            let device = resolve_device(cli.device.as_ref(), env_device);
            (
                Some(cli.command.name()),
                execute(&cli, &device, out, terminal),
            )
        }
        Err(e) => (None, Err(e)),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            report(&e, json.then_some(command), out, err);
            e.exit_code()
        }
    }
}

/// Prints an error: as JSON on `out` when `json` holds the failed command
/// (itself `None` for a usage error), else as text on `err`.
fn report(e: &Error, json_command: Option<Option<&str>>, out: &mut dyn Write, err: &mut dyn Write) {
    // When standard output itself failed, standard error is all that is left.
    if let (Some(command), false) = (json_command, matches!(e, Error::Output(_))) {
        if let Ok(line) = json::error(command, e) {
            if write_all(out, &line).is_ok() {
                return;
            }
        }
    }
    // Nothing useful is left to do if standard error fails too.
    let _ = writeln!(err, "mydevctl: {e}");
    if matches!(e, Error::Usage(_)) {
        let _ = writeln!(err, "{}", cli::TRY_HELP);
    }
}

/// Opens `path` read-only, or read-write when `write` is set.
///
/// The file is opened with `O_NONBLOCK`, so no later call on it can block,
/// and `O_NOCTTY`, in case `--device` names a terminal.
fn open(path: &Path, write: bool) -> Result<Device, Errno> {
    let access = if write {
        OFlag::O_RDWR
    } else {
        OFlag::O_RDONLY
    };
    Device::open(path, access | OFlag::O_NONBLOCK | OFlag::O_NOCTTY)
}

fn write_all(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes()).map_err(Error::Output)?;
    out.flush().map_err(Error::Output)
}

/// Runs one parsed command against `device`, printing to `out`.
///
/// # Errors
///
/// Returns [`Error::Device`] when a system call on the device or its proc
/// file fails, and [`Error::Output`] when `out` cannot be written.
pub fn execute(cli: &Cli, device: &Path, out: &mut dyn Write, terminal: bool) -> Result<(), Error> {
    let command = cli.command.name();
    let shown = device.to_string_lossy();
    let fail = |op: Op| {
        move |errno: Errno| Error::Device {
            command,
            op,
            path: device.to_owned(),
            errno,
        }
    };
    let text = match &cli.command {
        Command::Status => {
            let dev = open(device, false).map_err(fail(Op::Open { write: false }))?;
            let s = retry_eintr(|| dev.status()).map_err(fail(Op::Ioctl(Ioctl::Status)))?;
            if cli.json {
                json::status(&shown, &s)?
            } else {
                format::status_human(&shown, &s)
            }
        }
        Command::Stats => {
            let dev = open(device, false).map_err(fail(Op::Open { write: false }))?;
            let s = retry_eintr(|| dev.stats()).map_err(fail(Op::Ioctl(Ioctl::Stats)))?;
            if cli.json {
                json::stats(&shown, &s)?
            } else {
                format::stats_human(&shown, &s)
            }
        }
        Command::Clear => control(cli.json, command, device, Ioctl::Clear)?,
        Command::Resize(n) => control(cli.json, command, device, Ioctl::Resize(*n))?,
        Command::Hangup => control(cli.json, command, device, Ioctl::Hangup)?,
        Command::Watch(watch) => return run_watch(cli.json, *watch, device, out, terminal),
    };
    write_all(out, &text)
}

/// Sends a control command and renders the status before and after it.
fn control(
    json: bool,
    command: &'static str,
    device: &Path,
    ioctl: Ioctl,
) -> Result<String, Error> {
    let fail = |op: Op| {
        move |errno: Errno| Error::Device {
            command,
            op,
            path: device.to_owned(),
            errno,
        }
    };
    let dev = open(device, true).map_err(fail(Op::Open { write: true }))?;
    // STATUS first proves that this is a mydevice node before a control
    // number, which could mean something else to another driver, is sent.
    let before = retry_eintr(|| dev.status()).map_err(fail(Op::Ioctl(Ioctl::Status)))?;
    match ioctl {
        Ioctl::Clear => retry_eintr(|| dev.clear()),
        Ioctl::Resize(n) => retry_eintr(|| dev.resize(n)),
        Ioctl::Hangup => retry_eintr(|| dev.hangup()),
        Ioctl::Status | Ioctl::Stats => Ok(()),
    }
    .map_err(fail(Op::Ioctl(ioctl)))?;
    let after = retry_eintr(|| dev.status()).map_err(fail(Op::Ioctl(Ioctl::Status)))?;
    let change = Change { before, after };
    let shown = device.to_string_lossy();
    if json {
        json::change(command, &shown, &change)
    } else {
        Ok(format::change_human(command, &shown, &change))
    }
}

fn run_watch(
    json: bool,
    watch: Watch,
    device: &Path,
    out: &mut dyn Write,
    terminal: bool,
) -> Result<(), Error> {
    let fail = |op: Op, path: &Path| {
        let path = path.to_owned();
        move |errno: Errno| Error::Device {
            command: "watch",
            op,
            path,
            errno,
        }
    };
    let mut probe = || {
        let text = std::fs::read_to_string(PROC_PATH).map_err(|e| {
            fail(Op::ReadProc, Path::new(PROC_PATH))(
                e.raw_os_error().map_or(Errno::EIO, Errno::from_raw),
            )
        })?;
        // A fresh open per sample keeps the module unpinned between samples.
        let stats = open(device, false)
            .map_err(fail(Op::Open { write: false }, device))?
            .stats()
            .map_err(fail(Op::Ioctl(Ioctl::Stats), device))?;
        Ok((text, stats))
    };
    watch_loop(
        json,
        watch,
        &device.to_string_lossy(),
        &mut probe,
        out,
        terminal,
    )
}

/// Takes and prints samples from `probe` on a fixed schedule.
///
/// `probe` returns the text of `/proc/mydevice` and `MYDEV_STATS`; tests pass
/// a fake one.
///
/// # Errors
///
/// Returns the first error of `probe`, or [`Error::Output`].
pub fn watch_loop(
    json: bool,
    watch: Watch,
    shown: &str,
    probe: &mut dyn FnMut() -> Result<(String, MydevStats), Error>,
    out: &mut dyn Write,
    terminal: bool,
) -> Result<(), Error> {
    let interval = Duration::from_millis(watch.interval_ms);
    let start = Instant::now();
    let mut previous: Option<(u64, u64, u64)> = None;
    let mut index: u64 = 0;
    loop {
        index += 1;
        let (text, stats) = probe()?;
        let elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (read_rate, write_rate) = match previous {
            Some((ms, read, written)) => {
                let dt = elapsed_ms.saturating_sub(ms);
                (
                    format::per_second(read, stats.bytes_read, dt),
                    format::per_second(written, stats.bytes_written, dt),
                )
            }
            None => (None, None),
        };
        previous = Some((elapsed_ms, stats.bytes_read, stats.bytes_written));
        let sample = Sample {
            index,
            count: watch.count,
            interval_ms: watch.interval_ms,
            elapsed_ms,
            proc: procfs::parse(&text),
            stats,
            read_rate,
            write_rate,
        };
        let text = if json {
            json::sample(shown, &sample)?
        } else {
            let body = format::sample_human(shown, PROC_PATH, &sample);
            if terminal {
                format!("{CLEAR_SCREEN}{body}")
            } else if index > 1 {
                format!("\n{body}")
            } else {
                body
            }
        };
        write_all(out, &text)?;
        if watch.count == Some(index) {
            return Ok(());
        }
        // Sleep to a fixed schedule, so that samples do not drift.
        let next = interval.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
        std::thread::sleep(next.saturating_sub(start.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--device` beats the environment, which beats the default.
    #[test]
    fn device_resolution_order() {
        let opt = PathBuf::from("/dev/a");
        assert_eq!(
            resolve_device(Some(&opt), Some("/dev/b".into())),
            PathBuf::from("/dev/a")
        );
        assert_eq!(
            resolve_device(None, Some("/dev/b".into())),
            PathBuf::from("/dev/b")
        );
        assert_eq!(resolve_device(None, None), PathBuf::from("/dev/mydevice"));
        // An empty variable is treated as unset.
        assert_eq!(
            resolve_device(None, Some(OsString::new())),
            PathBuf::from("/dev/mydevice")
        );
    }

    fn run(args: &[&str]) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = main(args.iter().copied(), None, &mut out, &mut err, false);
        (
            code,
            String::from_utf8(out).expect("UTF-8 output"),
            String::from_utf8(err).expect("UTF-8 errors"),
        )
    }

    /// A usage error exits 2, names the problem and points at --help.
    #[test]
    fn usage_error_exits_2() {
        let (code, out, err) = run(&["resize", "0"]);
        assert_eq!(code, 2, "stderr: {err}");
        assert_eq!(out, "");
        assert_eq!(
            err,
            "mydevctl: invalid value '0' for '<SIZE>': 0 bytes is invalid (1..=1048576)\n\
             Try 'mydevctl --help' for more information.\n"
        );
    }

    /// With --json, errors are one JSON object on standard output, and the
    /// exit code stays the same.
    #[test]
    fn json_errors_go_to_stdout() {
        for (args, code, kind, name) in [
            (&["--json", "resize", "0"][..], 2, "usage", None),
            (&["resize", "--json", "--bogus"][..], 2, "usage", None),
            (
                &["--json", "--device", "/nonexistent/mydevice", "status"][..],
                3,
                "device",
                Some("ENOENT"),
            ),
            (
                &["--json", "-d", "/dev/null", "stats"][..],
                1,
                "device",
                Some("ENOTTY"),
            ),
        ] {
            let (got, out, err) = run(args);
            assert_eq!(got, code, "{args:?}: stdout {out}, stderr {err}");
            assert_eq!(err, "", "{args:?}: nothing on stderr");
            let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
            assert_eq!(v["schema_version"], 1, "{out}");
            assert_eq!(v["error"]["kind"], kind, "{out}");
            assert_eq!(v["error"]["name"].as_str(), name, "{out}");
            assert!(v["error"]["message"].is_string(), "{out}");
        }
    }

    /// A missing node exits 3 and names ENOENT.
    #[test]
    fn missing_device_exits_3() {
        let (code, out, err) = run(&["--device", "/nonexistent/mydevice", "status"]);
        assert_eq!(code, 3, "stderr: {err}");
        assert_eq!(out, "");
        assert!(
            err.starts_with(
                "mydevctl: status: cannot open /nonexistent/mydevice for reading: ENOENT"
            ),
            "{err}"
        );
    }

    /// A node of another driver fails STATUS with ENOTTY and exits 1.
    #[test]
    fn foreign_node_is_enotty() {
        let (code, _, err) = run(&["--device", "/dev/null", "stats"]);
        assert_eq!(code, 1, "stderr: {err}");
        assert!(
            err.contains("MYDEV_STATS on /dev/null failed: ENOTTY"),
            "{err}"
        );
    }

    /// Help and version print to standard output and exit 0.
    #[test]
    fn help_and_version_exit_0() {
        let (code, out, err) = run(&["--help"]);
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(out, cli::command().render_long_help().to_string());
        let (code, out, _) = run(&["--version"]);
        assert_eq!(code, 0);
        assert_eq!(out, format!("mydevctl {}\n", env!("CARGO_PKG_VERSION")));
    }

    struct BrokenPipe;

    impl Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A closed pipe on standard output ends the program quietly.
    #[test]
    fn broken_pipe_is_quiet() {
        let mut err = Vec::new();
        let code = main(["--help"], None, &mut BrokenPipe, &mut err, false);
        assert_eq!(code, 0);
        assert!(err.is_empty());
    }

    fn fake_stats(n: u64) -> MydevStats {
        MydevStats {
            size: 72,
            version: 1,
            bytes_read: n * 1000,
            bytes_written: n * 2000,
            ..MydevStats::default()
        }
    }

    /// `--count N` takes exactly N samples, on schedule, with rates from the second.
    #[test]
    fn watch_takes_count_samples() {
        let mut calls = 0;
        let mut probe = || {
            calls += 1;
            Ok((format!("bytes_used: {calls}\n"), fake_stats(calls)))
        };
        let mut out = Vec::new();
        let watch = Watch {
            interval_ms: 100,
            count: Some(3),
        };
        let start = Instant::now();
        watch_loop(true, watch, "/dev/mydevice", &mut probe, &mut out, false)
            .expect("the fake probe does not fail");
        let took = start.elapsed();
        assert_eq!(calls, 3, "expected 3 probes");
        assert!(
            took >= Duration::from_millis(200),
            "3 samples 100 ms apart took only {took:?}"
        );
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "one JSON line per sample: {text}");
        for (i, line) in lines.iter().enumerate() {
            let want = format!(
                "{{\"schema_version\":1,\"command\":\"watch\",\"device\":\"/dev/mydevice\",\
                 \"sample\":{},",
                i + 1
            );
            assert!(line.starts_with(&want), "line {i}: {line}");
            assert!(
                line.contains(&format!("\"proc\":{{\"bytes_used\":{}}}", i + 1)),
                "line {i}: {line}"
            );
        }
        assert!(lines[0].ends_with("\"read_rate\":null,\"write_rate\":null}"));
        assert!(lines[1].contains("\"read_rate\":"), "{}", lines[1]);
        assert!(!lines[1].contains("null"), "{}", lines[1]);
    }

    /// Human samples are separated by a blank line, or redrawn on a terminal.
    #[test]
    fn watch_human_redraws_only_on_terminals() {
        let watch = Watch {
            interval_ms: 100,
            count: Some(2),
        };
        for terminal in [false, true] {
            let mut probe = || Ok((String::from("hung_up: 0\n"), fake_stats(1)));
            let mut out = Vec::new();
            watch_loop(false, watch, "d", &mut probe, &mut out, terminal).expect("no failure");
            let text = String::from_utf8(out).expect("UTF-8");
            assert_eq!(
                text.matches(CLEAR_SCREEN).count(),
                if terminal { 2 } else { 0 }
            );
            assert_eq!(
                text.matches("mydevctl watch: d every 0.1s, sample ")
                    .count(),
                2
            );
            if !terminal {
                assert!(
                    text.contains("write_rate:      -\n\nmydevctl watch:"),
                    "{text}"
                );
            }
        }
    }

    /// A probe failure ends the watch with that error.
    #[test]
    fn watch_stops_on_error() {
        let mut probe = || {
            Err(Error::Device {
                command: "watch",
                op: Op::ReadProc,
                path: PathBuf::from(PROC_PATH),
                errno: Errno::ENOENT,
            })
        };
        let mut out = Vec::new();
        let err = watch_loop(false, Watch::default(), "d", &mut probe, &mut out, false)
            .expect_err("the probe fails");
        assert_eq!(err.exit_code(), crate::EXIT_MISSING);
        assert!(out.is_empty());
    }
}
