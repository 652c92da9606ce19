// SPDX-License-Identifier: GPL-2.0-only

//! The command line: its one definition and its parsing.
//!
//! [`command`] is the only description of mydevctl's commands and options.
//! `--help` is rendered from it, the shell completions in `completions/` are
//! generated from it, and the tests check mydevctl(1) against it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{value_parser, Arg, ArgAction, ArgMatches, ValueHint};

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

/// The parsed command line of a command that talks to the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cli {
    /// Print JSON objects instead of text.
    pub json: bool,
    /// The device node given with `--device`.
    pub device: Option<PathBuf>,
    /// What to do.
    pub command: Command,
}

/// What a command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run a command against the device.
    Run(Cli),
    /// Print this text and exit 0: the help or the version.
    Print(String),
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
}

impl Command {
    /// The name of the subcommand, as used in messages and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Stats => "stats",
            Self::Clear => "clear",
            Self::Resize(_) => "resize",
            Self::Hangup => "hangup",
            Self::Watch(_) => "watch",
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

/// Parses `--interval` seconds, with up to three decimals, into milliseconds.
///
/// # Errors
///
/// Returns a message for anything but `N` or `N.F{1,3}`, and for values
/// outside 0.1 to 86400 seconds.
pub fn parse_interval(arg: &str) -> Result<u64, String> {
    let bad = || format!("{arg:?} is not a number of seconds (e.g. 1, 0.5 or 2.25)");
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
    let too_long = || format!("{arg} seconds is out of range (0.1..=86400)");
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
/// Returns a message for anything but a positive decimal integer.
pub fn parse_count(arg: &str) -> Result<u64, String> {
    match arg.parse::<u64>() {
        Ok(n) if n >= 1 && arg.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "{arg:?} is invalid: expected a number of samples, 1 or more"
        )),
    }
}

const DESCRIPTION: &str = "\
Inspect and control the mydevice kernel FIFO.

/dev/mydevice is one blocking FIFO byte stream held in the kernel and shared
by every process that opens it, with control ioctls, statistics and a text
snapshot in /proc/mydevice. mydevctl shows its state and sends its control
commands. It never reads or writes the stream itself, so it consumes no data
and never blocks.";

/// The end of `-h`: where the rest is.
const MORE: &str = "\
See 'mydevctl --help' for the exit status, errors and examples, and
mydevctl(1) for the JSON output.";

/// The end of `--help`: the sections that mydevctl(1) also has.
const MORE_LONG: &str = "\
Access:
  status, stats and watch open the device read-only. clear, resize and
  hangup open it read-write and non-blocking, and first check with
  MYDEV_STATUS that it is a mydevice node. The module creates the node with
  mode 0600, so use root, or a udev rule that gives a group access (see
  Files).

Exit status:
  0   Success.
  1   The device or the system refused an operation. The message names the
      errno and what it means for this device.
  2   Usage error: a bad command, option or argument. Nothing was sent to
      the device.
  3   The device is missing: the node or /proc/mydevice does not exist or
      has no driver, which usually means the module is not loaded.

Errors:
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

Environment:
  MYDEVICE_DEVICE
      The device node to use when --device is not given.

Files:
  /dev/mydevice
      The device node.
  /proc/mydevice
      The text snapshot that watch shows.
  /sys/module/mydevice/parameters/buffer_size
      The capacity the module was loaded with.
  /etc/udev/rules.d/60-mydevice.rules
      A udev rule for group access, for example:
      KERNEL==\"mydevice\", GROUP=\"mydevice\", MODE=\"0660\"

Examples:
  mydevctl status
  mydevctl --json stats
  sudo mydevctl resize 64K
  sudo mydevctl clear
  mydevctl watch --interval 0.5
  mydevctl --json watch --count 10 --interval 2 > samples.jsonl
  MYDEVICE_DEVICE=/dev/mydevice mydevctl stats

See also:
  mydevctl(1), mydevice(4), modprobe(8), udev(7)";

