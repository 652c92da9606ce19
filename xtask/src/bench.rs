// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask bench`: the device against the kernel pipe, in the test VM.
//!
//! The guest runs `mydevice-bench` (see `bench/README.md`), which prints a
//! table of device/pipe ratios. The raw samples, the kernel version and the
//! VM mode go to `target/bench/bench.json`, the table to
//! `target/bench/bench.txt`. `--smoke` runs a tiny version of every
//! workload, to prove the command works; CI runs that. `--reps`, `--only`
//! and `--scale` go to the benchmark as they are, after a check here, so a
//! typo fails before the VM boots.
//!
//! `--profile ROW` runs one row of the table (`mydevice-bench --list-rows`
//! names them) under `perf record -e cpu-clock -a -g` in the VM, with one
//! recording for the device's runs and one for the pipe's, and collects
//! the row's table and perf's reports into `target/bench/profile-<ROW>/`
//! (see `xtask/guest/profile.sh`).

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::build;
use crate::kernel;
use crate::setup;
use crate::util;
use crate::util::Stage;
use crate::vm;

/// Time limit of a smoke run's boot.
const SMOKE_TIMEOUT_SECS: u64 = 600;
/// Time limit of a full run's boot; its length depends on the host's load.
const FULL_TIMEOUT_SECS: u64 = 2400;

/// The workloads `mydevice-bench --only` knows, in its order; a test checks
/// them against `WORKLOADS` in `bench/src/main.rs`.
const WORKLOADS: &[&str] = &[
    "stream",
    "io_uring",
    "splice",
    "latency",
    "wakeups",
    "contended",
    "roundtrip",
    "control",
    "idle",
];

/// Options of `cargo xtask bench`.
#[derive(Debug, Default, PartialEq)]
pub struct Options {
    pub smoke: bool,
    /// `--reps N`: device/pipe pairs per workload.
    pub reps: Option<u32>,
    /// `--only LIST`: comma-separated workloads.
    pub only: Option<String>,
    /// `--scale X`: a factor on every run's work.
    pub scale: Option<f64>,
    /// `--profile ROW`: one row under perf instead of the table.
    pub profile: Option<String>,
}

impl Options {
    /// Parses `--smoke`, `--reps N`, `--only NAME[,NAME...]`, `--scale X`
    /// and `--profile ROW`.
    pub fn parse(args: &[&str]) -> Result<Options> {
        let mut opts = Options::default();
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            let mut value = || {
                args.next()
                    .copied()
                    .with_context(|| format!("bench: {arg} needs a value"))
            };
            match arg {
                "--smoke" => opts.smoke = true,
                "--reps" => {
                    let v = value()?;
                    match v.parse::<u32>() {
                        Ok(n) if n > 0 => opts.reps = Some(n),
                        _ => bail!("bench: --reps needs a positive whole number, not `{v}`"),
                    }
                }
                "--scale" => {
                    let v = value()?;
                    match v.parse::<f64>() {
                        Ok(x) if x.is_finite() && x > 0.0 => opts.scale = Some(x),
                        _ => bail!("bench: --scale needs a positive number, not `{v}`"),
                    }
                }
                "--only" => {
                    let v = value()?;
                    if let Some(bad) = v.split(',').find(|w| !WORKLOADS.contains(w)) {
                        bail!(
                            "bench: --only: unknown workload `{bad}`; the workloads are {}",
                            WORKLOADS.join(",")
                        );
                    }
                    opts.only = Some(v.to_string());
                }
                "--profile" => {
                    // The benchmark knows its rows; `profile_row` asks it
                    // once it is built. This keeps the name shell-safe.
                    let v = value()?;
                    if v.is_empty()
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    {
                        bail!("bench: --profile needs a row such as stream-4k, not `{v}`");
                    }
                    opts.profile = Some(v.to_string());
                }
                _ => bail!("bench: unknown option {arg}"),
            }
        }
        if opts.profile.is_some() && opts.only.is_some() {
            bail!("bench: --profile runs one row; it does not take --only");
        }
        Ok(opts)
    }

    /// The benchmark's own arguments for these options.
    fn bench_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.smoke {
            args.push("--smoke".to_string());
        }
        if let Some(n) = self.reps {
            args.extend(["--reps".to_string(), n.to_string()]);
        }
        if let Some(only) = &self.only {
            args.extend(["--only".to_string(), only.clone()]);
        }
        if let Some(x) = self.scale {
            // `Display` of an `f64` never uses an exponent: shell-safe.
            args.extend(["--scale".to_string(), x.to_string()]);
        }
        args
    }

    /// The time limit of the boot: the default one, stretched when
    /// `--reps` or `--scale` asks for more work than the default run does.
    fn timeout_secs(&self) -> u64 {
        // The benchmark's defaults are reps 5 and scale 1, and reps 2 and
        // scale 1/256 for a smoke run; the work scales with both.
        let (reps, scale, floor) = if self.smoke {
            (2, 1.0 / 256.0, SMOKE_TIMEOUT_SECS)
        } else {
            (5, 1.0, FULL_TIMEOUT_SECS)
        };
        let work = f64::from(self.reps.unwrap_or(reps)) / 5.0 * self.scale.unwrap_or(scale);
        ((FULL_TIMEOUT_SECS as f64 * work) as u64).clamp(floor, 24 * 3600)
    }
}

