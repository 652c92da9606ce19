// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask e2e-trixie [--from RELEASE] [--to RELEASE]`: Debian stable
//! with its backports kernels, a kernel upgrade, and DKMS doing its job.
//!
//! The root is trixie with its updates, security and backports suites
//! enabled inside the root only; [`crate::e2e`] makes, caches and copies
//! it. It holds trixie's own toolchain, which built the backports kernels
//! (rustc 1.85.1, bindgen 0.71.1, gcc-14), DKMS, and the first kernel
//! (`--from`, by default the 7.2 backports kernel `7.2.12+deb13-amd64`)
//! with its headers and `linux-source-7.2`. The packages of the second
//! (`--to`, by default `7.3.4+deb13-amd64`) wait in the root's apt cache.
//! `xtask/guest/e2e-trixie.sh` then:
//!
//! 1. in the root, installs both packages: DKMS builds the Rust metadata
//!    and the module for the first kernel;
//! 2. in the root, runs `apt-get install -t trixie-backports` with the
//!    second kernel's image, headers and `linux-source-7.3`, as a user
//!    upgrades: DKMS's kernel hook must build the module for it, with no
//!    manual step;
//! 3. boots the second kernel from the root, then the first: `modprobe`,
//!    the packaged selftests, `mydevctl status`, taint O and E only;
//! 4. in the root, upgrades both packages to a higher version built from
//!    the same tree: DKMS must replace the module for both kernels and
//!    leave nothing of the old version.
//!
//! When the archive no longer offers the default first kernel, the test
//! says so and starts from trixie's own 6.12 kernel instead, which DKMS
//! must skip with its BUILD_EXCLUSIVE message; a `--from` release older
//! than 7.2 is tested the same way.

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::Shell;

use crate::deb;
use crate::e2e;
use crate::e2e::AptStep;
use crate::e2e::Results;
use crate::e2e::Test;
use crate::util::Stage;

const BACKPORTS: &str = "trixie-backports";
const TEST: Test = Test {
    name: "e2e-trixie",
    suite: "trixie",
    root: "trixie",
    sources: &[
        "deb http://deb.debian.org/debian trixie-updates main",
        "deb http://deb.debian.org/debian-security trixie-security main",
        "deb http://deb.debian.org/debian trixie-backports main",
    ],
    script: "e2e-trixie.sh",
};
/// The first kernel unless `--from` names another: the newest 7.2 in
/// trixie-backports.
const FROM_RELEASE: &str = "7.2.12+deb13-amd64";
/// The kernel of the upgrade unless `--to` names another.
const TO_RELEASE: &str = "7.3.4+deb13-amd64";
/// trixie's own kernel, the start when the archive lost the first one:
/// the metapackages, whose candidates come from trixie, not from its
/// backports.
const STOCK_KERNEL: [&str; 2] = ["linux-image-amd64", "linux-headers-amd64"];
/// Each phase in the root: a metadata build takes minutes on a busy machine.
const PHASE_TIMEOUT_SECS: u64 = 1800;

/// Options of `cargo xtask e2e-trixie`.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// `--from RELEASE`: the kernel the packages are first installed on.
    pub from: String,
    /// `--to RELEASE`: the backports kernel of the upgrade.
    pub to: String,
}

impl Options {
    /// Parses `[--from RELEASE] [--to RELEASE]`.
    pub fn parse(args: &[&str]) -> Result<Options> {
        let mut opts = Options {
            from: FROM_RELEASE.to_string(),
            to: TO_RELEASE.to_string(),
        };
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            match arg {
                "--from" => opts.from = e2e::release_value(&mut args, "e2e-trixie", arg)?,
                "--to" => opts.to = e2e::release_value(&mut args, "e2e-trixie", arg)?,
                _ => bail!("e2e-trixie: unknown option {arg}"),
            }
        }
        if opts.from == opts.to {
            bail!(
                "e2e-trixie: --from and --to name the same kernel, {}",
                opts.to
            );
        }
        Ok(opts)
    }
}

pub fn run(sh: &Shell, opts: &Options) -> Result<()> {
    TEST.run(|| e2e_trixie(sh, opts))
}

