// SPDX-License-Identifier: GPL-2.0

//! The command line: parsing, the help text and the version.

use std::ffi::{OsStr, OsString};

use crate::error::Error;
use crate::size::parse_capacity;

/// The default time between two `watch` samples, in milliseconds.
pub const DEFAULT_INTERVAL_MS: u64 = 1000;
/// The shortest `--interval`, in milliseconds.
pub const MIN_INTERVAL_MS: u64 = 100;
/// The longest `--interval`, in milliseconds (one day).
pub const MAX_INTERVAL_MS: u64 = 86_400_000;

/// The environment variable that names the device when `--device` is absent.
pub const DEVICE_ENV: &str = "MYDEVICE_DEVICE";

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cli {
    /// Print JSON objects instead of text.
    pub json: bool,
    /// The device node given with `--device`.
    pub device: Option<OsString>,
    /// What to do.
    pub command: Command,
}

/// A subcommand with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Show `MYDEV_STATUS`.
    Status,
    /// Show `MYDEV_STATS`.
    Stats,
    /// Discard the buffered data.
    Clear,
    /// Set the capacity to this many bytes, already range-checked.
    Resize(u32),
    /// Hang the device up.
    Hangup,
    /// Show `/proc/mydevice` and `MYDEV_STATS` repeatedly.
    Watch(Watch),
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
}

impl Command {
    /// The name of the subcommand, as used in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Stats => "stats",
            Self::Clear => "clear",
            Self::Resize(_) => "resize",
            Self::Hangup => "hangup",
            Self::Watch(_) => "watch",
            Self::Help => "help",
            Self::Version => "version",
        }
    }

    /// Whether the command needs the device open for writing.
    pub fn needs_write(&self) -> bool {
        matches!(self, Self::Clear | Self::Resize(_) | Self::Hangup)
    }
}

/// The options of `watch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// Stop after this many samples; `None` runs until interrupted.
    pub count: Option<u64>,
}

impl Default for Watch {
    fn default() -> Self {
        Self {
            interval_ms: DEFAULT_INTERVAL_MS,
            count: None,
        }
    }
}

fn usage(text: impl Into<String>) -> Error {
    Error::Usage(text.into())
}

fn utf8<'a>(arg: &'a OsStr, what: &str) -> Result<&'a str, Error> {
    arg.to_str()
        .ok_or_else(|| usage(format!("{what} {arg:?} is not valid UTF-8")))
}