pub fn run(sh: &Shell, opts: &Options) -> Result<()> {
    let result = bench(sh, opts);
    // A summary line either way, as CI wants one for every suite.
    match &result {
        Ok(()) => println!("bench: 1 passed, 0 failed"),
        Err(_) => println!("bench: 0 passed, 1 failed"),
    }
    result
}

fn bench(sh: &Shell, opts: &Options) -> Result<()> {
    let stage = Stage::start("bench");
    setup::run(sh, false)?;
    // The benchmark first: it knows the rows, so a mistyped `--profile`
    // fails before the kernel and the module are looked at.
    let build_stage = Stage::start("bench: build");
    let log = util::log_dir(sh)?.join("bench-build.log");
    util::run_logged(
        cmd!(sh, "cargo build --release -p mydevice-bench"),
        "cargo build -p mydevice-bench",
        &log,
    )?;
    build_stage.done("mydevice-bench");
    let bench = util::target_dir(sh).join("release/mydevice-bench");
    if let Some(row) = &opts.profile {
        profile_row(sh, &bench, row)?;
    }

    let kernel = kernel::ensure(sh, kernel::Flavour::Base)?;
    build::module(sh, &kernel)?;
    // `vm::boot` probes KVM first, so the verdict exists when the guest runs.
    let verdict = util::cache_dir(sh)?.join("kvm-verdict");
    let mut args = vec![
        build::module_path().display().to_string(),
        bench.display().to_string(),
        verdict.display().to_string(),
    ];
    let (name, script) = match &opts.profile {
        Some(row) => {
            args.push(row.clone());
            ("bench-profile", "profile.sh")
        }
        None => ("bench", "bench.sh"),
    };
    args.extend(opts.bench_args());
    let outcome = vm::boot(
        sh,
        &kernel,
        vm::Run {
            name,
            script,
            args,
            timeout_secs: opts.timeout_secs(),
            cpus: vm::DEFAULT_CPUS,
            console: vm::Console::Terminal,
        },
    )?;
    outcome.ensure_clean("the benchmark")?;

    let results = util::target_dir(sh).join("bench");
    if let Some(row) = &opts.profile {
        let dest = results.join(format!("profile-{row}"));
        collect_profile(sh, &outcome.dir, &dest)?;
        stage.done(format!(
            "reports in {}",
            dest.join("device.report.txt").display()
        ));
        return Ok(());
    }
    sh.create_dir(&results)?;
    for file in ["bench.json", "bench.txt"] {
        sh.copy_file(outcome.dir.join(file), results.join(file))
            .with_context(|| format!("collecting {file} from the guest"))?;
    }
    stage.done(format!(
        "results in {}",
        results.join("bench.json").display()
    ));
    Ok(())
}

