// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask shell [--series 7.2|7.3]`: an interactive VM shell with the
//! module loaded.

use anyhow::Result;
use xshell::Shell;

use crate::build;
use crate::kernel;
use crate::setup;
use crate::setup::Series;
use crate::vm;

/// The shell VM stops after this long, like every VM run.
const TIMEOUT_SECS: u64 = 4 * 3600;

pub fn run(sh: &Shell, series: Series) -> Result<()> {
    setup::run_for(sh, series, false)?;
    let kernel = kernel::ensure(
        sh,
        kernel::Choice {
            series,
            flavour: kernel::Flavour::Base,
        },
    )?;
    build::module(sh, &kernel)?;
    let outcome = vm::boot(
        sh,
        &kernel,
        vm::Run {
            name: "shell",
            script: "shell.sh",
            args: vec![build::module_path().display().to_string()],
            timeout_secs: TIMEOUT_SECS,
            cpus: vm::DEFAULT_CPUS,
            console: vm::Console::Interactive,
        },
    )?;
    for alarm in &outcome.dmesg_alarms {
        println!("dmesg: {alarm}");
    }
    Ok(())
}
