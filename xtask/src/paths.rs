// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask paths [--series 7.2|7.3] [--debug]`: prints the kernel build
//! directory and the module path.

use anyhow::Result;
use xshell::Shell;

use crate::build;
use crate::kernel;

pub fn run(sh: &Shell, choice: kernel::Choice) -> Result<()> {
    let kernel = kernel::locate(sh, choice)?;
    println!("KDIR={}", kernel.dir.display());
    println!("MODULE={}", build::module_path().display());
    if !kernel.is_built() {
        eprintln!(
            "note: that kernel is not built yet: run `cargo xtask kernel` (with the same options)"
        );
    }
    Ok(())
}