/// Fails unless the benchmark at `bench` has a row `row`.
fn profile_row(sh: &Shell, bench: &std::path::Path, row: &str) -> Result<()> {
    let rows = cmd!(sh, "{bench} --list-rows")
        .quiet()
        .read()
        .context("listing the benchmark's rows")?;
    if !rows.lines().any(|r| r == row) {
        bail!(
            "bench: --profile: unknown row `{row}`; the rows are {}",
            rows.lines().collect::<Vec<_>>().join(",")
        );
    }
    Ok(())
}

/// Copies a profile run's files from the guest's directory `from` into an
/// emptied `dest`.
fn collect_profile(sh: &Shell, from: &std::path::Path, dest: &std::path::Path) -> Result<()> {
    sh.remove_path(dest)
        .with_context(|| format!("clearing {}", dest.display()))?;
    sh.create_dir(dest)
        .with_context(|| format!("creating {}", dest.display()))?;
    for file in sh.read_dir(from)? {
        if let Some(name) = file.file_name() {
            sh.copy_file(&file, dest.join(name))
                .with_context(|| format!("collecting {} from the guest", file.display()))?;
        }
    }
    for side in ["device", "pipe"] {
        let report = dest.join(format!("{side}.report.txt"));
        if !sh.path_exists(&report) {
            bail!("the guest wrote no {}", report.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let o =
            Options::parse(&["--reps", "9", "--only", "stream,splice", "--scale", "0.5"]).unwrap();
        assert_eq!(
            o.bench_args(),
            ["--reps", "9", "--only", "stream,splice", "--scale", "0.5"],
            "{o:?}"
        );
        let o = Options::parse(&["--smoke"]).unwrap();
        assert_eq!(o.bench_args(), ["--smoke"]);
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        let o = Options::parse(&["--profile", "stream-4k", "--reps", "3"]).unwrap();
        assert_eq!(o.profile.as_deref(), Some("stream-4k"));
        assert_eq!(o.bench_args(), ["--reps", "3"], "the row goes separately");
    }

    #[test]
    fn options_refuse_nonsense() {
        for bad in [
            &["--reps"][..],
            &["--reps", "0"],
            &["--reps", "-1"],
            &["--reps", "2.5"],
            &["--scale", "0"],
            &["--scale", "-2"],
            &["--scale", "nan"],
            &["--scale", "inf"],
            &["--scale", "x"],
            &["--only", ""],
            &["--only", "stream,"],
            &["--only", "streams"],
            &["--only", "stream;reboot"],
            &["--runs", "1"],
            &["--profile"],
            &["--profile", ""],
            &["--profile", "stream 4k"],
            &["--profile", "stream-4k;reboot"],
            &["--profile", "contended", "--only", "contended"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn more_work_gets_more_time() {
        let full = Options::default();
        assert_eq!(full.timeout_secs(), FULL_TIMEOUT_SECS);
        let twice = Options {
            reps: Some(10),
            ..Options::default()
        };
        assert_eq!(twice.timeout_secs(), 2 * FULL_TIMEOUT_SECS);
        let less = Options {
            scale: Some(0.25),
            ..Options::default()
        };
        assert_eq!(
            less.timeout_secs(),
            FULL_TIMEOUT_SECS,
            "never below the default"
        );
        let smoke = Options {
            smoke: true,
            ..Options::default()
        };
        assert_eq!(smoke.timeout_secs(), SMOKE_TIMEOUT_SECS);
        let big_smoke = Options {
            smoke: true,
            scale: Some(1.0),
            ..Options::default()
        };
        assert_eq!(
            big_smoke.timeout_secs(),
            FULL_TIMEOUT_SECS * 2 / 5,
            "2 reps at scale 1"
        );
    }

    #[test]
    fn workloads_match_the_bench() {
        // The list in `bench/src/main.rs`, between `const WORKLOADS` and `];`.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/src/main.rs");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text
            .find("const WORKLOADS")
            .expect("no WORKLOADS in the bench");
        let list = &text[start..];
        let list = &list[list.find('[').unwrap() + 1..];
        let list = &list[list.find('[').unwrap() + 1..list.find("];").unwrap()];
        let names: Vec<&str> = list
            .split(',')
            .map(|w| w.trim().trim_matches('"'))
            .filter(|w| !w.is_empty())
            .collect();
        assert_eq!(names, WORKLOADS, "xtask's list differs from {path}");
    }
}
