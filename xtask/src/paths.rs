//! `cargo xtask paths`: prints the kernel build directory and the module path.

use anyhow::Result;
use xshell::Shell;

use crate::build;
use crate::kernel;

pub fn run(sh: &Shell, flavour: kernel::Flavour) -> Result<()> {
    let kernel = kernel::locate(sh, flavour)?;
    println!("KDIR={}", kernel.dir.display());
    println!("MODULE={}", build::module_path().display());
    if !kernel.is_built() {
        eprintln!(
            "note: that kernel is not built yet: run `cargo xtask kernel` (with the same flag)"
        );
    }
    Ok(())
}
