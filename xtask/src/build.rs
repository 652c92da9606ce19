// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask build`: builds the module against the test kernel and lints it.
//!
//! Warnings are errors (`KRUSTFLAGS=-Dwarnings`), Clippy runs inside the
//! kernel build (`CLIPPY=1`), and rustfmt checks `src/` and `kunit/` with the
//! kernel's `.rustfmt.toml`.

use std::path::PathBuf;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::kernel;
use crate::kernel::Kernel;
use crate::util;
use crate::util::Stage;

pub fn run(sh: &Shell, choice: kernel::Choice) -> Result<()> {
    let kernel = kernel::ensure(sh, choice)?;
    module(sh, &kernel)?;
    rustfmt(sh, &kernel)
}

/// The module the build produces.
pub fn module_path() -> PathBuf {
    util::repo_root().join("src/mydevice.ko")
}

/// Builds `src/mydevice.ko` with Clippy, warnings being errors.
pub fn module(sh: &Shell, kernel: &Kernel) -> Result<()> {
    let stage = Stage::start("build");
    let root = util::repo_root();
    let kdir = &kernel.dir;
    let m = format!("M={}", root.join("src").display());
    let log = util::log_dir(sh)?.join("module-build.log");
    let make_args = &kernel.make_args;
    let _clang = sh.push_env("LIBCLANG_PATH", kernel::LIBCLANG_PATH);
    util::run_logged(
        cmd!(
            sh,
            "make -C {kdir} {m} {make_args...} CLIPPY=1 KRUSTFLAGS=-Dwarnings"
        ),
        "building the module (make CLIPPY=1, warnings are errors)",
        &log,
    )?;
    let module = module_path();
    if !module.is_file() {
        bail!(
            "make succeeded but left no {}; see {}",
            module.display(),
            log.display()
        );
    }
    stage.done(format!("{} (CLIPPY=1, -Dwarnings)", module.display()));
    Ok(())
}

/// Checks the formatting of `src/*.rs` and `kunit/*.rs` with the kernel's
/// `.rustfmt.toml`.
pub fn rustfmt(sh: &Shell, kernel: &Kernel) -> Result<()> {
    let stage = Stage::start("rustfmt");
    let root = util::repo_root();
    let mut sources = Vec::new();
    for dir in ["src", "kunit"] {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = sh
            .read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        sources.extend(files);
    }
    let rustfmt_toml = kernel.src.join(".rustfmt.toml");
    let files = &sources;
    let fmt_log = util::log_dir(sh)?.join("rustfmt.log");
    util::run_logged(
        cmd!(
            sh,
            "rustfmt --check --color=never --edition 2021 --config-path {rustfmt_toml} {files...}"
        ),
        "rustfmt --check on src/ and kunit/ (fix with the same command without --check)",
        &fmt_log,
    )?;
    stage.done(format!("src/ and kunit/ clean ({} files)", sources.len()));
    Ok(())
}
