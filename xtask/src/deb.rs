// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask deb`: builds the `mydevice-dkms` and `mydevice-tools` packages.
//!
//! The working tree (tracked and new, unignored files) is copied to
//! `target/deb/build/mydevice-<version>/`, with the crates that the packages
//! build from in its `vendor/` (`cargo vendor --locked`), and built there
//! with `dpkg-buildpackage -us -uc -b -Ppkg.mydevice.rustup`, so that the
//! build's by-products stay out of the repository. The profile says that
//! cargo and rustc come from rustup, as `cargo xtask setup` installs them,
//! not from Debian; dpkg-checkbuilddeps checks every other Build-Depends.
//! `cargo xtask deb --chroot` (`deb_chroot.rs`) builds the same source with
//! no profile in a clean trixie root without network. The packages land in
//! `target/deb/` and must be lintian clean. For the package upgrade of `cargo xtask e2e-trixie`,
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

/// The source of the packages: a copy of the work tree with its crates in
/// `vendor/`, in `target/<dir>/build/mydevice-<version>/`.
pub struct Source {
    /// `target/<dir>/`, where the packages are collected.
    pub out: PathBuf,
    /// `target/<dir>/build/`, where dpkg-buildpackage leaves them.
    pub build: PathBuf,
    /// The tree itself.
    pub tree: PathBuf,
    /// The package version, from debian/changelog.
    pub version: String,
}

impl Source {
    /// The packages of this source, in `dir`, for `arch`.
    pub fn debs(&self, dir: &Path, arch: &str) -> Debs {
        let version = &self.version;
        Debs {
            dkms: dir.join(format!("mydevice-dkms_{version}_all.deb")),
            tools: dir.join(format!("mydevice-tools_{version}_{arch}.deb")),
            dev: dir.join(format!("mydevice-dev_{version}_all.deb")),
            dbgsym: dir.join(format!("mydevice-tools-dbgsym_{version}_{arch}.deb")),
        }
    }
}

impl Debs {
    /// All four packages.
    pub fn all(&self) -> [&PathBuf; 4] {
        [&self.dkms, &self.tools, &self.dev, &self.dbgsym]
    }
}

/// Makes the source in `target/<dir>/`; `upgrade` adds a changelog entry at
/// a higher version to the copy of the tree first.
pub fn source(sh: &Shell, dir: &str, upgrade: bool) -> Result<Source> {
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
    let log = util::log_dir(sh)?.join(format!("{dir}-vendor.log"));
    let manifest = tree.join("Cargo.toml");
    let vendor = tree.join("vendor");
    util::run_logged(
        cmd!(
            sh,
            "cargo vendor --locked --manifest-path {manifest} {vendor}"
        ),
        "cargo vendor",
        &log,
    )?;
    let crates = licences_are_covered(&tree)?;
    stage.done(format!("{}, {crates} crates in vendor/", tree.display()));
    Ok(Source {
        out,
        build,
        tree,
        version,
    })
}

/// The `Files:` patterns and the `License:` of each stanza of a DEP-5
/// debian/copyright.
fn copyright_stanzas(text: &str) -> Vec<(Vec<String>, String)> {
    let mut stanzas = Vec::new();
    for stanza in text.split("\n\n") {
        let mut files = Vec::new();
        let mut licence = None;
        let mut in_files = false;
        for line in stanza.lines() {
            if let Some(rest) = line.strip_prefix("Files:") {
                in_files = true;
                files.extend(rest.split_whitespace().map(str::to_string));
            } else if in_files && line.starts_with([' ', '\t']) {
                files.extend(line.split_whitespace().map(str::to_string));
            } else {
                in_files = false;
                if let Some(rest) = line.strip_prefix("License:") {
                    licence = Some(rest.trim().to_string());
                }
            }
        }
        if let (false, Some(licence)) = (files.is_empty(), licence) {
            stanzas.push((files, licence));
        }
    }
    stanzas
}

/// A Cargo `license` expression in DEP-5's spelling: `MIT OR Apache-2.0`
/// is `MIT or Apache-2.0`.
fn dep5_licence(spdx: &str) -> String {
    spdx.replace(" OR ", " or ").replace(" AND ", " and ")
}

