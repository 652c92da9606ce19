// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask deb --chroot`: the packages built as Debian builds them, in
//! a clean root with no network.
//!
//! The root is a cached debootstrap of trixie (minbase) with
//! `build-essential` and debian/control's Build-Depends, no more: its cache
//! key is the Build-Depends field, so a change of it makes the root again.
//! The source is the one `cargo xtask deb` builds, with its crates in
//! `vendor/`. The build runs `dpkg-buildpackage -us -uc -b` with no profile
//! and no `-d`, so dpkg-checkbuilddeps checks every Build-Depends, in a
//! network namespace that has only a loopback device, down; trixie's own
//! cargo and rustc 1.85 compile it. Then the root gets lintian, from the
//! archive, and the packages must be clean by the current lintian too.

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::Shell;

use crate::deb;
use crate::e2e;
use crate::e2e::AptStep;
use crate::e2e::Results;
use crate::e2e::Test;
use crate::util;
use crate::util::Stage;

const TEST: Test = Test {
    name: "deb-chroot",
    suite: "trixie",
    root: "trixie-build",
    sources: &[
        "deb http://deb.debian.org/debian trixie-updates main",
        "deb http://deb.debian.org/debian-security trixie-security main",
    ],
    script: "",
};

/// Where the source goes inside the root.
const IN_ROOT: &str = "build";

pub fn run(sh: &Shell) -> Result<()> {
    crate::setup::run(sh, false)?;
    TEST.run(|| build(sh))
}

