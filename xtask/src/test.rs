// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask test`: the project's test command.
//!
//! It brings up everything that is missing (setup, kernel, module), runs the
//! host checks, builds the selftests, builds and installs them as a kselftest
//! drop-in in a copy of the kernel's kselftest framework, offline, and then
//! makes one VM boot that runs the `module_lifecycle` selftest, loads the
//! module, collects the KUnit results, runs the other selftests and one
//! through the drop-in's `run_kselftest.sh`, and unloads the module. On the base
//! kernel two more boots follow: the churn on 4 vCPUs, and the packages
//! with DKMS. It prints a summary per suite and a total, and fails on any
//! failure, skip or missing result. `--series 7.3` does all of it on a 7.3
//! test kernel, `--debug` on the debug flavour.

use std::path::Path;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::build;
use crate::deb;
use crate::dropin;
use crate::kernel;
use crate::kernel::Flavour;
use crate::ktap;
use crate::selftest;
use crate::selftest::Programs;
use crate::selftest::LIFECYCLE;
use crate::setup;
use crate::soak;
use crate::suite;
use crate::suite::Suite;
use crate::util;
use crate::util::Stage;
use crate::vm;

/// Per-selftest time limit when `selftests/settings` names none.
const DEFAULT_TEST_TIMEOUT_SECS: u64 = 120;
/// Boot, KUnit and unload time on top of the selftests' limits.
const VM_OVERHEAD_SECS: u64 = 300;
/// vCPUs of the second churn run, and how long its records stream. Its
/// workers' logs are small, so that they also leave with a full log and are
/// respawned, over and over: the main run's logs rarely fill.
const CHURN_WIDE_CPUS: u32 = 4;
const CHURN_WIDE_SECS: u64 = 12;
const CHURN_WIDE_ENV: &[&str] = &["MYDEVICE_CHURN_LOG_WORDS=3000"];
/// Time limit of the package test's boot. DKMS compiles the module inside
/// the emulated guest, which takes minutes under TCG.
const PACKAGES_TIMEOUT_SECS: u64 = 2100;

pub fn run(sh: &Shell, choice: kernel::Choice) -> Result<()> {
    let stage = Stage::start("test");
    let flavour = choice.flavour;
    setup::run_for(sh, choice.series, false)?;
    let kernel = kernel::ensure(sh, choice)?;
    build::module(sh, &kernel)?;

    let mut suites = vec![host_checks(sh, &kernel)?];
    let names = Programs::read()?.for_flavour(flavour);
    let per_test = per_test_timeout(sh);
    let (mut dropin_suite, dropin_install) = dropin_build(sh, &kernel);
    suites.extend(guest(
        sh,
        &kernel,
        &names,
        per_test,
        dropin_install.as_deref(),
    )?);
    dropin_results(&mut dropin_suite, &util::target_dir(sh).join("vm/test"));
    suites.push(dropin_suite);
    // The packages are the same on either kernel; the base flavour tests
    // them, and runs the churn once more with twice the vCPUs.
    if flavour == Flavour::Base {
        suites.push(churn_wide(sh, &kernel));
        suites.push(packages(sh, &kernel));
    }

    let (passed, failed) = suite::print_summary(&suites);
    if failed > 0 || passed == 0 {
        bail!("{failed} tests failed (skips and missing results count as failures)");
    }
    stage.done(format!("all {passed} passed"));
    Ok(())
}

