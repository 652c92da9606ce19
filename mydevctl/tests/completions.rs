// SPDX-License-Identifier: GPL-2.0-only

//! The shell completions in `completions/`: generated from
//! `mydevctl::cli::command()`, the definition `--help` is rendered from, and
//! checked by driving bash's programmable completion with the bash one.
//!
//! After a change to the command line, `UPDATE_EXPECT=1 cargo test -p
//! mydevctl --test completions` rewrites the files.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap_complete::Shell;

/// Each shell and the file its completion is kept in.
const FILES: [(Shell, &str); 3] = [
    (Shell::Bash, "mydevctl.bash"),
    (Shell::Zsh, "_mydevctl"),
    (Shell::Fish, "mydevctl.fish"),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("completions")
}

/// The file's expected text: the generator's output under a header that
/// says where it comes from.
fn expected(shell: Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut mydevctl::cli::command(),
        "mydevctl",
        &mut script,
    );
    let script = String::from_utf8(script).expect("the generator writes UTF-8");
    let header = "# SPDX-License-Identifier: GPL-2.0-only\n\
                  # Generated from mydevctl's command definition (mydevctl/src/cli.rs)\n\
                  # by `UPDATE_EXPECT=1 cargo test -p mydevctl --test completions`.\n\
                  # Do not edit.\n";
    match shell {
        // The generator fills COMPREPLY from compgen's words on purpose.
        Shell::Bash => format!("{header}# shellcheck shell=bash disable=SC2207\n\n{script}"),
        // zsh reads `#compdef` from the first line only.
        Shell::Zsh => match script.split_once('\n') {
            Some((compdef, rest)) => format!("{compdef}\n{header}{rest}"),
            None => panic!("the zsh completion is one line: {script:?}"),
        },
        _ => format!("{header}\n{script}"),
    }
}

/// The files in `completions/` are what the definition generates today.
#[test]
fn completions_are_up_to_date() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut stale = Vec::new();
    for (shell, file) in FILES {
        let path = dir().join(file);
        let want = expected(shell);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have == want {
            continue;
        }
        if update {
            std::fs::write(&path, want)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        } else {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date with mydevctl's command definition: {}; run \
         `UPDATE_EXPECT=1 cargo test -p mydevctl --test completions`",
        stale.join(", ")
    );
}

/// Loads the bash completion into a clean bash, finds the function that
/// `complete -p mydevctl` names, and calls it the way bash does on TAB for
/// the command line `words`, the last of which is being completed. Returns
/// the sorted candidates.
fn bash_complete(words: &[&str]) -> Vec<String> {
    // compopt, which sets options of the completion in progress, fails
    // outside one started by the TAB key: here it does nothing.
    const DRIVER: &str = r#"
        source "$1"
        shift
        compopt() { :; }
        spec=$(complete -p mydevctl) || exit 10
        [[ $spec =~ -F\ ([^ ]+) ]] || exit 11
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        "${BASH_REMATCH[1]}" mydevctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let script = dir().join("mydevctl.bash");
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", DRIVER, "bash"])
        .arg(&script)
        .args(words)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash completion of {words:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "bash completion of {words:?} printed errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found: Vec<String> = String::from_utf8(out.stdout)
        .expect("UTF-8 candidates")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    found.sort();
    found
}

fn assert_completes(words: &[&str], want: &[&str]) {
    let found = bash_complete(words);
    assert_eq!(found, want, "completing {words:?}");
}

fn assert_offers(words: &[&str], some: &[&str]) {
    let found = bash_complete(words);
    for word in some {
        assert!(
            found.iter().any(|f| f == word),
            "completing {words:?} offers no {word:?}: {found:?}"
        );
    }
}

/// The file registers a completion function for the command.
#[test]
fn bash_registers_mydevctl() {
    let script = dir().join("mydevctl.bash");
    let out = Command::new("bash")
        .args([
            "--norc",
            "--noprofile",
            "-c",
            "source \"$1\" && complete -p mydevctl",
            "bash",
        ])
        .arg(&script)
        .output()
        .expect("run bash");
    let spec = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "complete -p failed: {spec}");
    assert!(
        spec.contains("-F _mydevctl") && spec.trim_end().ends_with(" mydevctl"),
        "unexpected registration: {spec}"
    );
}

/// A prefix of a subcommand completes to the subcommands it starts.
#[test]
fn bash_completes_subcommands() {
    assert_completes(&["mydevctl", "st"], &["stats", "status"]);
    assert_completes(&["mydevctl", "w"], &["watch"]);
    assert_completes(&["mydevctl", "--json", "h"], &["hangup", "help"]);
    assert_completes(&["mydevctl", "help", "re"], &["resize"]);
    assert_offers(
        &["mydevctl", ""],
        &["clear", "hangup", "resize", "stats", "status", "watch"],
    );
}

/// Options complete globally and per subcommand.
#[test]
fn bash_completes_options() {
    assert_completes(&["mydevctl", "--j"], &["--json"]);
    assert_offers(
        &["mydevctl", "--"],
        &["--device", "--help", "--json", "--version"],
    );
    assert_completes(&["mydevctl", "watch", "--i"], &["--interval"]);
    assert_offers(
        &["mydevctl", "watch", "--"],
        &["--count", "--device", "--interval", "--json"],
    );
    // --interval belongs to watch alone.
    assert_completes(&["mydevctl", "status", "--i"], &[]);
}

/// The value of --device completes as a file name.
#[test]
fn bash_completes_device_paths() {
    assert_completes(&["mydevctl", "--device", "/dev/nul"], &["/dev/null"]);
    assert_completes(&["mydevctl", "stats", "-d", "/dev/nul"], &["/dev/null"]);
}
