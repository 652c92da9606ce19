// SPDX-License-Identifier: GPL-2.0-only

//! The manual pages: mydevctl(1) against the command definition that
//! `--help` comes from, mydevice(4) against the ABI, and both through
//! groff's warnings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mydevice_abi::{
    DEVICE_PATH, FIONREAD, MYDEV_CLEAR, MYDEV_HANGUP, MYDEV_RESIZE, MYDEV_STATS, MYDEV_STATUS,
    PARAM_PATH, PROC_PATH,
};

fn mydevctl_1() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mydevctl.1")
}

fn mydevice_4() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/mydevice.4")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Splits a macro line's arguments as roff does: by blanks, except inside
/// double quotes.
fn roff_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut arg = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !arg.is_empty() {
                    args.push(std::mem::take(&mut arg));
                }
            }
            c => arg.push(c),
        }
    }
    if !arg.is_empty() {
        args.push(arg);
    }
    args
}

/// The text a roff line prints, without its fonts: `.BR \-d ", " \-\-device`
/// reads `-d, --device`.
fn plain(line: &str) -> String {
    let (joined, rest) = match line.split_once(' ') {
        // The alternating-font macros join their arguments without blanks.
        Some((m, rest)) if m.len() == 3 && m.starts_with('.') => (true, rest),
        Some((m, rest)) if m.starts_with('.') => (false, rest),
        _ => (false, line),
    };
    let text = roff_args(rest).join(if joined { "" } else { " " });
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // A font change: \fB, \fI, \fR, \fP.
            Some('f') => {
                chars.next();
            }
            Some('-') => out.push('-'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => {}
        }
    }
    out
}

/// The body of section `name` (`.SH NAME` up to the next `.SH`).
fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let head = format!("\n.SH {name}\n");
    let start = page
        .find(&head)
        .unwrap_or_else(|| panic!("the page has no {name} section"))
        + head.len();
    let end = page[start..]
        .find("\n.SH ")
        .map_or(page.len(), |i| start + i);
    &page[start..end]
}

/// The tag lines of the `.TP` items of a section, as plain text.
fn tags(body: &str) -> Vec<String> {
    let lines: Vec<&str> = body.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .map(|w| plain(w[1]))
        .collect()
}

/// The words of `text` that look like options: `--json`, `-d`.
fn options_in(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || ",[]|=".contains(c))
        .filter(|w| w.starts_with('-') && w.len() > 1 && w != &"--")
        .map(str::to_owned)
        .collect()
}

/// Every option of the definition as `--long` and `-s`, with its value
/// names, for the top level and every subcommand.
fn defined_options() -> Vec<(String, Option<String>)> {
    let mut command = mydevctl::cli::command();
    command.build();
    let mut found = Vec::new();
    let mut add = |c: &clap::Command| {
        for arg in c.get_arguments().filter(|a| !a.is_positional()) {
            let value = arg
                .get_value_names()
                .and_then(|v| v.first())
                .map(|v| v.to_string().to_lowercase());
            if let Some(long) = arg.get_long() {
                found.push((format!("--{long}"), value.clone()));
            }
            if let Some(short) = arg.get_short() {
                found.push((format!("-{short}"), value));
            }
        }
    };
    add(&command);
    for sub in command.get_subcommands() {
        add(sub);
    }
    found.sort();
    found.dedup();
    found
}

/// mydevctl(1) carries the crate's version.
#[test]
fn mydevctl_1_has_the_version() {
    let page = read(&mydevctl_1());
    let th = page
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("a .TH line");
    assert!(
        th.contains(&format!("\"mydevctl {}\"", env!("CARGO_PKG_VERSION"))),
        "the .TH line does not carry version {}: {th}",
        env!("CARGO_PKG_VERSION")
    );
}

