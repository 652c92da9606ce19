// SPDX-License-Identifier: GPL-2.0-only

//! Runs the `mydevctl` binary for what can be checked without the device:
//! usage errors, a missing node, a foreign node, and the help.

use std::path::Path;
use std::process::{Command, Output};

fn mydevctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mydevctl"))
        .args(args)
        .env_remove("MYDEVICE_DEVICE")
        .output()
        .expect("run mydevctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// Asserts the exit code, with both streams in the message.
fn expect_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}; stdout: {:?}; stderr: {:?}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Without a command, mydevctl exits 2 and points at --help.
#[test]
fn no_command_is_usage_error() {
    let out = mydevctl(&[]);
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "mydevctl: 'mydevctl' requires a subcommand but one was not provided\n  \
         [subcommands: status, stats, clear, resize, hangup, watch, help]\n\
         Try 'mydevctl --help' for more information.\n"
    );
}

/// An out-of-range resize is refused before the device is even opened.
#[test]
fn resize_zero_is_refused_before_open() {
    let out = mydevctl(&["--device", "/nonexistent/mydevice", "resize", "0"]);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).starts_with(
            "mydevctl: invalid value '0' for '<SIZE>': 0 bytes is invalid (1..=1048576)\n"
        ),
        "{}",
        text(&out.stderr)
    );
}

/// A missing node exits 3 with ENOENT and the modprobe hint.
#[test]
fn missing_node_exits_3() {
    for command in ["status", "stats", "clear", "hangup"] {
        let out = mydevctl(&["--device", "/nonexistent/mydevice", command]);
        expect_code(&out, 3);
        let err = text(&out.stderr);
        assert!(
            err.contains(": ENOENT (No such file or directory): "),
            "{err}"
        );
        assert!(err.contains("modprobe mydevice"), "{err}");
    }
}

/// $MYDEVICE_DEVICE names the node when --device is absent.
#[test]
fn environment_names_the_node() {
    let out = Command::new(env!("CARGO_BIN_EXE_mydevctl"))
        .arg("status")
        .env("MYDEVICE_DEVICE", "/nonexistent/from-env")
        .output()
        .expect("run mydevctl");
    expect_code(&out, 3);
    assert!(
        text(&out.stderr).contains("cannot open /nonexistent/from-env for reading"),
        "{}",
        text(&out.stderr)
    );
}

/// Another driver's node gets STATUS first, fails with ENOTTY, and no
/// control command is sent.
#[test]
fn foreign_node_is_enotty() {
    let out = mydevctl(&["--device", "/dev/null", "status"]);
    expect_code(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "mydevctl: status: MYDEV_STATUS on /dev/null failed: ENOTTY (Inappropriate ioctl \
             for device): this is not a mydevice node"
        ),
        "{err}"
    );
    let out = mydevctl(&["--device", "/dev/null", "clear"]);
    expect_code(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("MYDEV_STATUS on /dev/null failed: ENOTTY"),
        "clear must check STATUS before MYDEV_CLEAR: {err}"
    );
}

/// Without the module, watch stops at once with exit 3.
#[test]
fn watch_without_module_exits_3() {
    if Path::new("/proc/mydevice").exists() {
        eprintln!("skipped: the mydevice module is loaded on this machine");
        return;
    }
    let out = mydevctl(&["watch", "--count", "1"]);
    expect_code(&out, 3);
    assert!(
        text(&out.stderr).starts_with("mydevctl: watch: cannot read /proc/mydevice: ENOENT"),
        "{}",
        text(&out.stderr)
    );
}

/// --help prints the full help on stdout and exits 0.
#[test]
fn help_exits_0() {
    let out = mydevctl(&["--help"]);
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        mydevctl::cli::command().render_long_help().to_string()
    );
    let out = mydevctl(&["--version"]);
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("mydevctl {}\n", env!("CARGO_PKG_VERSION"))
    );
}