/// Host-side checks; each one is a test in the "host checks" suite.
fn host_checks(sh: &Shell, kernel: &kernel::Kernel) -> Result<Suite> {
    let mut suite = Suite::new("host checks");
    let fmt = "rustfmt --check (kernel .rustfmt.toml) on src/ and kunit/";
    match build::rustfmt(sh, kernel) {
        Ok(()) => suite.check(fmt, true),
        Err(err) => {
            suite.check(fmt, false);
            suite.notes.push(format!("{err:#}"));
        }
    }
    let logs = util::log_dir(sh)?;
    let scripts = shell_scripts(sh, &kernel.src)?;
    let msrv = setup::msrv()?;
    let msrv_check = format!("cargo +{msrv} check --workspace --all-targets (rust-version)");
    let msrv_xtask = format!("cargo +{msrv} check --all-targets (xtask's rust-version)");
    let msrv_target = util::target_dir(sh).join("msrv");
    let checks = [
        (
            "cargo test --workspace",
            cmd!(sh, "cargo test --workspace"),
            "cargo-test.log",
        ),
        (
            "cargo test (xtask)",
            cmd!(sh, "cargo test --manifest-path xtask/Cargo.toml"),
            "cargo-test-xtask.log",
        ),
        (
            "cargo fmt --check",
            cmd!(sh, "cargo fmt --all --check -- --color=never"),
            "cargo-fmt.log",
        ),
        (
            "cargo fmt --check (xtask)",
            cmd!(
                sh,
                "cargo fmt --manifest-path xtask/Cargo.toml --check -- --color=never"
            ),
            "cargo-fmt-xtask.log",
        ),
        (
            "cargo clippy --workspace --all-targets -- -D warnings",
            cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings"),
            "cargo-clippy.log",
        ),
        (
            "cargo clippy --all-targets -- -D warnings (xtask)",
            cmd!(
                sh,
                "cargo clippy --manifest-path xtask/Cargo.toml --all-targets -- -D warnings"
            ),
            "cargo-clippy-xtask.log",
        ),
        (
            // Alone, so that no other package turns on its `std` feature.
            "cargo clippy -p mydevice-abi --all-targets (no_std, no dependency)",
            cmd!(
                sh,
                "cargo clippy -p mydevice-abi --all-targets -- -D warnings"
            ),
            "cargo-clippy-abi.log",
        ),
        (
            "cargo build --release -p mydevice-selftests -p mydevctl",
            cmd!(
                sh,
                "cargo build --release -p mydevice-selftests -p mydevctl"
            ),
            "selftests-build.log",
        ),
        (
            msrv_check.as_str(),
            cmd!(sh, "cargo +{msrv} check --workspace --all-targets --locked")
                .env("CARGO_TARGET_DIR", &msrv_target),
            "cargo-msrv.log",
        ),
        (
            msrv_xtask.as_str(),
            cmd!(
                sh,
                "cargo +{msrv} check --manifest-path xtask/Cargo.toml --all-targets --locked"
            )
            .env("CARGO_TARGET_DIR", &msrv_target),
            "cargo-msrv-xtask.log",
        ),
        (
            "shellcheck on every shell script",
            cmd!(
                sh,
                "shellcheck --external-sources --source-path=SCRIPTDIR {scripts...}"
            ),
            "shellcheck.log",
        ),
    ];
    let runner = "scripts/run_kselftest.sh and scripts/kselftest/ are the kernel's, unchanged";
    match runner_is_upstream(&kernel.src) {
        Ok(()) => suite.check(runner, true),
        Err(err) => {
            suite.check(runner, false);
            suite.notes.push(format!("{err:#}"));
        }
    }
    for (name, command, log) in checks {
        let stage = Stage::start("host");
        let log = logs.join(log);
        match util::run_logged(command, name, &log) {
            Ok(()) => {
                stage.done(format!("{name}: ok"));
                suite.check(name, true);
            }
            Err(err) => {
                stage.done(format!("{name}: FAILED"));
                suite.check(name, false);
                suite.notes.push(format!("{err:#}"));
            }
        }
    }
    Ok(suite)
}

/// Scripts of the kernel's kselftest framework that are shipped unchanged.
/// shellcheck leaves a copy alone while it is byte for byte the kernel's
/// own, which the kernel maintains to its own rules.
const UPSTREAM_SCRIPTS: &[&str] = &[
    "run_kselftest.sh",
    "kselftest/runner.sh",
    "kselftest/ktap_helpers.sh",
];

/// The kernel's kselftest runner, shipped in `scripts/` as the kernel has it
/// in `tools/testing/selftests/`, and installed so by the Debian package.
const UPSTREAM_RUNNER: &[&str] = &[
    "run_kselftest.sh",
    "kselftest/runner.sh",
    "kselftest/ktap_helpers.sh",
    "kselftest/prefix.pl",
];