/// Parses `--interval` seconds, with up to three decimals, into milliseconds.
///
/// # Errors
///
/// Returns [`Error::Usage`] for anything but `N` or `N.F{1,3}`, and for values
/// outside 0.1 to 86400 seconds.
pub fn parse_interval(arg: &str) -> Result<u64, Error> {
    let bad = || {
        usage(format!(
            "--interval: {arg:?} is not a number of seconds (e.g. 1, 0.5 or 2.25)"
        ))
    };
    let (whole, frac) = arg.split_once('.').unwrap_or((arg, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !all_digits(whole)
        || !all_digits(frac)
        || frac.len() > 3
        || (arg.contains('.') && frac.is_empty())
    {
        return Err(bad());
    }
    let too_long = || {
        usage(format!(
            "--interval: {arg} seconds is out of range (0.1..=86400)"
        ))
    };
    let whole: u64 = whole.parse().map_err(|_| too_long())?;
    let frac_ms: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    let ms = whole
        .checked_mul(1000)
        .and_then(|w| w.checked_add(frac_ms))
        .ok_or_else(too_long)?;
    if (MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(too_long())
    }
}

/// Parses `--count`, a number of samples of at least 1.
///
/// # Errors
///
/// Returns [`Error::Usage`] for anything but a positive decimal integer.
pub fn parse_count(arg: &str) -> Result<u64, Error> {
    match arg.parse::<u64>() {
        Ok(n) if n >= 1 && arg.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(usage(format!(
            "--count: {arg:?} is invalid: expected a number of samples, 1 or more"
        ))),
    }
}

/// Parses the arguments that follow the program name.
///
/// Options may come before or after the subcommand, and `--` ends them.
/// `--help` and `--version` win over any other error, so `mydevctl resize
/// --help` shows the help.
///
/// # Errors
///
/// Returns [`Error::Usage`] for an unknown option or subcommand, a missing or
/// extra argument, an option given twice, or a value that does not parse,
/// including a resize size outside 1..=1048576.
pub fn parse<I>(args: I) -> Result<Cli, Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();

    // Help and version first, so that they work even on a broken line.
    for arg in &args {
        match arg.to_str() {
            Some("--") => break,
            Some("-h" | "--help") => return Ok(simple(Command::Help)),
            Some("-V" | "--version") => return Ok(simple(Command::Version)),
            _ => {}
        }
    }

    let mut json = false;
    let mut device: Option<OsString> = None;
    let mut interval: Option<u64> = None;
    let mut count: Option<u64> = None;
    let mut positional: Vec<OsString> = Vec::new();
    let mut options_done = false;
    let mut iter = args.into_iter();

    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str().filter(|_| !options_done) else {
            positional.push(arg);
            continue;
        };
        // A leading dash followed by a digit is a (negative) value, not an option.
        let is_option = text.starts_with('-')
            && text.len() > 1
            && !text[1..].starts_with(|c: char| c.is_ascii_digit());
        if text == "--" {
            options_done = true;
            continue;
        }
        if !is_option {
            positional.push(arg);
            continue;
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(OsString::from(value))),
            _ => (text, None),
        };
        let name = name.to_owned();
        let mut value = |what: &str| -> Result<OsString, Error> {
            inline
                .clone()
                .or_else(|| iter.next())
                .ok_or_else(|| usage(format!("{name} needs {what}")))
        };
        match name.as_str() {
            "--json" if inline.is_none() => {
                json = true;
            }
            "-d" | "--device" => {
                let path = value("a path, e.g. --device /dev/mydevice")?;
                if device.is_some() {
                    return Err(usage("--device is given twice"));
                }
                if path.is_empty() {
                    return Err(usage("--device needs a non-empty path"));
                }
                device = Some(path);
            }
            "--interval" => {
                let secs = value("a number of seconds, e.g. --interval 0.5")?;
                if interval.is_some() {
                    return Err(usage("--interval is given twice"));
                }
                interval = Some(parse_interval(utf8(&secs, "--interval")?)?);
            }
            "--count" => {
                let n = value("a number of samples, e.g. --count 10")?;
                if count.is_some() {
                    return Err(usage("--count is given twice"));
                }
                count = Some(parse_count(utf8(&n, "--count")?)?);
            }
            "--json" => return Err(usage("--json takes no value")),
            _ => return Err(usage(format!("unknown option {text:?}"))),
        }
    }

    let mut positional = positional.into_iter();
    let Some(name) = positional.next() else {
        return Err(usage(
            "missing command: status, stats, clear, resize, hangup, watch or help",
        ));
    };
    let name = utf8(&name, "command")?;
    let rest: Vec<OsString> = positional.collect();
    let no_args = |command: Command| -> Result<Command, Error> {
        match rest.first() {
            None => Ok(command),
            Some(extra) => Err(usage(format!(
                "{} takes no arguments, got {extra:?}",
                command.name()
            ))),
        }
    };
    let command = match name {
        "status" => no_args(Command::Status)?,
        "stats" => no_args(Command::Stats)?,
        "clear" => no_args(Command::Clear)?,
        "hangup" => no_args(Command::Hangup)?,
        "help" => no_args(Command::Help)?,
        "watch" => no_args(Command::Watch(Watch {
            interval_ms: interval.unwrap_or(DEFAULT_INTERVAL_MS),
            count,
        }))?,
        "resize" => match rest.as_slice() {
            [] => return Err(usage("resize needs a size, e.g. mydevctl resize 64K")),
            [size] => {
                let size = utf8(size, "resize: size")?;
                Command::Resize(parse_capacity(size).map_err(|e| usage(format!("resize: {e}")))?)
            }
            [_, extra, ..] => {
                return Err(usage(format!("resize takes one size, got also {extra:?}")));
            }
        },
        _ => {
            return Err(usage(format!(
                "unknown command {name:?}: expected status, stats, clear, resize, hangup, \
                 watch or help"
            )));
        }
    };
    if !matches!(command, Command::Watch(_)) {
        if interval.is_some() {
            return Err(usage("--interval only applies to watch"));
        }
        if count.is_some() {
            return Err(usage("--count only applies to watch"));
        }
    }
    Ok(Cli {
        json,
        device,
        command,
    })
}

