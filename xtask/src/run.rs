//! `cargo xtask run`: shows the device at work in a VM.
//!
//! The guest loads the module, writes and reads back, lets a writer wake a
//! blocked reader with the timing shown, prints `/proc/mydevice` and unloads
//! the module. The transcript comes from `xtask/guest/run.sh`.

use anyhow::bail;
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
            console: vm::Console::Terminal,
        },
    )?;
    if outcome.exit_code != 0 {
        bail!(
            "the transcript failed: the guest script exited {}",
            outcome.exit_code
        );
    }
    if !outcome.dmesg_alarms.is_empty() {
        bail!(
            "the guest's dmesg is not clean ({}):\n  {}",
            outcome.dir.join("dmesg.log").display(),
            outcome.dmesg_alarms.join("\n  ")
        );
    }
    stage.done("ok");
    Ok(())
}