/// The definition of mydevctl's command line.
pub fn command() -> clap::Command {
    clap::Command::new("mydevctl")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Inspect and control the mydevice kernel FIFO")
        .long_about(DESCRIPTION)
        .after_help(MORE)
        .after_long_help(MORE_LONG)
        .subcommand_required(true)
        .max_term_width(80)
        .arg(
            Arg::new("json")
                .long("json")
                .global(true)
                .display_order(10)
                .action(ArgAction::SetTrue)
                .help("Print JSON objects, one per line, instead of text")
                .long_help(
                    "Print one JSON object per line instead of text: one per command,\n\
                     or one per sample for watch. Every object has \"schema_version\"\n\
                     and keeps the types that mydevctl(1) documents. An error is an\n\
                     object with an \"error\" member, also on standard output.",
                ),
        )
        .arg(
            Arg::new("device")
                .short('d')
                .long("device")
                .global(true)
                .value_name("PATH")
                .value_hint(ValueHint::FilePath)
                .value_parser(value_parser!(PathBuf))
                .display_order(11)
                .help("Use this node, not $MYDEVICE_DEVICE or /dev/mydevice"),
        )
        .subcommand(
            clap::Command::new("status")
                .about("Show MYDEV_STATUS: capacity, bytes used and free, open files")
                .long_about(
                    "Show MYDEV_STATUS: the capacity, the bytes buffered and free, the\n\
                     open files (mydevctl's own included) and the successful read()\n\
                     and write() calls (32-bit counters that wrap).",
                ),
        )
        .subcommand(
            clap::Command::new("stats")
                .about("Show MYDEV_STATS: 64-bit counters, sleepers, hangup")
                .long_about(
                    "Show MYDEV_STATS: 64-bit counters since the module was loaded\n\
                     (bytes and calls of read() and write(), and how often readers and\n\
                     writers went to sleep), how many readers and writers sleep now,\n\
                     and whether the device is hung up.",
                ),
        )
        .subcommand(
            clap::Command::new("clear")
                .about("Discard the buffered data (MYDEV_CLEAR)")
                .long_about("Discard all buffered data (MYDEV_CLEAR) and wake blocked writers."),
        )
        .subcommand(
            clap::Command::new("resize")
                .about("Set the capacity (MYDEV_RESIZE), e.g. 64K")
                .long_about(
                    "Set the capacity (MYDEV_RESIZE). Shrinking below the bytes held\n\
                     keeps the oldest bytes. If the kernel cannot allocate the new\n\
                     buffer (ENOMEM), the old buffer and its data are untouched.",
                )
                .arg(
                    Arg::new("size")
                        .value_name("SIZE")
                        .required(true)
                        .allow_negative_numbers(true)
                        .value_parser(parse_capacity)
                        .help("Bytes, with an optional binary unit: 4096, 64K, 64KiB, 1M")
                        .long_help(
                            "Bytes with an optional binary unit, case-insensitive: 4096,\n\
                             512B, 64K, 64KiB, 1M or 1MiB (KB, MB and GB are refused as\n\
                             ambiguous). It must be within 1..=1048576; other values are\n\
                             refused before the kernel is asked.",
                        ),
                ),
        )
        .subcommand(
            clap::Command::new("hangup")
                .about("Hang the device up (MYDEV_HANGUP)")
                .long_about(
                    "Hang the device up (MYDEV_HANGUP): readers drain what is left,\n\
                     then see end-of-file; writers get EPIPE. The state ends when the\n\
                     last open file of the device is closed, so with no other opener\n\
                     it ends as soon as mydevctl exits.",
                ),
        )
        .subcommand(
            clap::Command::new("watch")
                .about("Redraw /proc/mydevice and MYDEV_STATS, with rates")
                .long_about(
                    "Redraw /proc/mydevice and MYDEV_STATS every SECS seconds, with the\n\
                     read and write rates since the previous sample. Runs until\n\
                     interrupted, or for N samples with --count. The device is opened\n\
                     anew for each sample, so watch does not keep the module pinned\n\
                     between samples.",
                )
                .arg(
                    Arg::new("interval")
                        .long("interval")
                        .value_name("SECS")
                        .value_hint(ValueHint::Other)
                        .display_order(1)
                        .value_parser(parse_interval)
                        .help("Seconds between samples [default: 1]")
                        .long_help(
                            "Seconds between samples, from 0.1 to 86400, with up to three\n\
                             decimals [default: 1]",
                        ),
                )
                .arg(
                    Arg::new("count")
                        .long("count")
                        .value_name("N")
                        .value_hint(ValueHint::Other)
                        .display_order(2)
                        .value_parser(parse_count)
                        .help("Stop after N samples"),
                ),
        )
}