/// COMMANDS in mydevctl(1) lists exactly the subcommands of the definition,
/// each with its arguments.
#[test]
fn mydevctl_1_lists_every_command() {
    let page = read(&mydevctl_1());
    let tags = tags(section(&page, "COMMANDS"));
    let documented: BTreeSet<String> = tags
        .iter()
        .filter_map(|t| t.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let mut command = mydevctl::cli::command();
    command.build();
    let defined: BTreeSet<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    assert_eq!(
        documented, defined,
        "COMMANDS of mydevctl.1 vs. cli::command()"
    );
    for sub in command.get_subcommands() {
        let tag = tags
            .iter()
            .find(|t| t.split_whitespace().next() == Some(sub.get_name()))
            .expect("found above");
        for arg in sub.get_arguments().filter(|a| a.is_positional()) {
            for value in arg.get_value_names().into_iter().flatten() {
                let value = value.to_string().to_lowercase();
                assert!(tag.contains(&value), "{tag:?} lacks the argument {value}");
            }
        }
        for arg in sub.get_arguments().filter(|a| !a.is_global_set()) {
            if let Some(long) = arg.get_long().filter(|l| *l != "help") {
                assert!(tag.contains(&format!("--{long}")), "{tag:?} lacks --{long}");
            }
        }
    }
}

/// OPTIONS in mydevctl(1) documents every option of the definition with its
/// value, and no option the definition lacks.
#[test]
fn mydevctl_1_documents_every_option() {
    let page = read(&mydevctl_1());
    let tags = tags(section(&page, "OPTIONS"));
    let defined = defined_options();
    for (option, value) in &defined {
        let tag = tags
            .iter()
            .find(|t| options_in(t).contains(option))
            .unwrap_or_else(|| panic!("OPTIONS of mydevctl.1 lacks {option}"));
        if let Some(value) = value {
            assert!(
                tag.contains(value.as_str()),
                "{tag:?} lacks the value {value} of {option}"
            );
        }
    }
    let known: BTreeSet<&str> = defined.iter().map(|(o, _)| o.as_str()).collect();
    for option in tags.iter().flat_map(|t| options_in(t)) {
        assert!(
            known.contains(option.as_str()),
            "mydevctl.1 documents {option}, which cli::command() does not define"
        );
    }
}

/// mydevctl(1) and the help of mydevctl and its commands agree on the
/// exit codes, errnos, limits, files and the environment.
#[test]
fn mydevctl_1_agrees_with_help() {
    // roff writes a minus sign as `\-`.
    let page = read(&mydevctl_1()).replace("\\-", "-");
    let mut command = mydevctl::cli::command();
    let mut help = command.render_long_help().to_string();
    for sub in command.get_subcommands_mut() {
        help += &sub.render_long_help().to_string();
    }
    for needle in [
        "MYDEVICE_DEVICE",
        "ENOENT",
        "ENODEV",
        "ENXIO",
        "EACCES",
        "EPERM",
        "EBADF",
        "EINVAL",
        "ENOMEM",
        "ENOTTY",
        "1..=1048576",
        "0.1 to 86400",
        "/dev/mydevice",
        "/proc/mydevice",
        "/sys/module/mydevice/parameters/buffer_size",
        "60-mydevice.rules",
        "KERNEL==\"mydevice\", GROUP=\"mydevice\", MODE=\"0660\"",
        "schema_version",
        "mydevice(4)",
    ] {
        let in_page =
            page.contains(needle) || (needle == "mydevice(4)" && page.contains(".BR mydevice (4)"));
        assert!(help.contains(needle), "--help lacks {needle:?}");
        assert!(in_page, "mydevctl.1 lacks {needle:?}");
    }
    let status = section(&page, "EXIT STATUS");
    for code in ["0", "1", "2", "3"] {
        assert!(
            help.contains(&format!("\n  {code}   ")),
            "--help lacks exit code {code}"
        );
        assert!(
            status.contains(&format!(".B {code}\n")),
            "mydevctl.1 lacks exit code {code}"
        );
    }
}

/// mydevice(4) documents every ioctl with its number, the proc file's keys,
/// and the sections a device page has.
#[test]
fn mydevice_4_documents_the_abi() {
    let page = read(&mydevice_4());
    let text = page.replace("\\-", "-");
    for section_name in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "IOCTLS",
        "POLL",
        "SIGNAL-DRIVEN I/O",
        "/PROC INTERFACE",
        "MODULE PARAMETERS",
        "ERRORS",
        "FILES",
        "SEE ALSO",
    ] {
        assert!(
            !section(&page, section_name).trim().is_empty(),
            "mydevice.4: empty {section_name}"
        );
    }
    let ioctls = section(&page, "IOCTLS");
    for (name, number) in [
        ("MYDEV_CLEAR", MYDEV_CLEAR),
        ("MYDEV_RESIZE", MYDEV_RESIZE),
        ("MYDEV_STATUS", MYDEV_STATUS),
        ("MYDEV_HANGUP", MYDEV_HANGUP),
        ("MYDEV_STATS", MYDEV_STATS),
        ("FIONREAD", FIONREAD),
    ] {
        let tag = tags(ioctls)
            .into_iter()
            .find(|t| t.starts_with(name))
            .unwrap_or_else(|| panic!("IOCTLS of mydevice.4 lacks {name}"));
        assert!(
            tag.contains(&format!("{number:#x}")),
            "mydevice.4 gives {tag:?}, but {name} is {number:#x}"
        );
    }
    for key in mydevctl::json::PROC_INTEGER_KEYS {
        assert!(
            section(&page, "/PROC INTERFACE").contains(&format!("\n{key}: ")),
            "the /proc example of mydevice.4 lacks {key}"
        );
    }
    for needle in [DEVICE_PATH, PROC_PATH, PARAM_PATH, "O_ASYNC", "SIGIO"] {
        assert!(text.contains(needle), "mydevice.4 lacks {needle}");
    }
    for errno in [
        "EAGAIN", "EBADF", "EFAULT", "EINTR", "EINVAL", "ENOMEM", "ENOTTY", "EPIPE", "ESPIPE",
    ] {
        assert!(
            tags(section(&page, "ERRORS")).iter().any(|t| t == errno),
            "ERRORS of mydevice.4 lacks {errno}"
        );
    }
}

/// Both pages format without a single groff warning.
#[test]
fn man_pages_render_without_warnings() {
    for page in [mydevctl_1(), mydevice_4()] {
        let out = Command::new("groff")
            .args(["-ww", "-man", "-z"])
            .arg(&page)
            .output()
            .unwrap_or_else(|e| panic!("running groff (package groff-base): {e}"));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff -ww -man -z {}: {}; {}",
            page.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The roff helpers read tags as a reader would.
#[test]
fn plain_strips_fonts_and_joins_alternations() {
    assert_eq!(
        plain(".BR \\-d \", \" \\-\\-device \" \\fIpath\\fR\""),
        "-d, --device path"
    );
    assert_eq!(
        plain(".B watch \\fR[\\fB\\-\\-count\\fR \\fIn\\fR]"),
        "watch [--count n]"
    );
    assert_eq!(plain(".BI resize \" size\""), "resize size");
    assert_eq!(plain(".B EBADF"), "EBADF");
}