/// The packages of a `Build-Depends` field, for `apt-get install`: the
/// first of each set of alternatives, without its version, architecture
/// and profile restrictions. A virtual package such as `debhelper-compat`
/// stays as it is; apt picks its one provider.
fn build_depends(control: &str) -> Result<Vec<String>> {
    let mut field = String::new();
    let mut inside = false;
    for line in control.lines() {
        if let Some(rest) = line.strip_prefix("Build-Depends:") {
            inside = true;
            field.push_str(rest);
        } else if inside && line.starts_with([' ', '\t']) {
            field.push_str(line);
        } else if inside {
            break;
        }
    }
    if !inside {
        bail!("debian/control has no Build-Depends");
    }
    Ok(field
        .split(',')
        .filter_map(|dep| {
            let first = dep.split('|').next()?;
            let name = first.split(['(', '[', '<']).next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect())
}

fn build(sh: &Shell) -> Result<()> {
    let total = Stage::start("deb-chroot");
    let control = sh
        .read_file(util::repo_root().join("debian/control"))
        .context("reading debian/control")?;
    let mut packages = vec!["build-essential".to_string()];
    packages.extend(build_depends(&control)?);
    let key = format!("apt-get install {}", packages.join(" "));
    let pristine = e2e::make_root(sh, &TEST, &key, |_| {
        Ok(vec![AptStep {
            target: None,
            packages: packages.clone(),
            download_only: false,
        }])
    })?;
    let src = deb::source(sh, "deb-chroot", false)?;

    let stage = Stage::start("sync");
    let root = e2e::copy_root(sh, &TEST, &pristine)?;
    let name = src
        .tree
        .file_name()
        .context("the source tree's name")?
        .to_string_lossy()
        .into_owned();
    let inside = root.join(IN_ROOT);
    sh.create_dir(&inside)?;
    let tree = src.tree.display().to_string();
    xshell::cmd!(sh, "cp -a {tree} {inside}")
        .quiet()
        .run()
        .context("copying the source into the root")?;
    stage.done(format!("{} from {}", root.display(), pristine.display()));

    let mut results = Results::default();
    let stage = Stage::start("build");
    let log = util::log_dir(sh)?.join("deb-chroot-build.log");
    stage.note(format!(
        "dpkg-buildpackage -us -uc -b offline, trixie's cargo and rustc (minutes), log in {}",
        log.display()
    ));
    // `env -i`: nothing of this process's environment (rustup's, cargo's)
    // reaches the build. The first checks prove the network is gone (`set
    // -e` does not act on a `!` command, hence the `if`).
    let script = format!(
        "set -e; echo \"network devices: $(ls /sys/class/net)\"; \
         test \"$(ls /sys/class/net)\" = lo; \
         if getent hosts deb.debian.org; then echo 'the network is reachable' >&2; exit 1; fi; \
         cd /{IN_ROOT}/{name}; rustc --version; cargo --version; \
         dpkg-buildpackage -us -uc -b"
    );
    let env = [
        "env",
        "-i",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root",
        "LANG=C.UTF-8",
        "DEB_BUILD_OPTIONS=parallel=2",
    ];
    let argv: Vec<&str> = env.iter().copied().chain(["sh", "-c", &script]).collect();
    let built = util::run_logged(
        e2e::in_root_offline(sh, &root, &argv),
        "dpkg-buildpackage in the offline root",
        &log,
    );
    let ok = built.is_ok();
    results.check(
        "dpkg-buildpackage, offline, every Build-Depends checked",
        ok,
    );
    if let Err(err) = built {
        results.note(format!("{err:#}"));
        stage.done("FAILED");
        return results.finish(&TEST, total, "failed");
    }
    let toolchain = std::fs::read_to_string(&log).unwrap_or_default();
    for line in toolchain.lines().filter(|l| {
        l.starts_with("rustc 1") || l.starts_with("cargo 1") || l.starts_with("network")
    }) {
        stage.note(line.to_string());
    }
    stage.done("built");

    let stage = Stage::start("lintian");
    let arch = deb::arch(sh)?;
    let built_in = root.join(IN_ROOT);
    let out = util::target_dir(sh).join("deb-chroot");
    let debs = src.debs(&out, &arch);
    let mut collected = true;
    for deb in debs.all() {
        let file = deb.file_name().context("a package file name")?;
        if let Err(err) = sh.copy_file(built_in.join(file), deb) {
            collected = false;
            results.note(format!("{}: {err}", deb.display()));
        }
    }
    results.check("the four packages", collected);
    util::run_logged(
        e2e::in_root(
            sh,
            &root,
            &["apt-get", "install", "-y", "--no-install-recommends"],
        )
        .args(["-o", "Acquire::Check-Valid-Until=false", "lintian"]),
        "apt-get install lintian in the root",
        &util::log_dir(sh)?.join("deb-chroot-lintian-install.log"),
    )?;
    let version = e2e::in_root(sh, &root, &["lintian", "--version"])
        .quiet()
        .read()
        .unwrap_or_default();
    let files: Vec<String> = debs
        .all()
        .iter()
        .filter_map(|d| d.file_name())
        .map(|f| format!("/{IN_ROOT}/{}", f.to_string_lossy()))
        .collect();
    let mut argv = vec!["lintian"];
    argv.extend(deb::LINTIAN_OPTIONS);
    argv.extend(files.iter().map(String::as_str));
    let tags = deb::lintian_tags(e2e::in_root(sh, &root, &argv))?;
    results.check(format!("{version} clean, pedantic"), tags.is_empty());
    for tag in &tags {
        results.note(tag.clone());
    }
    stage.done(if tags.is_empty() {
        format!("{version}: clean")
    } else {
        format!("{version}: {} tags", tags.len())
    });
    results.finish(&TEST, total, &format!("packages in {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_depends_drop_versions_and_profiles() {
        let control = "Source: x\nBuild-Depends: debhelper-compat (= 13),\n \
                       dh-sequence-dkms,\n cargo <!pkg.mydevice.rustup>,\n \
                       rustc (>= 1.85) <!pkg.mydevice.rustup>,\n a | b,\n \
                       groff-base <!nocheck>,\nStandards-Version: 4.7.2\n";
        assert_eq!(
            build_depends(control).unwrap(),
            [
                "debhelper-compat",
                "dh-sequence-dkms",
                "cargo",
                "rustc",
                "a",
                "groff-base"
            ]
        );
    }

    #[test]
    fn the_real_control_file_parses() {
        let control = std::fs::read_to_string(util::repo_root().join("debian/control")).unwrap();
        let deps = build_depends(&control).unwrap();
        assert!(deps.iter().any(|d| d == "rustc"), "{deps:?}");
        assert!(deps.iter().all(|d| !d.contains(' ')), "{deps:?}");
    }
}
