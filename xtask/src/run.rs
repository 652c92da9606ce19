// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask run`: shows the device at work in a VM.
//!
//! The guest loads the module, writes and reads back, lets a writer wake a
//! blocked reader with the timing shown, prints `/proc/mydevice` and unloads
//! the module. The transcript comes from `xtask/guest/run.sh`.

use anyhow::Result;
use xshell::Shell;

use crate::build;
use crate::kernel;
use crate::setup;
use crate::util::Stage;
use crate::vm;

/// Time limit of the transcript boot.
const TIMEOUT_SECS: u64 = 300;

pub fn run(sh: &Shell) -> Result<()> {
    let stage = Stage::start("run");
    setup::run(sh, false)?;
    let kernel = kernel::ensure(sh, kernel::Flavour::Base)?;
    build::module(sh, &kernel)?;
    let outcome = vm::boot(
        sh,
        &kernel,
        vm::Run {
            name: "run",
            script: "run.sh",
            args: vec![build::module_path().display().to_string()],
            timeout_secs: TIMEOUT_SECS,
            cpus: vm::DEFAULT_CPUS,
            console: vm::Console::Terminal,
        },
    )?;
    outcome.ensure_clean("the transcript")?;
    stage.done("ok");
    Ok(())
}