/// Whether the arguments ask for JSON, so that even a usage error is
/// printed as JSON.
pub fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Parses the arguments that follow the program name.
///
/// `--json` and `--device` may come before or after the subcommand, the
/// options of `watch` after it, and `--` ends the options.
///
/// # Errors
///
/// Returns [`Error::Usage`] for an unknown option or subcommand, a missing or
/// extra argument, an option given twice, or a value that does not parse,
/// including a resize size outside 1..=1048576.
pub fn parse<I>(args: I) -> Result<Parsed, Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let argv = std::iter::once(OsString::from("mydevctl")).chain(args.into_iter().map(Into::into));
    match command().try_get_matches_from(argv) {
        Ok(matches) => from_matches(&matches).map(Parsed::Run),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            Ok(Parsed::Print(e.render().to_string()))
        }
        Err(e) => Err(Error::Usage(usage_message(&e.render().to_string()))),
    }
}

/// The message of a clap error, without its `error: ` prefix and the usage
/// and `--help` lines that follow it.
fn usage_message(rendered: &str) -> String {
    let mut lines = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.trim().is_empty())
        .map(str::trim_end);
    let first = lines.next().unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    std::iter::once(first)
        .chain(lines)
        .collect::<Vec<_>>()
        .join("\n")
}

fn from_matches(m: &ArgMatches) -> Result<Cli, Error> {
    // clap has checked that a subcommand and its required arguments are
    // there; these errors cannot happen unless the definition changes.
    let missing = |what: &str| Error::Usage(format!("missing {what}"));
    let (name, sub) = m.subcommand().ok_or_else(|| missing("command"))?;
    let command = match name {
        "status" => Command::Status,
        "stats" => Command::Stats,
        "clear" => Command::Clear,
        "resize" => Command::Resize(
            *sub.get_one::<u32>("size")
                .ok_or_else(|| missing("resize size"))?,
        ),
        "hangup" => Command::Hangup,
        "watch" => Command::Watch(Watch {
            interval_ms: sub
                .get_one::<u64>("interval")
                .copied()
                .unwrap_or(DEFAULT_INTERVAL_MS),
            count: sub.get_one::<u64>("count").copied(),
        }),
        _ => return Err(Error::Usage(format!("unknown command {name:?}"))),
    };
    // Global options are visible in the subcommand's matches too.
    Ok(Cli {
        json: sub.get_flag("json"),
        device: sub.get_one::<PathBuf>("device").cloned(),
        command,
    })
}