fn e2e_trixie(sh: &Shell, opts: &Options) -> Result<()> {
    let total = Stage::start("e2e-trixie");
    crate::setup::run(sh, false)?;
    let key = format!(
        "from {}\nto {}\n{}",
        opts.from,
        opts.to,
        e2e::TOOLCHAIN.join(" ")
    );
    let pristine = e2e::make_root(sh, &TEST, &key, |apt| plan(apt, opts))?;
    // What the kernel upgrade installs: the second kernel's packages.
    let upgrade = e2e::downloaded(&pristine)?;
    // The first kernel: the root's only one, the default, `--from` or the
    // stock kernel in its place.
    let from = match e2e::installed_kernels(&pristine)?.as_slice() {
        [one] => one.clone(),
        other => bail!(
            "the root {} should hold one kernel, not {other:?}: delete it to make it again",
            pristine.display()
        ),
    };
    let to = &opts.to;
    let builds_first = builds_for(&from);
    println!(
        "e2e-trixie: {from} first ({}), then the upgrade to {to}",
        if builds_first {
            "DKMS builds for it"
        } else {
            "older than 7.2, DKMS must skip it"
        }
    );

    let debs = deb::build(sh)?;
    let higher = deb::build_upgrade(sh)?;
    let run = e2e::Run::prepare(sh, &TEST, &pristine)?;
    let debs = run.copy_debs(sh, &debs, "debs")?;
    let higher = run.copy_debs(sh, &higher, "debs-upgrade")?;

    let mut results = Results::default();
    let installed = run.chroot_phase(
        sh,
        &mut results,
        (
            "install",
            &if builds_first {
                format!(
                    "both packages on {from}: DKMS builds the Rust metadata and the module (minutes)"
                )
            } else {
                format!("both packages on {from}: DKMS must skip it")
            },
        ),
        "install",
        &[&debs, &from],
        PHASE_TIMEOUT_SECS,
    )?;
    let mut args = vec![from.as_str(), to.as_str()];
    args.extend(upgrade.iter().map(String::as_str));
    let upgraded = installed
        && run.chroot_phase(
            sh,
            &mut results,
            (
                "kernel upgrade",
                &format!(
                    "apt-get install -t {BACKPORTS} {}: DKMS's hook builds for {to} (minutes)",
                    upgrade.join(" ")
                ),
            ),
            "upgrade-kernel",
            &args,
            PHASE_TIMEOUT_SECS,
        )?;
    if upgraded {
        run.boot(sh, &mut results, to)?;
        if builds_first {
            run.boot(sh, &mut results, &from)?;
        }
        run.chroot_phase(
            sh,
            &mut results,
            (
                "package upgrade",
                "both packages at a higher version: DKMS replaces the module for both kernels",
            ),
            "upgrade-package",
            &[&higher, &from, to],
            PHASE_TIMEOUT_SECS,
        )?;
    } else {
        results.fail("the kernel upgrade, the boots and the package upgrade were skipped: an earlier phase failed".into());
    }
    for (when, file) in [
        (
            "after the kernel upgrade",
            "dkms-status-after-kernel-upgrade.txt",
        ),
        (
            "after the package upgrade",
            "dkms-status-after-package-upgrade.txt",
        ),
    ] {
        if let Ok(status) = std::fs::read_to_string(run.out_file(file)) {
            println!("e2e-trixie: dkms status {when}:");
            for line in status.lines() {
                println!("  {line}");
            }
        }
    }
    results.finish(
        &TEST,
        total,
        &format!(
            "DKMS built for {from} and, through the kernel upgrade, for {to}; both load and pass"
        ),
    )
}

/// The apt steps of the root: trixie's toolchain, the first kernel from
/// the backports (or trixie's own in its place), and the second kernel's
/// packages into the apt cache.
fn plan(apt: &e2e::Apt<'_>, opts: &Options) -> Result<Vec<AptStep>> {
    let toolchain: Vec<String> = e2e::TOOLCHAIN.iter().map(|p| p.to_string()).collect();
    let mut asked = toolchain.clone();
    for release in [&opts.from, &opts.to] {
        asked.push(format!("linux-image-{release}"));
        asked.push(format!("linux-headers-{release}"));
        asked.push(e2e::source_package(release));
    }
    let offer = apt.offer(&asked)?;
    let missing = offer.missing(&toolchain);
    if !missing.is_empty() {
        bail!("trixie does not offer {}", missing.join(" "));
    }
    let first = if !builds_for(&opts.from) {
        // Older than 7.2: DKMS is to skip it, so it needs no source.
        let packages = vec![
            format!("linux-image-{}", opts.from),
            format!("linux-headers-{}", opts.from),
        ];
        if let Some(missing) = offer.missing(&packages).first() {
            bail!(
                "e2e-trixie --from {}: trixie does not offer {missing}",
                opts.from
            );
        }
        AptStep {
            target: None,
            packages,
            download_only: false,
        }
    } else {
        match e2e::kernel_packages(&offer, &opts.from, BACKPORTS) {
            Ok(packages) => AptStep {
                target: Some(BACKPORTS),
                packages,
                download_only: false,
            },
            Err(err) if opts.from == FROM_RELEASE => {
                println!(
                    "e2e-trixie: the 7.2 backports kernel can no longer be installed ({err}); \
                     starting from trixie's own kernel instead, which DKMS must skip"
                );
                AptStep {
                    target: None,
                    packages: STOCK_KERNEL.iter().map(|p| p.to_string()).collect(),
                    download_only: false,
                }
            }
            Err(err) => return Err(err.context(format!("e2e-trixie --from {}", opts.from))),
        }
    };
    let second = e2e::kernel_packages(&offer, &opts.to, BACKPORTS)
        .with_context(|| format!("e2e-trixie --to {}", opts.to))?;
    Ok(vec![
        AptStep {
            target: None,
            packages: toolchain,
            download_only: false,
        },
        first,
        AptStep {
            target: Some(BACKPORTS),
            packages: second,
            download_only: true,
        },
    ])
}

/// Whether DKMS builds the module for a kernel release: 7.2 or later.
fn builds_for(release: &str) -> bool {
    let mut numbers = release
        .split(['.', '+', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (major, minor) >= (7, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.from.as_str(), o.to.as_str()), (FROM_RELEASE, TO_RELEASE));
        let o =
            Options::parse(&["--to", "7.3.5+deb13-amd64", "--from", "7.2.11+deb13-amd64"]).unwrap();
        assert_eq!(
            (o.from.as_str(), o.to.as_str()),
            ("7.2.11+deb13-amd64", "7.3.5+deb13-amd64")
        );
    }

    #[test]
    fn options_refuse_nonsense() {
        for bad in [
            &["--from"][..],
            &["--to", "7.3"],
            &["--to", "$(reboot)"],
            &["--from", "7.3.4+deb13-amd64"],
            &["--kernel", "7.2.12+deb13-amd64"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn dkms_builds_for_7_2_and_later() {
        assert!(builds_for("7.2.12+deb13-amd64"));
        assert!(builds_for("7.3.4+deb13-amd64"));
        assert!(builds_for("8.0.1+deb14-amd64"));
        assert!(!builds_for("6.12.118+deb13-amd64"));
        assert!(!builds_for("7.1.13+deb13-amd64"));
    }
}