/// Fails unless every file of [`UPSTREAM_RUNNER`] in `scripts/` is byte for
/// byte the one of the kernel source `src`.
fn runner_is_upstream(src: &Path) -> Result<()> {
    let root = util::repo_root();
    for file in UPSTREAM_RUNNER {
        let ours = root.join("scripts").join(file);
        let theirs = src.join("tools/testing/selftests").join(file);
        let ours_text =
            std::fs::read(&ours).with_context(|| format!("reading {}", ours.display()))?;
        let theirs_text =
            std::fs::read(&theirs).with_context(|| format!("reading {}", theirs.display()))?;
        if ours_text != theirs_text {
            bail!(
                "scripts/{file} differs from {}: copy it again, unchanged",
                theirs.display()
            );
        }
    }
    Ok(())
}

/// The shell scripts of the work tree, tracked or new: files named `*.sh`
/// or `*.bash`, and files whose `#!` line runs sh, bash or dash. Unchanged
/// copies of [`UPSTREAM_SCRIPTS`] from the kernel source `src` are left out.
fn shell_scripts(sh: &Shell, src: &Path) -> Result<Vec<String>> {
    let root = util::repo_root();
    let files = cmd!(
        sh,
        "git -C {root} ls-files -z --cached --others --exclude-standard"
    )
    .read()
    .context("listing the work tree's files")?;
    let mut scripts = Vec::new();
    for file in files.split('\0').filter(|f| !f.is_empty()) {
        let path = root.join(file);
        // A tracked file deleted in the work tree is not part of it.
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
        if !is_shell_script(file, &String::from_utf8_lossy(first)) {
            continue;
        }
        let upstream = UPSTREAM_SCRIPTS
            .iter()
            .filter(|name| file.ends_with(*name))
            .map(|name| src.join("tools/testing/selftests").join(name))
            .any(|theirs| std::fs::read(theirs).is_ok_and(|t| t == text));
        if upstream {
            println!("host: shellcheck leaves {file} alone: the kernel's own, unchanged");
        } else {
            scripts.push(file.to_string());
        }
    }
    Ok(scripts)
}

/// Whether a file is a shell script, by its name or its first line.
fn is_shell_script(name: &str, first_line: &str) -> bool {
    let interpreter = first_line
        .strip_prefix("#!")
        .map(|line| {
            let mut words = line.split_whitespace();
            let program = words.next().unwrap_or_default();
            let program = match program.rsplit('/').next() {
                Some("env") => words.next().unwrap_or_default(),
                other => other.unwrap_or_default(),
            };
            matches!(program, "sh" | "bash" | "dash")
        })
        .unwrap_or(false);
    interpreter || name.ends_with(".sh") || name.ends_with(".bash")
}

/// The runs of `mydevctl-json.sh` in the guest, with the exit code each
/// must have: every command on the loaded module, then three failures.
const MYDEVCTL_JSON_RUNS: &[(&str, i32)] = &[
    ("clear", 0),
    ("status", 0),
    ("stats", 0),
    ("resize", 0),
    ("watch", 0),
    ("hangup", 0),
    ("error-usage", 2),
    ("error-enoent", 3),
    ("error-enotty", 1),
];

/// The kinds of object the runs must show between them.
const MYDEVCTL_JSON_KINDS: &str = "status,stats,clear,resize,hangup,watch,error";

/// The documented schema of `mydevctl --json`.
const MYDEVCTL_SCHEMA: &str = "docs/mydevctl.schema.json";

