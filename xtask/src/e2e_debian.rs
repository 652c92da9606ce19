// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask e2e-debian [--kernel RELEASE]`: the packages on Debian's
//! own kernel, end to end.
//!
//! A Debian sid root made with debootstrap holds the stock kernel (by
//! default `7.2.13+deb14-amd64`), its headers, its `linux-source-<series>`,
//! the Rust toolchain and DKMS; [`crate::e2e`] caches and copies it. Inside
//! that root, at native speed, `xtask/guest/e2e-debian.sh` first checks that
//! an install without `linux-source` or with another rustc is skipped by
//! DKMS with the one-paragraph message, then installs both packages for
//! real: DKMS builds the Rust metadata and the module. Then Debian's kernel
//! boots with that root (`vng --root`), and the same script loads the
//! module and runs the packaged selftests and `mydevctl status`. Last, in
//! the root, the kernel's headers and then its image are purged: the
//! image's postrm runs mydevice-dkms's kernel hook, which removes the Rust
//! metadata that the headers package left behind.

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

const TEST: Test = Test {
    name: "e2e-debian",
    suite: "sid",
    root: "sid",
    sources: &[],
    script: "e2e-debian.sh",
};
/// The stock kernel the test boots unless `--kernel` names another; its
/// packages are pinned by name, so when sid moves on, pass the new release.
const KERNEL_RELEASE: &str = "7.2.13+deb14-amd64";
/// The install phase: the metadata build takes minutes on a busy machine.
const INSTALL_TIMEOUT_SECS: u64 = 1800;
/// The remove phase: three purges.
const REMOVE_TIMEOUT_SECS: u64 = 600;

/// Options of `cargo xtask e2e-debian`.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// `--kernel RELEASE`: sid's kernel to test on.
    pub kernel: String,
}

impl Options {
    /// Parses `[--kernel RELEASE]`.
    pub fn parse(args: &[&str]) -> Result<Options> {
        let mut opts = Options {
            kernel: KERNEL_RELEASE.to_string(),
        };
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            match arg {
                "--kernel" => {
                    opts.kernel = e2e::release_value(&mut args, "e2e-debian", arg)?;
                }
                _ => bail!("e2e-debian: unknown option {arg}"),
            }
        }
        Ok(opts)
    }
}

pub fn run(sh: &Shell, opts: &Options) -> Result<()> {
    TEST.run(|| e2e_debian(sh, opts))
}

fn e2e_debian(sh: &Shell, opts: &Options) -> Result<()> {
    let total = Stage::start("e2e-debian");
    crate::setup::run(sh, false)?;
    let release = &opts.kernel;
    let key = format!("{release}\n{}", e2e::TOOLCHAIN.join(" "));
    let pristine = e2e::make_root(sh, &TEST, &key, |apt| {
        let mut packages: Vec<String> = e2e::TOOLCHAIN.iter().map(|p| p.to_string()).collect();
        packages.push(format!("linux-image-{release}"));
        packages.push(format!("linux-headers-{release}"));
        packages.push(e2e::source_package(release));
        let offer = apt.offer(&packages)?;
        let missing = offer.missing(&packages[..e2e::TOOLCHAIN.len()]);
        if !missing.is_empty() {
            bail!("sid does not offer {}", missing.join(" "));
        }
        packages.truncate(e2e::TOOLCHAIN.len());
        packages.extend(
            e2e::kernel_packages(&offer, release, "sid")
                .with_context(|| format!("e2e-debian --kernel {release}"))?,
        );
        Ok(vec![AptStep {
            target: None,
            packages,
            download_only: false,
        }])
    })?;
    let debs = deb::build(sh)?;
    let run = e2e::Run::prepare(sh, &TEST, &pristine)?;
    let debs = run.copy_debs(sh, &debs, "debs")?;

    let mut results = Results::default();
    let installed = run.chroot_phase(
        sh,
        &mut results,
        (
            "install",
            "two skipped installs, then DKMS builds the Rust metadata and the module (minutes)",
        ),
        "install",
        &[&debs, release],
        INSTALL_TIMEOUT_SECS,
    )?;
    if installed {
        run.boot(sh, &mut results, release)?;
        run.chroot_phase(
            sh,
            &mut results,
            (
                "remove",
                "the kernel's headers, then its image: the kernel hook removes the Rust metadata",
            ),
            "remove",
            &[release],
            REMOVE_TIMEOUT_SECS,
        )?;
    } else {
        results.fail("boot and remove skipped: the install phase failed".into());
    }
    results.finish(
        &TEST,
        total,
        "the stock Debian kernel builds, loads and passes with the packages",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        assert_eq!(Options::parse(&[]).unwrap().kernel, KERNEL_RELEASE);
        let o = Options::parse(&["--kernel", "7.2.14+deb14-amd64"]).unwrap();
        assert_eq!(o.kernel, "7.2.14+deb14-amd64");
    }

    #[test]
    fn options_refuse_nonsense() {
        for bad in [
            &["--kernel"][..],
            &["--kernel", "7.2"],
            &["--kernel", "linux-image-7.2.13+deb14-amd64"],
            &["--kernel", "7.2.13+deb14-amd64;reboot"],
            &["--kernel", "7.2.13 deb14"],
            &["--release", "7.2.13+deb14-amd64"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
