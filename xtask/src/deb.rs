// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask deb`: builds the `mydevice-dkms` and `mydevice-tools` packages.
//!
//! The working tree (tracked and new, unignored files) is copied to
//! `target/deb/build/mydevice-<version>/` and built there with
//! `dpkg-buildpackage -us -uc -b`, so that the build's by-products stay out of
//! the repository. The packages land in `target/deb/` and must be lintian
//! clean. For the package upgrade of `cargo xtask e2e-trixie`,
//! [`build_upgrade`] builds them once more from the same tree at a higher
//! version, into `target/deb-upgrade/`.

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
    /// The UAPI header.
    pub dev: PathBuf,
    /// mydevice-tools' debug symbols.
    pub dbgsym: PathBuf,
}

/// The suffix that makes the version of [`build_upgrade`] higher than
/// debian/changelog's: `0.1.0` becomes `0.1.0+upgrade1`.
const UPGRADE_SUFFIX: &str = "+upgrade1";

/// Builds both packages and checks them with lintian.
pub fn build(sh: &Shell) -> Result<Debs> {
    build_in(sh, "deb", false)
}

/// Builds both packages from the same tree at a higher version than
/// debian/changelog's, into `target/deb-upgrade/`.
pub fn build_upgrade(sh: &Shell) -> Result<Debs> {
    build_in(sh, "deb-upgrade", true)
}

/// Builds both packages into `target/<dir>/`; `upgrade` adds a changelog
/// entry at a higher version to the copy of the tree first.
fn build_in(sh: &Shell, dir: &str, upgrade: bool) -> Result<Debs> {
    let stage = Stage::start("deb");
    let root = util::repo_root();
    let changelog = root.join("debian/changelog");
    let field = |name: &str| {
        cmd!(sh, "dpkg-parsechangelog -l {changelog} -S{name}")
            .read()
            .with_context(|| format!("reading the package's {name} from debian/changelog"))
    };
    let current = field("Version")?;
    let version = if upgrade {
        format!("{current}{UPGRADE_SUFFIX}")
    } else {
        current.clone()
    };
    let out = util::target_dir(sh).join(dir);
    let build = out.join("build");
    let tree = build.join(format!("mydevice-{version}"));
    sh.remove_path(&out)
        .with_context(|| format!("clearing {}", out.display()))?;
    copy_worktree(sh, &root, &tree)?;
    if upgrade {
        let date = cmd!(sh, "date -R").read().context("reading the date")?;
        let entry = format!(
            "mydevice ({version}) {distribution}; urgency=medium\n\n  \
             * The tree of {current} at a higher version, for the package upgrade\n    \
             test.\n\n -- {maintainer}  {date}\n\n",
            distribution = field("Distribution")?,
            maintainer = field("Maintainer")?,
        );
        let file = tree.join("debian/changelog");
        let old = sh.read_file(&file)?;
        sh.write_file(&file, entry + &old)
            .with_context(|| format!("writing {}", file.display()))?;
        stage.note(format!("version {version}, from the tree of {current}"));
    }

    let log = util::log_dir(sh)?.join(format!("{dir}.log"));
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

    let arch = arch(sh)?;
    let debs = Debs {
        dkms: out.join(format!("mydevice-dkms_{version}_all.deb")),
        tools: out.join(format!("mydevice-tools_{version}_{arch}.deb")),
        dev: out.join(format!("mydevice-dev_{version}_all.deb")),
        dbgsym: out.join(format!("mydevice-tools-dbgsym_{version}_{arch}.deb")),
    };
    for deb in [&debs.dkms, &debs.tools, &debs.dev, &debs.dbgsym] {
        let name = deb.file_name().context("a package file name")?;
        sh.copy_file(build.join(name), deb)
            .with_context(|| format!("collecting {}", deb.display()))?;
    }

    let (dkms, tools, dev, dbgsym) = (&debs.dkms, &debs.tools, &debs.dev, &debs.dbgsym);
    let lintian = cmd!(
        sh,
        "lintian --pedantic -I --fail-on error,warning,info,pedantic {dkms} {tools} {dev} {dbgsym}"
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
