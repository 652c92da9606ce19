// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask dropin DIR`: `selftests/` as a kselftest drop-in, with its
//! crates vendored, so that it builds offline and outside this workspace.
//!
//! DIR is meant to be `tools/testing/selftests/mydevice` of a kernel tree;
//! `make -C tools/testing/selftests TARGETS=mydevice install` then builds and
//! installs the programs with no network. The drop-in holds the files of
//! `selftests/`, `vendor/` with every crate they need (what `cargo vendor`
//! fetches, and the workspace's own crates in [`LOCAL_CRATES`], packaged by
//! `cargo package`), a `Cargo.lock`, and a `.cargo/config.toml` that replaces
//! crates.io with `vendor/` and keeps cargo offline. `cargo xtask test`
//! builds one in a copy of the kernel's kselftest framework and runs it in
//! its VM ([`install_in_kernel_tree`]).

use std::path::Path;
use std::path::PathBuf;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::selftest::Programs;
use crate::util;
use crate::util::Stage;

/// The workspace crates the selftests name as crates.io crates: the root
/// `Cargo.toml` patches them to their directory, and a drop-in vendors them.
pub const LOCAL_CRATES: &[(&str, &str)] = &[("mydevice-abi", "abi")];

/// What the drop-in's `.cargo/config.toml` says.
const CARGO_CONFIG: &str = "\
# Written by `cargo xtask dropin`: every crate comes from vendor/, offline.
[source.crates-io]
replace-with = \"vendored-sources\"

[source.vendored-sources]
directory = \"vendor\"

[net]
offline = true
";

/// The files of the kernel's kselftest framework that a drop-in needs
/// around it, relative to the kernel source.
const FRAMEWORK: &[&str] = &[
    "scripts/subarch.include",
    "tools/testing/selftests/Makefile",
    "tools/testing/selftests/lib.mk",
    "tools/testing/selftests/run_kselftest.sh",
    "tools/testing/selftests/kselftest",
];

/// The program `cargo xtask test` runs from the installed drop-in; the main
/// run has already run them all.
pub const VM_TEST: &str = "mydevice:ioctl";

pub fn run(sh: &Shell, dest: &str) -> Result<()> {
    let stage = Stage::start("dropin");
    let dest = std::env::current_dir()?.join(dest);
    write(sh, &dest)?;
    stage.done(format!(
        "{}: build it with `make -C tools/testing/selftests TARGETS=mydevice` in its kernel tree",
        dest.display()
    ));
    Ok(())
}

/// Writes the drop-in into `dest`, replacing an earlier drop-in there.
///
/// # Errors
/// Fails if `dest` holds something else, or a cargo step fails (`cargo
/// vendor` needs the crates in cargo's cache or crates.io).
pub fn write(sh: &Shell, dest: &Path) -> Result<()> {
    let root = util::repo_root();
    refuse_foreign(dest)?;
    sh.remove_path(dest)
        .with_context(|| format!("removing the old drop-in {}", dest.display()))?;
    sh.create_dir(dest)?;
    // The files of selftests/, tracked or new, with their times, so that a
    // later build of the copy only rebuilds what changed.
    let files = cmd!(
        sh,
        "git -C {root} ls-files -z --cached --others --exclude-standard -- selftests"
    )
    .read()
    .context("listing the files of selftests/")?;
    let files: Vec<&str> = files
        .split('\0')
        .filter_map(|f| f.strip_prefix("selftests/"))
        .filter(|f| root.join("selftests").join(f).is_file())
        .collect();
    {
        let _dir = sh.push_dir(root.join("selftests"));
        cmd!(sh, "cp -p --parents {files...} {dest}")
            .quiet()
            .run()
            .context("copying selftests/")?;
    }
    vendor(sh, dest)?;
    sh.write_file(dest.join(".cargo/config.toml"), CARGO_CONFIG)?;
    // The lock of the drop-in, resolved offline from vendor/ alone: this
    // proves that nothing is missing.
    let _dir = sh.push_dir(dest);
    cmd!(sh, "cargo generate-lockfile --offline")
        .quiet()
        .run()
        .context("resolving the drop-in's crates from vendor/ alone")?;
    Ok(())
}

/// Refuses to replace a `dest` that is neither empty nor a drop-in.
fn refuse_foreign(dest: &Path) -> Result<()> {
    let Ok(mut entries) = std::fs::read_dir(dest) else {
        return Ok(());
    };
    if entries.next().is_none() {
        return Ok(());
    }
    let manifest = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("name = \"mydevice-selftests\"") {
        bail!(
            "{} exists and is not a mydevice selftests drop-in: not replacing it",
            dest.display()
        );
    }
    Ok(())
}