/// Checks the exit codes of the guest's `mydevctl --json` runs in `dir`,
/// and validates their output against the schema with Python's jsonschema.
fn mydevctl_json(sh: &Shell, dir: &Path) -> Suite {
    let mut suite = Suite::new(format!("mydevctl --json against {MYDEVCTL_SCHEMA}"));
    let mut files = Vec::new();
    for (name, code) in MYDEVCTL_JSON_RUNS {
        let rc = selftest::read_rc(&dir.join(format!("{name}.rc")));
        suite.check(
            format!("mydevctl --json {name}: exit {code}"),
            rc == Some(*code),
        );
        if rc != Some(*code) {
            let err = util::tail(&dir.join(format!("{name}.stderr")), 5);
            suite.notes.push(format!("{name}: exit {rc:?}: {err}"));
        }
        files.push(dir.join(format!("{name}.jsonl")));
    }
    let root = util::repo_root();
    let validator = root.join("mydevctl/tests/validate_json.py");
    let schema = root.join(MYDEVCTL_SCHEMA);
    let name = "every object is valid, and every command's output is there";
    // setup installs Debian's python3-jsonschema, for Debian's python3.
    let validate = cmd!(
        sh,
        "/usr/bin/python3 {validator} {schema} --cover {MYDEVCTL_JSON_KINDS} {files...}"
    );
    let result = util::log_dir(sh)
        .and_then(|logs| util::run_logged(validate, name, &logs.join("mydevctl-json.log")));
    suite.check(name, result.is_ok());
    if let Err(err) = result {
        suite.notes.push(format!("{err:#}"));
    }
    suite
}