fn simple(command: Command) -> Cli {
    Cli {
        json: false,
        device: None,
        command,
    }
}

/// The one line printed by `--version`.
pub fn version() -> String {
    format!("mydevctl {}", env!("CARGO_PKG_VERSION"))
}

/// The hint printed after a usage error.
pub const TRY_HELP: &str = "Try 'mydevctl --help' for more information.";

/// The text printed by `--help`; it follows the sections of mydevctl(1).
pub const HELP: &str = "\
mydevctl - inspect and control the mydevice kernel FIFO

USAGE
    mydevctl [--json] [--device PATH] COMMAND [ARGUMENTS]
    mydevctl --help | --version

DESCRIPTION
    /dev/mydevice is one blocking FIFO byte stream held in the kernel and
    shared by every process that opens it, with control ioctls, statistics
    and a text snapshot in /proc/mydevice. mydevctl shows its state and sends
    its control commands. It never reads or writes the stream itself, so it
    consumes no data and never blocks.

COMMANDS
    status
        Show MYDEV_STATUS: the capacity, the bytes buffered and free, the open
        files (mydevctl's own included) and the successful read() and write()
        calls (32-bit counters that wrap).

    stats
        Show MYDEV_STATS: 64-bit counters since the module was loaded (bytes
        and calls of read() and write(), and how often readers and writers
        went to sleep), how many readers and writers sleep now, and whether
        the device is hung up.

    clear
        Discard all buffered data (MYDEV_CLEAR) and wake blocked writers.

    resize SIZE
        Set the capacity (MYDEV_RESIZE). SIZE is bytes with an optional binary
        unit, case-insensitive: 4096, 512B, 64K, 64KiB, 1M or 1MiB (KB, MB
        and GB are refused as ambiguous). It must be within 1..=1048576;
        other values are refused before the kernel is asked. Shrinking below
        the bytes held keeps the oldest bytes. If the kernel cannot allocate
        the new buffer (ENOMEM), the old buffer and its data are untouched.

    hangup
        Hang the device up (MYDEV_HANGUP): readers drain what is left, then
        see end-of-file; writers get EPIPE. The state ends when the last open
        file of the device is closed, so with no other opener it ends as soon
        as mydevctl exits.

    watch [--interval SECS] [--count N]
        Redraw /proc/mydevice and MYDEV_STATS every SECS seconds (default 1,
        from 0.1 to 86400, up to three decimals), with the read and write
        rates since the previous sample. Runs until interrupted, or for N
        samples with --count. The device is opened anew for each sample, so
        watch does not keep the module pinned between samples.

    help
        Show this help.

OPTIONS
    --json
        Print one JSON object per line instead of text: one per command, or
        one per sample for watch. Keys are the field names of the UAPI
        structs. Errors stay text, on standard error.

    -d, --device PATH
        Use the device node PATH instead of /dev/mydevice or $MYDEVICE_DEVICE.

    --interval SECS, --count N
        Options of watch; see above.

    -h, --help
        Show this help and exit.

    -V, --version
        Show the version and exit.

    Options may come before or after the command; -- ends the options.

ACCESS
    status, stats and watch open the device read-only. clear, resize and
    hangup open it read-write and non-blocking, and first check with
    MYDEV_STATUS that it is a mydevice node. The module creates the node with
    mode 0600, so use root, or a udev rule that gives a group access (see
    FILES).

EXIT STATUS
    0   Success.
    1   The device or the system refused an operation. The message names the
        errno and what it means for this device.
    2   Usage error: a bad command, option or argument. Nothing was sent to
        the device.
    3   The device is missing: the node or /proc/mydevice does not exist or
        has no driver, which usually means the module is not loaded.

ERRORS
    ENOENT, ENODEV, ENXIO
        No node, or no driver behind it: load the module with
        `modprobe mydevice` (exit status 3).
    EACCES, EPERM
        Needs root, or membership of the group a udev rule gives the node.
    EBADF
        A control command on a file opened read-only.
    EINVAL
        The kernel refused the argument (resize: outside 1..=1048576).
    ENOMEM
        resize could not allocate the new buffer; the old one is untouched.
    ENOTTY
        Not a mydevice node, or a module too old to know the command.

ENVIRONMENT
    MYDEVICE_DEVICE
        The device node to use when --device is not given.

FILES
    /dev/mydevice
        The device node.
    /proc/mydevice
        The text snapshot that watch shows.
    /sys/module/mydevice/parameters/buffer_size
        The capacity the module was loaded with.
    /etc/udev/rules.d/60-mydevice.rules
        A udev rule for group access, for example:
        KERNEL==\"mydevice\", GROUP=\"mydevice\", MODE=\"0660\"

EXAMPLES
    mydevctl status
    mydevctl --json stats
    sudo mydevctl resize 64K
    sudo mydevctl clear
    mydevctl watch --interval 0.5
    mydevctl --json watch --count 10 --interval 2 > samples.jsonl
    MYDEVICE_DEVICE=/dev/mydevice mydevctl stats

SEE ALSO
    mydevctl(1), modprobe(8), udev(7)
";

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(args: &[&str]) -> Cli {
        parse(args.iter().copied()).unwrap_or_else(|e| panic!("parsing {args:?}: {e}"))
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Ok(cli) => panic!("parsing {args:?}: expected a usage error, got {cli:?}"),
            Err(Error::Usage(text)) => text,
            Err(e) => panic!("parsing {args:?}: expected a usage error, got {e:?}"),
        }
    }

    fn cmd(command: Command) -> Cli {
        Cli {
            json: false,
            device: None,
            command,
        }
    }

    /// Every subcommand without arguments parses.
    #[test]
    fn plain_subcommands() {
        assert_eq!(ok(&["status"]), cmd(Command::Status));
        assert_eq!(ok(&["stats"]), cmd(Command::Stats));
        assert_eq!(ok(&["clear"]), cmd(Command::Clear));
        assert_eq!(ok(&["hangup"]), cmd(Command::Hangup));
        assert_eq!(ok(&["help"]), cmd(Command::Help));
        assert_eq!(ok(&["watch"]), cmd(Command::Watch(Watch::default())));
    }

    /// Resize takes exactly one size in any accepted form.
    #[test]
    fn resize_parses_sizes() {
        assert_eq!(ok(&["resize", "4096"]), cmd(Command::Resize(4096)));
        assert_eq!(ok(&["resize", "64K"]), cmd(Command::Resize(65536)));
        assert_eq!(ok(&["resize", "64kib"]), cmd(Command::Resize(65536)));
        assert_eq!(ok(&["resize", "1M"]), cmd(Command::Resize(1_048_576)));
        assert_eq!(
            err(&["resize"]),
            "resize needs a size, e.g. mydevctl resize 64K"
        );
        assert_eq!(
            err(&["resize", "1K", "2K"]),
            "resize takes one size, got also \"2K\""
        );
    }

    /// Out-of-range and malformed sizes are usage errors, before any syscall.
    #[test]
    fn resize_rejects_bad_sizes() {
        assert_eq!(
            err(&["resize", "0"]),
            "resize: 0 bytes is invalid (1..=1048576)"
        );
        assert_eq!(
            err(&["resize", "1048577"]),
            "resize: 1048577 bytes is invalid (1..=1048576)"
        );
        assert_eq!(
            err(&["resize", "2M"]),
            "resize: 2M = 2097152 bytes is invalid (1..=1048576)"
        );
        assert_eq!(
            err(&["resize", "-1"]),
            "resize: \"-1\" is not a size: expected bytes like 4096, 64K, 1M or 64KiB"
        );
        assert_eq!(
            err(&["resize", "lots"]),
            "resize: \"lots\" is not a size: expected bytes like 4096, 64K, 1M or 64KiB"
        );
    }

    /// Global options work before and after the subcommand, in both forms.
    #[test]
    fn global_options_anywhere() {
        let want = Cli {
            json: true,
            device: Some("/dev/x".into()),
            command: Command::Status,
        };
        assert_eq!(ok(&["--json", "--device", "/dev/x", "status"]), want);
        assert_eq!(ok(&["status", "--json", "--device=/dev/x"]), want);
        assert_eq!(ok(&["-d", "/dev/x", "status", "--json"]), want);
        assert_eq!(ok(&["--device", "/dev/x", "--json", "status"]), want);
    }

    /// The device path may be any bytes, not only UTF-8.
    #[test]
    fn device_path_may_be_non_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let path = OsString::from_vec(b"/dev/\xffdev".to_vec());
        let cli = parse([OsString::from("--device"), path.clone(), "stats".into()])
            .expect("parse a non-UTF-8 device path");
        assert_eq!(cli.device, Some(path));
    }

    /// Watch takes an interval in seconds and a sample count.
    #[test]
    fn watch_options() {
        assert_eq!(
            ok(&["watch", "--interval", "0.5", "--count", "3"]),
            cmd(Command::Watch(Watch {
                interval_ms: 500,
                count: Some(3),
            }))
        );
        assert_eq!(
            ok(&["--count=1", "watch", "--interval=2"]),
            cmd(Command::Watch(Watch {
                interval_ms: 2000,
                count: Some(1),
            }))
        );
        assert_eq!(
            err(&["status", "--count", "1"]),
            "--count only applies to watch"
        );
        assert_eq!(
            err(&["stats", "--interval", "1"]),
            "--interval only applies to watch"
        );
        assert_eq!(
            err(&["watch", "--count"]),
            "--count needs a number of samples, e.g. --count 10"
        );
        assert_eq!(
            err(&["watch", "--count", "1", "--count", "2"]),
            "--count is given twice"
        );
    }

    /// Intervals accept up to three decimals within 0.1 to 86400 seconds.
    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1").ok(), Some(1000));
        assert_eq!(parse_interval("0.1").ok(), Some(100));
        assert_eq!(parse_interval("2.25").ok(), Some(2250));
        assert_eq!(parse_interval("0.125").ok(), Some(125));
        assert_eq!(parse_interval("86400").ok(), Some(86_400_000));
        for bad in [
            "", "abc", "1.", ".5", "-1", "1e3", "0.0001", "inf", "NaN", "1,5", " 1",
        ] {
            let e = parse_interval(bad).expect_err(bad).to_string();
            assert!(e.contains("is not a number of seconds"), "{bad:?}: {e}");
        }
        for far in ["0", "0.05", "0.099", "86400.001", "99999999999999999999"] {
            let e = parse_interval(far).expect_err(far).to_string();
            assert_eq!(
                e,
                format!("--interval: {far} seconds is out of range (0.1..=86400)")
            );
        }
    }

    /// Counts are positive decimal integers.
    #[test]
    fn counts() {
        assert_eq!(parse_count("1").ok(), Some(1));
        assert_eq!(parse_count("18446744073709551615").ok(), Some(u64::MAX));
        for bad in ["0", "", "-1", "+1", "1.5", "x", "18446744073709551616"] {
            assert_eq!(
                parse_count(bad).expect_err(bad).to_string(),
                format!("--count: {bad:?} is invalid: expected a number of samples, 1 or more")
            );
        }
    }

    /// --help and --version win wherever they appear, except after `--`.
    #[test]
    fn help_and_version_win() {
        assert_eq!(ok(&["--help"]), cmd(Command::Help));
        assert_eq!(ok(&["-h"]), cmd(Command::Help));
        assert_eq!(ok(&["resize", "--help"]), cmd(Command::Help));
        assert_eq!(ok(&["--bogus", "-h"]), cmd(Command::Help));
        assert_eq!(ok(&["--version"]), cmd(Command::Version));
        assert_eq!(ok(&["-V", "status"]), cmd(Command::Version));
        assert_eq!(
            err(&["status", "--", "--help"]),
            "status takes no arguments, got \"--help\""
        );
    }

    /// `--` ends the options, so a following word is positional.
    #[test]
    fn double_dash_ends_options() {
        assert_eq!(ok(&["--json", "--", "status"]).command, Command::Status);
        assert_eq!(
            err(&["--", "--json", "status"]),
            "unknown command \"--json\": expected status, stats, clear, resize, hangup, \
             watch or help"
        );
    }

    /// Mistakes name what is wrong.
    #[test]
    fn usage_errors() {
        assert_eq!(
            err(&[]),
            "missing command: status, stats, clear, resize, hangup, watch or help"
        );
        assert_eq!(
            err(&["frobnicate"]),
            "unknown command \"frobnicate\": expected status, stats, clear, resize, hangup, \
             watch or help"
        );
        assert_eq!(err(&["--frob", "status"]), "unknown option \"--frob\"");
        assert_eq!(err(&["-x", "status"]), "unknown option \"-x\"");
        assert_eq!(
            err(&["status", "extra"]),
            "status takes no arguments, got \"extra\""
        );
        assert_eq!(err(&["--json=1", "status"]), "--json takes no value");
        assert_eq!(
            err(&["status", "--device"]),
            "--device needs a path, e.g. --device /dev/mydevice"
        );
        assert_eq!(
            err(&["--device", "", "status"]),
            "--device needs a non-empty path"
        );
        assert_eq!(
            err(&["-d", "/a", "--device", "/b", "status"]),
            "--device is given twice"
        );
        assert_eq!(
            err(&["watch", "--interval", "0"]),
            "--interval: 0 seconds is out of range (0.1..=86400)"
        );
    }

    /// Only the control commands need write access.
    #[test]
    fn write_access() {
        assert!(Command::Clear.needs_write());
        assert!(Command::Resize(1).needs_write());
        assert!(Command::Hangup.needs_write());
        assert!(!Command::Status.needs_write());
        assert!(!Command::Stats.needs_write());
        assert!(!Command::Watch(Watch::default()).needs_write());
    }

    /// The help text documents every command, option and exit code.
    #[test]
    fn help_is_complete() {
        for needle in [
            "status",
            "stats",
            "clear",
            "resize SIZE",
            "hangup",
            "watch [--interval SECS] [--count N]",
            "--json",
            "-d, --device PATH",
            "-h, --help",
            "-V, --version",
            "MYDEVICE_DEVICE",
            "EXIT STATUS",
            "    0   ",
            "    1   ",
            "    2   ",
            "    3   ",
            "ENOENT",
            "EACCES",
            "EBADF",
            "EINVAL",
            "ENOMEM",
            "ENOTTY",
            "FILES",
            "/proc/mydevice",
            "EXAMPLES",
        ] {
            assert!(HELP.contains(needle), "the help lacks {needle:?}");
        }
        for (n, line) in HELP.lines().enumerate() {
            assert!(
                line.chars().count() <= 80,
                "help line {} is too long: {line:?}",
                n + 1
            );
            assert_eq!(
                line,
                line.trim_end(),
                "help line {} has trailing blanks",
                n + 1
            );
        }
    }
}
