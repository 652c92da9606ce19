//! `cargo xtask deb`: builds the `mydevice-dkms` and `mydevice-tools` packages.
//!
//! The working tree (tracked and new, unignored files) is copied to
//! `target/deb/build/mydevice-<version>/` and built there with
//! `dpkg-buildpackage -us -uc -b`, so that the build's by-products stay out of
//! the repository. The packages land in `target/deb/` and must be lintian
//! clean.

use std::path::Path;
use std::path::PathBuf;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::util;
use crate::util::Stage;

pub fn run(sh: &Shell) -> Result<()> {
    crate::setup::run(sh, false)?;
    build(sh)?;
    Ok(())
}

/// The packages a build produces, in `target/deb/`.
pub struct Debs {
    pub dkms: PathBuf,
    pub tools: PathBuf,
}

/// Builds both packages and checks them with lintian.
pub fn build(sh: &Shell) -> Result<Debs> {
    let stage = Stage::start("deb");
    let root = util::repo_root();
    let version = cmd!(
        sh,
        "dpkg-parsechangelog -l {root}/debian/changelog -SVersion"
    )
    .read()
    .context("reading the package version from debian/changelog")?;
    let out = util::target_dir(sh).join("deb");
    let build = out.join("build");
    let tree = build.join(format!("mydevice-{version}"));
    sh.remove_path(&out)
        .with_context(|| format!("clearing {}", out.display()))?;
    copy_worktree(sh, &root, &tree)?;

    let log = util::log_dir(sh)?.join("deb.log");
    stage.note(format!("dpkg-buildpackage, log in {}", log.display()));
    {
        let _dir = sh.push_dir(&tree);
        // A target directory of its own, kept between builds: sharing the
        // workspace's would let binaries built from the copy replace the
        // workspace's own in target/release.
        let _target = sh.push_env("CARGO_TARGET_DIR", util::target_dir(sh).join("deb-cargo"));
        // -d: debian/control names Debian's cargo and rustc, but the build
        // uses the rustup toolchain that `cargo xtask setup` installs, which
        // dpkg cannot see.
        util::run_logged(
            cmd!(sh, "dpkg-buildpackage -us -uc -b -d"),
            "dpkg-buildpackage",
            &log,
        )?;
    }

    let debs = Debs {
        dkms: out.join(format!("mydevice-dkms_{version}_all.deb")),
        tools: out.join(format!("mydevice-tools_{version}_{}.deb", arch(sh)?)),
    };
    for deb in [&debs.dkms, &debs.tools] {
        let name = deb.file_name().context("a package file name")?;
        sh.copy_file(build.join(name), deb)
            .with_context(|| format!("collecting {}", deb.display()))?;
    }

    let (dkms, tools) = (&debs.dkms, &debs.tools);
    let lintian = cmd!(
        sh,
        "lintian --pedantic -I --fail-on error,warning,info,pedantic {dkms} {tools}"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("running lintian")?;
    let tags = String::from_utf8_lossy(&lintian.stdout);
    let tags: Vec<&str> = tags
        .lines()
        .filter(|l| !l.contains("running with root privileges"))
        .collect();
    if !lintian.status.success() || !tags.is_empty() {
        bail!("lintian is not clean:\n{}", tags.join("\n"));
    }
    stage.done(format!(
        "{} and {}, lintian clean",
        dkms.display(),
        tools.display()
    ));
    Ok(debs)
}

/// The Debian architecture this machine builds for.
fn arch(sh: &Shell) -> Result<String> {
    cmd!(sh, "dpkg --print-architecture")
        .read()
        .context("asking dpkg for the architecture")
}

/// Copies the tracked and the new, unignored files of the work tree.
fn copy_worktree(sh: &Shell, root: &Path, dest: &Path) -> Result<()> {
    let files = cmd!(
        sh,
        "git -C {root} ls-files -z --cached --others --exclude-standard"
    )
    .read()
    .context("listing the work tree's files")?;
    for file in files.split('\0').filter(|f| !f.is_empty()) {
        let from = root.join(file);
        // A tracked file deleted in the work tree is not part of it.
        if !from.exists() {
            continue;
        }
        let to = dest.join(file);
        if let Some(parent) = to.parent() {
            sh.create_dir(parent)?;
        }
        // std::fs::copy keeps the permission bits, so scripts stay executable.
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}