/// `timeout=` from `selftests/settings`, as kselftest reads it.
fn per_test_timeout(sh: &Shell) -> u64 {
    sh.read_file(util::repo_root().join("selftests/settings"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.trim().strip_prefix("timeout=")?.trim().parse().ok())
        .unwrap_or(DEFAULT_TEST_TIMEOUT_SECS)
}

/// The suite of the kselftest drop-in, with what the host proved: that
/// `cargo xtask dropin` into a copy of the kernel's kselftest framework builds
/// offline and installs every program. Returns the install directory too,
/// for the VM to run its `run_kselftest.sh` ([`dropin::VM_TEST`]).
fn dropin_build(sh: &Shell, kernel: &kernel::Kernel) -> (Suite, Option<std::path::PathBuf>) {
    let mut suite =
        Suite::new("kselftest drop-in: make -C tools/testing/selftests TARGETS=mydevice");
    let stage = Stage::start("dropin");
    let name = "cargo xtask dropin, then make install offline, installs every program";
    match dropin::install_in_kernel_tree(sh, &kernel.src) {
        Ok(install) => {
            stage.done(format!("{name}: ok"));
            suite.check(name, true);
            (suite, Some(install))
        }
        Err(err) => {
            stage.done(format!("{name}: FAILED"));
            suite.check(name, false);
            suite.notes.push(format!("{err:#}"));
            (suite, None)
        }
    }
}

/// Adds to the drop-in's suite what its `run_kselftest.sh` printed in the
/// VM run in `dir`: its exit code and its KTAP, where a skip fails.
fn dropin_results(suite: &mut Suite, dir: &Path) {
    if suite.failed() > 0 {
        return;
    }
    let name = format!("installed run_kselftest.sh -t {} exits 0", dropin::VM_TEST);
    let rc = selftest::read_rc(&dir.join("dropin.rc"));
    suite.check(name, rc == Some(0));
    let report = ktap::parse(&std::fs::read_to_string(dir.join("dropin.ktap")).unwrap_or_default());
    suite.check(
        format!(
            "KTAP: plan 1..1 and one result, got {:?} and {}",
            report.plan, report.top_level
        ),
        report.plan == Some(1) && report.top_level == 1,
    );
    suite.cases.extend(report.cases);
    if suite.failed() > 0 {
        suite
            .notes
            .push(format!("its output: {}", dir.join("dropin.ktap").display()));
    }
}

/// The one VM boot, and the suites read from what the guest left behind.
/// `dropin` is the drop-in's install directory, whose runner the guest
/// runs too.
fn guest(
    sh: &Shell,
    kernel: &kernel::Kernel,
    names: &[String],
    per_test: u64,
    dropin: Option<&Path>,
) -> Result<Vec<Suite>> {
    let mut vm_suite = Suite::new("VM");
    let bin_dir = util::target_dir(sh).join("release");
    // `vm::boot` recreates the run directory, so the list of selftests goes
    // to the guest in a file beside it.
    let list = util::target_dir(sh).join("vm/test.list");
    sh.write_file(&list, names.join("\n") + "\n")?;
    let env = util::target_dir(sh).join("vm/test.env");
    let exports: String = selftest::selftest_env(std::env::vars())?
        .iter()
        .map(|var| format!("export {var}\n"))
        .collect();
    sh.write_file(&env, exports)?;
    let dir = util::target_dir(sh).join("vm/test");
    let run = vm::Run {
        name: "test",
        script: "test.sh",
        args: vec![
            build::module_path().display().to_string(),
            bin_dir.display().to_string(),
            per_test.to_string(),
            list.display().to_string(),
            env.display().to_string(),
            // The debug kernel has kmemleak: scan after the unload.
            (kernel.flavour == Flavour::Debug).to_string(),
            dropin.map(|d| d.display().to_string()).unwrap_or_default(),
            dropin::VM_TEST.to_string(),
        ],
        // The selftests, one more run (the drop-in's), and a spare.
        timeout_secs: VM_OVERHEAD_SECS + per_test * (names.len() as u64 + 2),
        cpus: vm::DEFAULT_CPUS,
        console: vm::Console::Log,
    };
    println!(
        "VM: one boot for KUnit and {} selftests ({} s each at most); console in {}",
        names.len(),
        per_test,
        dir.join("console.log").display()
    );
    match vm::boot(sh, kernel, run) {
        Ok(outcome) => {
            vm_suite.check("guest script exit code 0", outcome.exit_code == 0);
            if outcome.exit_code != 0 {
                vm_suite
                    .notes
                    .push(format!("the guest script exited {}", outcome.exit_code));
            }
            vm_suite.check_dmesg(&outcome);
        }
        Err(err) => {
            vm_suite.check("VM boot", false);
            vm_suite.notes.push(format!("{err:#}"));
        }
    }
    vm_suite.check("guest script finished", dir.join("done").is_file());

    let mut suites = Vec::new();
    let step = |vm_suite: &mut Suite, name: &str, file: &str| {
        let rc = selftest::read_rc(&dir.join(format!("{file}.rc")));
        vm_suite.check(name, rc == Some(0));
        if rc != Some(0) {
            let err = util::tail(&dir.join(format!("{file}.stderr")), 5);
            vm_suite.notes.push(format!("{name}: exit {rc:?}: {err}"));
        }
    };
    if names.iter().any(|n| n == LIFECYCLE) {
        suites.push(selftest::selftest_suite(&dir, LIFECYCLE, per_test));
    }
    step(&mut vm_suite, "insmod mydevice.ko", "insmod");

    let kunit_dir = dir.join("kunit");
    let mut kunit_files: Vec<_> = std::fs::read_dir(&kunit_dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    kunit_files.sort();
    vm_suite.check(
        "KUnit suites mydevice_* found in debugfs",
        !kunit_files.is_empty(),
    );
    for file in kunit_files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let mut suite = Suite::new(format!("KUnit {name}"));
        let report = ktap::parse(&std::fs::read_to_string(&file).unwrap_or_default());
        if report.cases.is_empty() {
            suite.check("results", false);
            suite
                .notes
                .push(format!("{} holds no results", file.display()));
        }
        suite.cases.extend(report.cases);
        suites.push(suite);
    }

    for name in names.iter().filter(|n| *n != LIFECYCLE) {
        suites.push(selftest::selftest_suite(&dir, name, per_test));
    }
    step(&mut vm_suite, "rmmod mydevice", "rmmod");
    if kernel.flavour == Flavour::Debug {
        let report = dir.join("kmemleak.log");
        let leaks = std::fs::read_to_string(&report);
        let clean = leaks.as_ref().is_ok_and(|l| l.trim().is_empty());
        vm_suite.check("kmemleak: no leak after the tests and the unload", clean);
        if !clean {
            vm_suite.notes.push(match leaks {
                Ok(text) => format!(
                    "kmemleak ({}):\n{}",
                    report.display(),
                    text.lines().take(30).collect::<Vec<_>>().join("\n")
                ),
                Err(err) => format!("no kmemleak report at {}: {err}", report.display()),
            });
        }
    }
    suites.push(mydevctl_json(sh, &dir.join("mydevctl-json")));
    suites.insert(0, vm_suite);
    Ok(suites)
}

/// The churn selftest again, in a boot with more vCPUs than the main one:
/// more workers run truly at once.
fn churn_wide(sh: &Shell, kernel: &kernel::Kernel) -> Suite {
    println!(
        "VM: the churn again on {CHURN_WIDE_CPUS} vCPUs, with {}",
        CHURN_WIDE_ENV.join(" ")
    );
    soak::churn_suite(
        sh,
        kernel,
        format!("selftest churn on {CHURN_WIDE_CPUS} vCPUs"),
        soak::ChurnRun {
            cpus: CHURN_WIDE_CPUS,
            secs: CHURN_WIDE_SECS,
            env: CHURN_WIDE_ENV,
            console: vm::Console::Log,
        },
    )
}

/// The package test: builds both .debs, then in a second boot installs them
/// with dpkg, lets DKMS build and install the module, uses it, runs the
/// package's autopkgtest (`debian/tests/dkms-selftests`: every packaged
/// selftest), removes the packages, and runs the readiness probe on a tree
/// without Rust metadata.
fn packages(sh: &Shell, kernel: &kernel::Kernel) -> Suite {
    let mut suite = Suite::new("packages: dpkg -i, DKMS, modprobe, use, dpkg -r");
    let debs = match deb::build(sh) {
        Ok(debs) => debs,
        Err(err) => {
            suite.check("cargo xtask deb", false);
            suite.notes.push(format!("{err:#}"));
            return suite;
        }
    };
    suite.check("cargo xtask deb (lintian clean)", true);
    let deb_dir = debs.dkms.parent().unwrap_or(Path::new(".")).to_path_buf();
    println!(
        "VM: package test boot (DKMS builds the module in the guest: several minutes under TCG)"
    );
    let run = vm::Run {
        name: "dkms",
        script: "dkms.sh",
        args: vec![
            kernel.dir.display().to_string(),
            deb_dir.display().to_string(),
        ],
        timeout_secs: PACKAGES_TIMEOUT_SECS,
        cpus: vm::DEFAULT_CPUS,
        console: vm::Console::Log,
    };
    match vm::boot(sh, kernel, run) {
        Ok(outcome) => {
            let ktap_file = outcome.dir.join("dkms.ktap");
            let report = ktap::parse(&std::fs::read_to_string(&ktap_file).unwrap_or_default());
            if report.cases.is_empty() {
                suite.check("printed KTAP results", false);
                suite
                    .notes
                    .push(format!("{} holds no results", ktap_file.display()));
            }
            if let Some(plan) = report.plan {
                suite.check(
                    format!("plan 1..{plan} matches {} results", report.top_level),
                    plan == report.top_level,
                );
            }
            suite.cases.extend(report.cases);
            suite.check("guest script exit code 0", outcome.exit_code == 0);
            suite.check_dmesg(&outcome);
            if suite.failed() > 0 {
                suite.notes.push(format!(
                    "step logs in {}",
                    outcome.dir.join("logs").display()
                ));
            }
        }
        Err(err) => {
            suite.check("VM boot", false);
            suite.notes.push(format!("{err:#}"));
        }
    }
    suite
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_scripts_are_found_by_name_or_interpreter() {
        assert!(is_shell_script("xtask/guest/test.sh", "#!/bin/bash"));
        assert!(is_shell_script(
            "lib.sh",
            "# SPDX-License-Identifier: GPL-2.0"
        ));
        assert!(is_shell_script("completions/mydevctl.bash", "# SPDX"));
        assert!(is_shell_script(".ci/run", "#!/usr/bin/env bash"));
        assert!(is_shell_script("scripts/rust-check", "#!/bin/sh"));
        assert!(is_shell_script("x", "#!/usr/bin/dash -e"));
        assert!(!is_shell_script("debian/rules", "#!/usr/bin/make -f"));
        assert!(!is_shell_script(
            "validate_json.py",
            "#!/usr/bin/env python3"
        ));
        assert!(!is_shell_script(
            "completions/_mydevctl",
            "#compdef mydevctl"
        ));
        assert!(!is_shell_script("completions/mydevctl.fish", "# SPDX"));
        assert!(!is_shell_script("src/lib.rs", "#![no_std]"));
    }
}
