// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask soak`: the churn stress for as long as asked, in a VM.
//!
//! The guest (`xtask/guest/soak.sh`) loads the module and runs the `churn`
//! selftest with `MYDEVICE_SOAK_SECS` set, so the records stream for the
//! given time while the control operations, signals and `SIGKILL` hit the
//! device. The churn's KTAP, with its counts and throughput, goes to the
//! terminal; any failure, and any warning in the guest's dmesg, fails the
//! command. `cargo xtask test` uses the same run ([`churn_suite`]), short, on 4 vCPUs.

use anyhow::bail;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::build;
use crate::kernel;
use crate::kernel::Flavour;
use crate::selftest;
use crate::setup;
use crate::suite;
use crate::suite::Suite;
use crate::util;
use crate::util::Stage;
use crate::vm;

/// Boot, module load and the churn's own wind-down, on top of the soak.
const OVERHEAD_SECS: u64 = 600;

/// Options of `cargo xtask soak`.
pub struct Options {
    pub minutes: u64,
    pub cpus: u32,
    pub flavour: Flavour,
}

impl Options {
    /// Parses `--minutes N`, `--cpus N` and `--debug`.
    pub fn parse(args: &[&str]) -> Result<Options> {
        let mut opts = Options {
            minutes: 10,
            cpus: vm::DEFAULT_CPUS,
            flavour: Flavour::Base,
        };
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            match arg {
                "--debug" => opts.flavour = Flavour::Debug,
                "--minutes" | "--cpus" => {
                    let Some(value) = args.next().and_then(|v| v.parse::<u64>().ok()) else {
                        bail!("{arg} needs a positive number");
                    };
                    if value == 0 {
                        bail!("{arg} needs a positive number");
                    }
                    if arg == "--minutes" {
                        opts.minutes = value;
                    } else {
                        opts.cpus = u32::try_from(value)?;
                    }
                }
                _ => bail!("soak: unknown option {arg}"),
            }
        }
        Ok(opts)
    }
}

pub fn run(sh: &Shell, opts: &Options) -> Result<()> {
    let stage = Stage::start("soak");
    setup::run(sh, false)?;
    let kernel = kernel::ensure(sh, opts.flavour)?;
    build::module(sh, &kernel)?;
    println!(
        "soak: churn for {} min on {} vCPUs; its KTAP, with the counts and throughput, follows",
        opts.minutes, opts.cpus
    );
    // As for `cargo xtask test`, the host's MYDEVICE_* variables (e.g.
    // MYDEVICE_CHURN_LOG_WORDS) reach the churn; --minutes sets the time.
    let env = selftest::selftest_env(std::env::vars())?;
    let env: Vec<&str> = env
        .iter()
        .map(String::as_str)
        .filter(|var| !var.starts_with("MYDEVICE_SOAK_SECS="))
        .collect();
    let suite = churn_suite(
        sh,
        &kernel,
        format!(
            "soak: churn for {} min on {} vCPUs",
            opts.minutes, opts.cpus
        ),
        ChurnRun {
            cpus: opts.cpus,
            secs: opts.minutes * 60,
            env: &env,
            console: vm::Console::Terminal,
        },
    );
    let (passed, failed) = suite::print_summary(&[suite]);
    if failed > 0 || passed == 0 {
        bail!(
            "the soak failed; its files are in target/vm/churn-{}cpu",
            opts.cpus
        );
    }
    stage.done(format!("{passed} passed"));
    Ok(())
}

/// How to run the churn in a VM.
pub struct ChurnRun<'a> {
    pub cpus: u32,
    /// How long the records stream.
    pub secs: u64,
    /// `VAR=VALUE` settings for the churn.
    pub env: &'a [&'a str],
    pub console: vm::Console,
}

/// Builds the churn selftest, runs it in a VM as `run` says, and returns its
/// suite: the churn's results, its exit code and the guest's dmesg.
pub fn churn_suite(sh: &Shell, kernel: &kernel::Kernel, title: String, run: ChurnRun<'_>) -> Suite {
    let secs = run.secs;
    match churn_vm(sh, kernel, run) {
        Ok(outcome) => {
            // The churn's own limit: the streaming time and two minutes.
            let mut suite = selftest::selftest_suite(&outcome.dir, "churn", secs + 120);
            suite.title = title;
            suite.check_dmesg(&outcome);
            suite
        }
        Err(err) => {
            let mut suite = Suite::new(title);
            suite.check("VM boot", false);
            suite.notes.push(format!("{err:#}"));
            suite
        }
    }
}

/// Builds the churn selftest and runs it in a VM. The run directory
/// `target/vm/churn-<cpus>cpu/` holds `selftests/churn.{ktap,stderr,rc}` and
/// `dmesg.log`, as `cargo xtask test` lays them out.
fn churn_vm(sh: &Shell, kernel: &kernel::Kernel, run: ChurnRun<'_>) -> Result<vm::Outcome> {
    let log = util::log_dir(sh)?.join("selftests-build.log");
    util::run_logged(
        cmd!(
            sh,
            "cargo build --release -p mydevice-selftests --bin churn"
        ),
        "cargo build -p mydevice-selftests --bin churn",
        &log,
    )?;
    let churn = util::target_dir(sh).join("release/churn");
    let name = format!("churn-{}cpu", run.cpus);
    vm::boot(
        sh,
        kernel,
        vm::Run {
            name: &name,
            script: "soak.sh",
            args: [
                build::module_path().display().to_string(),
                churn.display().to_string(),
                run.secs.to_string(),
            ]
            .into_iter()
            .chain(run.env.iter().map(|v| v.to_string()))
            .collect(),
            timeout_secs: run.secs + OVERHEAD_SECS,
            cpus: run.cpus,
            console: run.console,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let o = Options::parse(&["--minutes", "30", "--cpus", "4", "--debug"]).unwrap();
        assert_eq!((o.minutes, o.cpus, o.flavour), (30, 4, Flavour::Debug));
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.minutes, o.cpus, o.flavour), (10, 2, Flavour::Base));
    }

    #[test]
    fn options_refuse_nonsense() {
        for bad in [
            &["--minutes"][..],
            &["--minutes", "0"],
            &["--minutes", "x"],
            &["--cpus", "-1"],
            &["--hours", "1"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