/// The hint printed after a usage error.
pub const TRY_HELP: &str = "Try 'mydevctl --help' for more information.";

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(args: &[&str]) -> Cli {
        match parse(args.iter().copied()) {
            Ok(Parsed::Run(cli)) => cli,
            other => panic!("parsing {args:?}: expected a command, got {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(Error::Usage(text)) => text,
            other => panic!("parsing {args:?}: expected a usage error, got {other:?}"),
        }
    }

    fn printed(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Ok(Parsed::Print(text)) => text,
            other => panic!("parsing {args:?}: expected help or version, got {other:?}"),
        }
    }

    fn cmd(command: Command) -> Cli {
        Cli {
            json: false,
            device: None,
            command,
        }
    }

    /// The definition passes clap's own consistency checks.
    #[test]
    fn definition_is_consistent() {
        command().debug_assert();
    }

    /// Every subcommand without arguments parses.
    #[test]
    fn plain_subcommands() {
        assert_eq!(ok(&["status"]), cmd(Command::Status));
        assert_eq!(ok(&["stats"]), cmd(Command::Stats));
        assert_eq!(ok(&["clear"]), cmd(Command::Clear));
        assert_eq!(ok(&["hangup"]), cmd(Command::Hangup));
        assert_eq!(ok(&["watch"]), cmd(Command::Watch(Watch::default())));
    }

    /// Resize takes exactly one size in any accepted form.
    #[test]
    fn resize_parses_sizes() {
        assert_eq!(ok(&["resize", "4096"]), cmd(Command::Resize(4096)));
        assert_eq!(ok(&["resize", "64K"]), cmd(Command::Resize(65536)));
        assert_eq!(ok(&["resize", "64kib"]), cmd(Command::Resize(65536)));
        assert_eq!(ok(&["resize", "1M"]), cmd(Command::Resize(1_048_576)));
        let e = err(&["resize"]);
        assert!(e.contains("<SIZE>"), "{e}");
        let e = err(&["resize", "1K", "2K"]);
        assert!(e.contains("unexpected argument '2K'"), "{e}");
    }

    /// Out-of-range and malformed sizes are usage errors, before any syscall.
    #[test]
    fn resize_rejects_bad_sizes() {
        for (size, why) in [
            ("0", "0 bytes is invalid (1..=1048576)"),
            ("1048577", "1048577 bytes is invalid (1..=1048576)"),
            ("2M", "2M = 2097152 bytes is invalid (1..=1048576)"),
            (
                "-1",
                "\"-1\" is not a size: expected bytes like 4096, 64K, 1M or 64KiB",
            ),
            (
                "lots",
                "\"lots\" is not a size: expected bytes like 4096, 64K, 1M or 64KiB",
            ),
        ] {
            assert_eq!(
                err(&["resize", size]),
                format!("invalid value '{size}' for '<SIZE>': {why}")
            );
        }
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
        let cli = match parse([OsString::from("--device"), path.clone(), "stats".into()]) {
            Ok(Parsed::Run(cli)) => cli,
            other => panic!("parse a non-UTF-8 device path: {other:?}"),
        };
        assert_eq!(cli.device, Some(PathBuf::from(path)));
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
            ok(&["watch", "--count=1", "--interval=2"]),
            cmd(Command::Watch(Watch {
                interval_ms: 2000,
                count: Some(1),
            }))
        );
        let e = err(&["status", "--count", "1"]);
        assert!(e.starts_with("unexpected argument '--count'"), "{e}");
        let e = err(&["watch", "--count"]);
        assert!(e.contains("a value is required for '--count <N>'"), "{e}");
        let e = err(&["watch", "--count", "1", "--count", "2"]);
        assert!(e.contains("cannot be used multiple times"), "{e}");
        assert_eq!(
            err(&["watch", "--interval", "0"]),
            "invalid value '0' for '--interval <SECS>': 0 seconds is out of range (0.1..=86400)"
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
            let e = parse_interval(bad).expect_err(bad);
            assert!(e.contains("is not a number of seconds"), "{bad:?}: {e}");
        }
        for far in ["0", "0.05", "0.099", "86400.001", "99999999999999999999"] {
            let e = parse_interval(far).expect_err(far);
            assert_eq!(e, format!("{far} seconds is out of range (0.1..=86400)"));
        }
    }

    /// Counts are positive decimal integers.
    #[test]
    fn counts() {
        assert_eq!(parse_count("1").ok(), Some(1));
        assert_eq!(parse_count("18446744073709551615").ok(), Some(u64::MAX));
        for bad in ["0", "", "-1", "+1", "1.5", "x", "18446744073709551616"] {
            assert_eq!(
                parse_count(bad).expect_err(bad),
                format!("{bad:?} is invalid: expected a number of samples, 1 or more")
            );
        }
    }

    /// --help, -h, `help` and --version print instead of running.
    #[test]
    fn help_and_version_print() {
        let long = command().render_long_help().to_string();
        assert_eq!(printed(&["--help"]), long);
        assert_eq!(printed(&["help"]), long);
        assert_eq!(printed(&["-h"]), command().render_help().to_string());
        assert!(printed(&["resize", "--help"]).contains("1..=1048576"));
        assert!(printed(&["help", "watch"]).contains("--interval <SECS>"));
        assert_eq!(
            printed(&["--version"]),
            format!("mydevctl {}\n", env!("CARGO_PKG_VERSION"))
        );
        let e = err(&["status", "--", "--help"]);
        assert!(e.starts_with("unexpected argument '--help'"), "{e}");
    }

    /// `--` ends the options, so a following word is positional.
    #[test]
    fn double_dash_ends_options() {
        assert_eq!(ok(&["resize", "--", "64K"]).command, Command::Resize(65536));
        let e = err(&["resize", "--", "--json"]);
        assert!(e.starts_with("invalid value '--json' for '<SIZE>'"), "{e}");
        let e = err(&["status", "--", "--json"]);
        assert!(e.starts_with("unexpected argument '--json'"), "{e}");
    }

    /// Mistakes name what is wrong, and a near miss gets a suggestion.
    #[test]
    fn usage_errors() {
        let e = err(&[]);
        assert!(e.starts_with("'mydevctl' requires a subcommand"), "{e}");
        let e = err(&["statz"]);
        assert!(e.starts_with("unrecognized subcommand 'statz'"), "{e}");
        assert!(
            e.ends_with("\n  tip: some similar subcommands exist: 'status', 'stats'"),
            "{e}"
        );
        let e = err(&["--frob", "status"]);
        assert!(e.starts_with("unexpected argument '--frob'"), "{e}");
        let e = err(&["status", "extra"]);
        assert!(e.starts_with("unexpected argument 'extra'"), "{e}");
        let e = err(&["--json=1", "status"]);
        assert!(e.contains("--json"), "{e}");
        let e = err(&["status", "--device"]);
        assert!(
            e.contains("a value is required for '--device <PATH>'"),
            "{e}"
        );
        let e = err(&["--device", "", "status"]);
        assert!(
            e.contains("a value is required for '--device <PATH>'"),
            "{e}"
        );
        let e = err(&["-d", "/a", "--device", "/b", "status"]);
        assert!(e.contains("cannot be used multiple times"), "{e}");
        for e in [err(&[]), err(&["statz"]), err(&["resize", "0"])] {
            assert!(!e.contains("Usage:") && !e.starts_with("error:"), "{e}");
        }
    }

    /// `--json` is found before `--` only.
    #[test]
    fn json_is_found_before_the_double_dash() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(wants_json(&args(&["--json", "bogus"])));
        assert!(wants_json(&args(&["resize", "0", "--json"])));
        assert!(!wants_json(&args(&["status"])));
        assert!(!wants_json(&args(&["--", "--json"])));
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

    /// The help documents every command, option and exit code, in lines
    /// that fit a terminal.
    #[test]
    fn help_is_complete() {
        let help = command().render_long_help().to_string();
        for needle in [
            "status",
            "stats",
            "clear",
            "resize",
            "hangup",
            "watch",
            "--json",
            "-d, --device <PATH>",
            "-h, --help",
            "-V, --version",
            "MYDEVICE_DEVICE",
            "Exit status:",
            "  0   ",
            "  1   ",
            "  2   ",
            "  3   ",
            "ENOENT",
            "EACCES",
            "EBADF",
            "EINVAL",
            "ENOMEM",
            "ENOTTY",
            "Files:",
            "/proc/mydevice",
            "Examples:",
        ] {
            assert!(help.contains(needle), "the help lacks {needle:?}");
        }
        let mut all = vec![help, command().render_help().to_string()];
        for sub in command().get_subcommands_mut() {
            all.push(sub.render_long_help().to_string());
        }
        for text in &all {
            for (n, line) in text.lines().enumerate() {
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
}
