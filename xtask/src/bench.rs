//! `cargo xtask bench`: the device against the kernel pipe, in the test VM.
//!
//! The guest runs `mydevice-bench` (see `bench/README.md`), which prints a
//! table of device/pipe ratios. The raw samples, the kernel version and the
//! VM mode go to `target/bench/bench.json`, the table to
//! `target/bench/bench.txt`. `--smoke` runs a tiny version of every
//! workload, to prove the command works; CI runs that.

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

pub fn run(sh: &Shell, smoke: bool) -> Result<()> {
    let result = bench(sh, smoke);
    // A summary line either way, as CI wants one for every suite.
    match &result {
        Ok(()) => println!("bench: 1 passed, 0 failed"),
        Err(_) => println!("bench: 0 passed, 1 failed"),
    }
    result
}

fn bench(sh: &Shell, smoke: bool) -> Result<()> {
    let stage = Stage::start("bench");
    setup::run(sh, false)?;
    let kernel = kernel::ensure(sh, kernel::Flavour::Base)?;
    build::module(sh, &kernel)?;

    let build_stage = Stage::start("bench: build");
    let log = util::log_dir(sh)?.join("bench-build.log");
    util::run_logged(
        cmd!(sh, "cargo build --release -p mydevice-bench"),
        "cargo build -p mydevice-bench",
        &log,
    )?;
    build_stage.done("mydevice-bench");

    let bench = util::target_dir(sh).join("release/mydevice-bench");
    // `vm::boot` probes KVM first, so the verdict exists when the guest runs.
    let verdict = util::cache_dir(sh)?.join("kvm-verdict");
    let mut args = vec![
        build::module_path().display().to_string(),
        bench.display().to_string(),
        verdict.display().to_string(),
    ];
    if smoke {
        args.push("--smoke".to_string());
    }
    let outcome = vm::boot(
        sh,
        &kernel,
        vm::Run {
            name: "bench",
            script: "bench.sh",
            args,
            timeout_secs: if smoke {
                SMOKE_TIMEOUT_SECS
            } else {
                FULL_TIMEOUT_SECS
            },
            cpus: vm::DEFAULT_CPUS,
            console: vm::Console::Terminal,
        },
    )?;
    outcome.ensure_clean("the benchmark")?;

    let results = util::target_dir(sh).join("bench");
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