/// Vendors the crates of the package in `dir` into `dir/vendor`: the
/// crates.io ones with `cargo vendor`, at the versions of the workspace's
/// `Cargo.lock`, and the [`LOCAL_CRATES`] as `cargo package` makes them.
///
/// The Debian build can vendor the whole workspace the same way: `cargo
/// vendor` at its root needs no [`LOCAL_CRATES`], which are path crates there.
pub fn vendor(sh: &Shell, dir: &Path) -> Result<()> {
    let root = util::repo_root();
    let log = util::log_dir(sh)?.join("dropin-vendor.log");
    sh.copy_file(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    let mut vendor = cmd!(sh, "cargo vendor --manifest-path {dir}/Cargo.toml");
    for (name, path) in LOCAL_CRATES {
        let path = root.join(path);
        vendor = vendor.args(["--config", &format!("patch.crates-io.{name}.path={path:?}")]);
    }
    util::run_logged(vendor.arg(dir.join("vendor")), "cargo vendor", &log)?;
    sh.remove_path(dir.join("Cargo.lock"))?;

    let packages = util::target_dir(sh).join("dropin/package");
    for (name, _) in LOCAL_CRATES {
        util::run_logged(
            cmd!(
                sh,
                "cargo package -p {name} --no-verify --allow-dirty --target-dir {packages}"
            ),
            &format!("cargo package -p {name}"),
            &log,
        )?;
        let version = package_version(sh, name)?;
        let krate = packages.join(format!("package/{name}-{version}.crate"));
        let into = dir.join("vendor").join(name);
        sh.create_dir(&into)?;
        cmd!(sh, "tar -xzf {krate} -C {into} --strip-components=1")
            .quiet()
            .run()
            .with_context(|| format!("unpacking {}", krate.display()))?;
        // As `cargo vendor` writes it; cargo checks the crate's checksum.
        let sum = util::sha256(sh, &sh.read_binary_file(&krate)?)?;
        sh.write_file(
            into.join(".cargo-checksum.json"),
            format!("{{\"files\":{{}},\"package\":\"{sum}\"}}"),
        )?;
    }
    Ok(())
}

/// The version of the workspace package `name`, from `cargo pkgid`.
fn package_version(sh: &Shell, name: &str) -> Result<String> {
    let id = cmd!(sh, "cargo pkgid --offline -p {name}")
        .read()
        .with_context(|| format!("cargo pkgid -p {name}"))?;
    id.rsplit(['@', '#'])
        .next()
        .map(str::to_string)
        .with_context(|| format!("no version in {id:?}"))
}

/// Builds a drop-in in a copy of the kernel's kselftest framework from the
/// kernel source `src`, then installs it the kernel's way, offline and with
/// an empty `CARGO_HOME`: `make -C tools/testing/selftests TARGETS=mydevice
/// install`. Returns the install directory, which holds `run_kselftest.sh`.
///
/// # Errors
/// Fails if a step fails, or if the install lacks a program, `settings` or
/// `config`, or its `kselftest-list.txt` is not `TEST_GEN_PROGS`.
pub fn install_in_kernel_tree(sh: &Shell, src: &Path) -> Result<PathBuf> {
    let base = util::target_dir(sh).join("dropin");
    let tree = base.join("linux");
    let install = base.join("install");
    let log = util::log_dir(sh)?.join("dropin.log");
    sh.remove_path(&tree)?;
    sh.remove_path(&install)?;
    for part in FRAMEWORK {
        let to = tree.join(part);
        sh.create_dir(to.parent().context("a path with a parent")?)?;
        let from = src.join(part);
        cmd!(sh, "cp -a {from} {to}")
            .quiet()
            .run()
            .with_context(|| format!("copying {part} of the kernel source"))?;
    }
    let selftests = tree.join("tools/testing/selftests");
    write(sh, &selftests.join("mydevice"))?;
    // No network and no cargo cache: only vendor/ can provide the crates.
    // The target directory lasts between runs, so that a rebuild is short.
    let cargo_home = base.join("cargo-home");
    sh.remove_path(&cargo_home)?;
    sh.create_dir(&cargo_home)?;
    let make = cmd!(
        sh,
        "make -C {selftests} TARGETS=mydevice install INSTALL_PATH={install}"
    )
    .env("CARGO_NET_OFFLINE", "true")
    .env("CARGO_HOME", &cargo_home)
    .env("CARGO_TARGET_DIR", base.join("cargo-target"));
    util::run_logged(
        make,
        "make -C tools/testing/selftests TARGETS=mydevice install",
        &log,
    )?;

    let programs = Programs::read()?;
    let dir = install.join("mydevice");
    for file in programs
        .listed
        .iter()
        .chain(&programs.extended)
        .map(String::as_str)
        .chain(["settings", "config"])
    {
        if !dir.join(file).is_file() {
            bail!("the install lacks mydevice/{file}");
        }
    }
    let list = sh.read_file(install.join("kselftest-list.txt"))?;
    let want: Vec<String> = programs
        .listed
        .iter()
        .map(|p| format!("mydevice:{p}"))
        .collect();
    if list.lines().collect::<Vec<_>>() != want {
        bail!("kselftest-list.txt is {list:?}, not the TEST_GEN_PROGS of programs.mk");
    }
    Ok(install)
}
