//! `cargo xtask test`: the project's test command.
//!
//! It brings up everything that is missing (setup, kernel, module), runs the
//! host checks, builds the selftests, and then makes one VM boot that runs
//! the `module_lifecycle` selftest, loads the module, collects the KUnit
//! results, runs the other selftests and unloads the module. On the base
//! kernel two more boots follow: the churn on 4 vCPUs, and the packages
//! with DKMS. It prints a summary per suite and a total, and fails on any
//! failure, skip or missing result.

use std::path::Path;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::build;
use crate::deb;
use crate::kernel;
use crate::kernel::Flavour;
use crate::ktap;
use crate::ktap::Case;
use crate::ktap::Outcome;
use crate::setup;
use crate::soak;
use crate::util;
use crate::util::Stage;
use crate::vm;

/// The selftest that runs before the module is loaded and loads it itself.
const LIFECYCLE: &str = "module_lifecycle";
/// Selftest programs that only the debug flavour runs.
const DEBUG_PREFIX: &str = "debug_";
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

/// A group of results with its own summary line.
pub struct Suite {
    pub title: String,
    cases: Vec<Case>,
    /// Extra lines shown under the suite, e.g. stderr of a failed test.
    pub notes: Vec<String>,
}

impl Suite {
    pub fn new(title: impl Into<String>) -> Suite {
        Suite {
            title: title.into(),
            cases: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn add(&mut self, name: impl Into<String>, outcome: Outcome) {
        self.cases.push(Case {
            name: name.into(),
            outcome,
        });
    }

    pub fn check(&mut self, name: impl Into<String>, ok: bool) {
        self.add(name, if ok { Outcome::Pass } else { Outcome::Fail });
    }

    /// Fails the suite on any alarm in the guest's dmesg, and shows the
    /// first ones.
    pub fn check_dmesg(&mut self, outcome: &vm::Outcome) {
        self.check(
            "dmesg free of warnings, bugs and lockdep reports",
            outcome.dmesg_alarms.is_empty(),
        );
        self.notes.extend(
            outcome
                .dmesg_alarms
                .iter()
                .take(20)
                .map(|l| format!("dmesg: {l}")),
        );
    }

    fn passed(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.outcome == Outcome::Pass)
            .count()
    }

    fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

pub fn run(sh: &Shell, flavour: Flavour) -> Result<()> {
    let stage = Stage::start("test");
    setup::run(sh, false)?;
    let kernel = kernel::ensure(sh, flavour)?;
    build::module(sh, &kernel)?;

    let mut suites = vec![host_checks(sh, &kernel)?];
    let names = selftest_names(sh, flavour)?;
    let per_test = per_test_timeout(sh);
    suites.extend(guest(sh, &kernel, &names, per_test)?);
    // The packages are the same on either kernel; the base flavour tests
    // them, and runs the churn once more with twice the vCPUs.
    if flavour == Flavour::Base {
        suites.push(churn_wide(sh, &kernel));
        suites.push(packages(sh, &kernel));
    }

    let (passed, failed) = print_summary(&suites);
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
    let checks = [
        (
            "cargo test --workspace",
            cmd!(sh, "cargo test --workspace"),
            "cargo-test.log",
        ),
        (
            "cargo fmt --check",
            cmd!(sh, "cargo fmt --all --check -- --color=never"),
            "cargo-fmt.log",
        ),
        (
            "cargo clippy --workspace --all-targets -- -D warnings",
            cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings"),
            "cargo-clippy.log",
        ),
        (
            "cargo build --release -p mydevice-selftests",
            cmd!(sh, "cargo build --release -p mydevice-selftests"),
            "selftests-build.log",
        ),
    ];
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

/// The selftest programs: the stems of `selftests/src/bin/*.rs`, with
/// `module_lifecycle` first. Programs named `debug_*` need the debug
/// kernel's fault injection and run only in that flavour.
fn selftest_names(sh: &Shell, flavour: Flavour) -> Result<Vec<String>> {
    let dir = util::repo_root().join("selftests/src/bin");
    let mut names: Vec<String> = if dir.is_dir() {
        sh.read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
            .filter(|name| flavour == Flavour::Debug || !name.starts_with(DEBUG_PREFIX))
            .collect()
    } else {
        Vec::new()
    };
    names.sort_by_key(|name| (name != LIFECYCLE, name.clone()));
    Ok(names)
}

/// Host variables that are not the selftests' to read.
const HOST_ONLY_VARS: &[&str] = &["MYDEVICE_CACHE", "MYDEVICE_KO"];

/// The `MYDEVICE_*` variables of the host's environment, such as
/// `MYDEVICE_FUZZ_SEED` or `MYDEVICE_FUZZ_ITERS`, as sorted `KEY=VALUE`
/// strings for the guest: a seed printed by a failed run replays with
/// `MYDEVICE_FUZZ_SEED=<seed> cargo xtask test`.
pub fn selftest_env(vars: impl Iterator<Item = (String, String)>) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for (key, value) in vars {
        if !key.starts_with("MYDEVICE_") || HOST_ONLY_VARS.contains(&key.as_str()) {
            continue;
        }
        if !util::shell_safe(&key) || !util::shell_safe(&value) {
            bail!("{key}={value:?} cannot be passed to the guest: use letters, digits and ._+-:,");
        }
        println!("VM: the selftests get {key}={value}");
        env.push(format!("{key}={value}"));
    }
    env.sort();
    Ok(env)
}

/// `timeout=` from `selftests/settings`, as kselftest reads it.
fn per_test_timeout(sh: &Shell) -> u64 {
    sh.read_file(util::repo_root().join("selftests/settings"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.trim().strip_prefix("timeout=")?.trim().parse().ok())
        .unwrap_or(DEFAULT_TEST_TIMEOUT_SECS)
}

/// The one VM boot, and the suites read from what the guest left behind.
fn guest(
    sh: &Shell,
    kernel: &kernel::Kernel,
    names: &[String],
    per_test: u64,
) -> Result<Vec<Suite>> {
    let mut vm_suite = Suite::new("VM");
    let bin_dir = util::target_dir(sh).join("release");
    // `vm::boot` recreates the run directory, so the list of selftests goes
    // to the guest in a file beside it.
    let list = util::target_dir(sh).join("vm/test.list");
    sh.write_file(&list, names.join("\n") + "\n")?;
    let env = util::target_dir(sh).join("vm/test.env");
    let exports: String = selftest_env(std::env::vars())?
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
        ],
        timeout_secs: VM_OVERHEAD_SECS + per_test * (names.len() as u64 + 1),
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
        let rc = read_rc(&dir.join(format!("{file}.rc")));
        vm_suite.check(name, rc == Some(0));
        if rc != Some(0) {
            let err = util::tail(&dir.join(format!("{file}.stderr")), 5);
            vm_suite.notes.push(format!("{name}: exit {rc:?}: {err}"));
        }
    };
    if names.iter().any(|n| n == LIFECYCLE) {
        suites.push(selftest_suite(&dir, LIFECYCLE, per_test));
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
        suites.push(selftest_suite(&dir, name, per_test));
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
/// with dpkg, lets DKMS build and install the module, uses it, removes the
/// packages, and runs the readiness probe on a tree without Rust metadata.
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

fn read_rc(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The suite of one selftest program, from its KTAP output and exit code.
pub fn selftest_suite(dir: &Path, name: &str, per_test: u64) -> Suite {
    let mut suite = Suite::new(format!("selftest {name}"));
    let base = dir.join("selftests").join(name);
    let ktap_file = base.with_extension("ktap");
    let Some(rc) = read_rc(&base.with_extension("rc")) else {
        suite.check("ran", false);
        suite
            .notes
            .push("the program did not run (see console.log)".into());
        return suite;
    };
    let report = ktap::parse(&std::fs::read_to_string(&ktap_file).unwrap_or_default());
    let has = |o: Outcome| report.cases.iter().any(|c| c.outcome == o);
    let (failed, skipped) = (has(Outcome::Fail), has(Outcome::Skip));
    suite.cases.extend(report.cases);
    match rc {
        124 | 137 => {
            suite.check(format!("finished within {per_test} s"), false);
        }
        _ if suite.cases.is_empty() => {
            suite.check("printed KTAP results", false);
            suite
                .notes
                .push(format!("exit code {rc}, no ok/not ok lines"));
        }
        0 | 1 | 4 => {
            if let Some(plan) = report.plan {
                if plan != report.top_level {
                    suite.check(
                        format!("plan 1..{plan} matches {} results", report.top_level),
                        false,
                    );
                }
            }
            if rc == 1 && !failed {
                suite.check("exit code", false);
                suite.notes.push("exit code 1 but no `not ok` line".into());
            }
            if rc == 4 && !skipped {
                suite.add("whole program", Outcome::Skip);
            }
        }
        _ => {
            suite.check(format!("exit code {rc}"), false);
        }
    }
    if suite.failed() > 0 {
        let stderr = util::tail(&base.with_extension("stderr"), 5);
        if !stderr.trim().is_empty() {
            suite.notes.push(format!("stderr: {stderr}"));
        }
    }
    suite
}

/// Prints each suite's non-passing cases and counts; returns the totals.
pub fn print_summary(suites: &[Suite]) -> (usize, usize) {
    println!();
    println!("===== summary =====");
    let (mut passed, mut failed) = (0, 0);
    for suite in suites {
        println!("{}", suite.title);
        for case in &suite.cases {
            match case.outcome {
                Outcome::Pass => {}
                Outcome::Fail => println!("  not ok {}", case.name),
                Outcome::Skip => println!("  SKIP   {} (a skip is not a pass)", case.name),
            }
        }
        for note in &suite.notes {
            for line in note.lines() {
                println!("    {line}");
            }
        }
        println!("  {} passed, {} failed", suite.passed(), suite.failed());
        passed += suite.passed();
        failed += suite.failed();
    }
    println!("===== total =====");
    println!("{passed} passed, {failed} failed");
    (passed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn selftest_env_passes_only_the_selftests_variables() {
        let env = selftest_env(vars(&[
            ("MYDEVICE_FUZZ_SEED", "0x18ead18f475c881e"),
            ("PATH", "/usr/bin"),
            ("MYDEVICE_CACHE", "/var/cache/x"),
            ("MYDEVICE_FUZZ_ITERS", "100000"),
        ]))
        .unwrap();
        assert_eq!(
            env,
            [
                "MYDEVICE_FUZZ_ITERS=100000",
                "MYDEVICE_FUZZ_SEED=0x18ead18f475c881e"
            ]
        );
    }

    #[test]
    fn selftest_env_refuses_what_the_shell_would_read() {
        assert!(selftest_env(vars(&[("MYDEVICE_FUZZ_SEED", "1; reboot")])).is_err());
        assert!(selftest_env(vars(&[("MYDEVICE_X", "")])).is_err());
    }
}