/// Fails unless debian/copyright has a stanza for every crate in
/// `tree/vendor/`, `vendor/<crate>/*` with the licence of the crate's
/// Cargo.toml, and says what to add. Returns how many crates there are.
fn licences_are_covered(tree: &Path) -> Result<usize> {
    let copyright = std::fs::read_to_string(tree.join("debian/copyright"))
        .context("reading debian/copyright")?;
    let stanzas = copyright_stanzas(&copyright);
    let vendor = tree.join("vendor");
    let mut crates: Vec<String> = std::fs::read_dir(&vendor)
        .with_context(|| format!("listing {}", vendor.display()))?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    crates.sort();
    let mut missing = Vec::new();
    for name in &crates {
        let manifest = std::fs::read_to_string(vendor.join(name).join("Cargo.toml"))
            .with_context(|| format!("reading vendor/{name}/Cargo.toml"))?;
        let spdx = manifest
            .lines()
            .find_map(|l| l.strip_prefix("license = \""))
            .and_then(|l| l.strip_suffix('"'))
            .with_context(|| format!("vendor/{name}/Cargo.toml names no licence"))?;
        let want = dep5_licence(spdx);
        let pattern = format!("vendor/{name}/*");
        let got = stanzas
            .iter()
            .find(|(files, _)| files.contains(&pattern))
            .map(|(_, licence)| licence.as_str());
        if got != Some(want.as_str()) {
            missing.push(format!(
                "{pattern}: License: {want} (debian/copyright has {})",
                got.unwrap_or("no stanza")
            ));
        }
    }
    if !missing.is_empty() {
        bail!(
            "debian/copyright does not cover the vendored crates:\n{}",
            missing.join("\n")
        );
    }
    Ok(crates.len())
}

/// Builds both packages into `target/<dir>/`; `upgrade` adds a changelog
/// entry at a higher version to the copy of the tree first.
fn build_in(sh: &Shell, dir: &str, upgrade: bool) -> Result<Debs> {
    let src = source(sh, dir, upgrade)?;
    let stage = Stage::start("deb");
    let log = util::log_dir(sh)?.join(format!("{dir}.log"));
    stage.note(format!("dpkg-buildpackage, log in {}", log.display()));
    {
        let _dir = sh.push_dir(&src.tree);
        // A target directory of its own, kept between builds: sharing the
        // workspace's would let binaries built from the copy replace the
        // workspace's own in target/release.
        let _target = sh.push_env("CARGO_TARGET_DIR", util::target_dir(sh).join("deb-cargo"));
        // The profile: cargo and rustc are rustup's, which dpkg cannot see;
        // dpkg-checkbuilddeps checks the rest of Build-Depends.
        util::run_logged(
            cmd!(sh, "dpkg-buildpackage -us -uc -b -Ppkg.mydevice.rustup"),
            "dpkg-buildpackage",
            &log,
        )?;
    }

    let debs = src.debs(&src.out, &arch(sh)?);
    for deb in debs.all() {
        let name = deb.file_name().context("a package file name")?;
        sh.copy_file(src.build.join(name), deb)
            .with_context(|| format!("collecting {}", deb.display()))?;
    }
    let tags = lintian_tags(cmd!(sh, "lintian").args(LINTIAN_OPTIONS).args(debs.all()))?;
    if !tags.is_empty() {
        bail!("lintian is not clean:\n{}", tags.join("\n"));
    }
    stage.done(format!(
        "{} and {}, lintian clean",
        debs.dkms.display(),
        debs.tools.display()
    ));
    Ok(debs)
}

/// lintian's options: every tag down to pedantic fails, overrides shown.
pub const LINTIAN_OPTIONS: &[&str] = &[
    "--pedantic",
    "-I",
    "--fail-on",
    "error,warning,info,pedantic",
];

/// Runs a lintian command and returns its tags; none when it is clean.
pub fn lintian_tags(lintian: xshell::Cmd<'_>) -> Result<Vec<String>> {
    let lintian = lintian
        .quiet()
        .ignore_status()
        .output()
        .context("running lintian")?;
    let stdout = String::from_utf8_lossy(&lintian.stdout);
    let mut tags: Vec<String> = stdout
        .lines()
        .filter(|l| !l.contains("running with root privileges"))
        .map(str::to_string)
        .collect();
    if !lintian.status.success() && tags.is_empty() {
        tags.push(format!(
            "lintian failed: {}",
            String::from_utf8_lossy(&lintian.stderr).trim()
        ));
    }
    Ok(tags)
}

/// The Debian architecture this machine builds for.
pub fn arch(sh: &Shell) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copyright_stanzas_list_their_files_and_licence() {
        let text = "Format: x\n\nFiles: *\nCopyright: us\nLicense: GPL-2\n\n\
                    Files: vendor/a/*\n       vendor/b/*\nCopyright: them\n\
                    License: MIT or Apache-2.0\nComment: x\n\nLicense: MIT\n text\n";
        assert_eq!(
            copyright_stanzas(text),
            [
                (vec!["*".to_string()], "GPL-2".to_string()),
                (
                    vec!["vendor/a/*".to_string(), "vendor/b/*".to_string()],
                    "MIT or Apache-2.0".to_string()
                ),
            ]
        );
        assert_eq!(
            dep5_licence("(MIT OR Apache-2.0) AND Unicode-3.0"),
            "(MIT or Apache-2.0) and Unicode-3.0"
        );
    }
}
