// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask setup`: installs what the project needs, idempotently.
//!
//! Every item prints one line: what was installed, or that it was already
//! present. The Linux source comes from Debian's `linux-source-<series>`
//! package (7.2 unless `--series` says otherwise), fetched with an apt
//! configuration of its own under the cache, so the system's apt sources are
//! never changed.

use std::fmt;
use std::path::Path;
use std::path::PathBuf;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Cmd;
use xshell::Shell;

use crate::util;
use crate::util::Stage;

/// Debian packages the kernel build, the VM runner, the packaging and the
/// selftests need.
const PACKAGES: &[&str] = &[
    "build-essential",
    "bc",
    "bison",
    "flex",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "kmod",
    "rsync",
    "libclang-19-dev",
    "llvm-19",
    "lld-19",
    "clang-19",
    "udev",
    "busybox-static",
    "zstd",
    "xz-utils",
    "python3-pip",
    // `cargo xtask deb`, and DKMS in the guest for the package test.
    "dpkg-dev",
    "debhelper",
    "dh-dkms",
    "dkms",
    "fakeroot",
    "lintian",
    // Tools the selftests drive in the guest, which shares the host's root.
    "socat",
    "stress-ng",
    // Host checks of `cargo xtask test`: the shell scripts, the man pages,
    // and mydevctl's JSON output against its schema (with /usr/bin/python3).
    "shellcheck",
    "groff-base",
    "python3-jsonschema",
    // `cargo xtask bench --profile` runs perf in the guest. Bookworm's, 6.1,
    // records and reports the 7.x test kernel: the perf ABI only grows.
    "linux-perf",
];

/// The bindgen release the kernel's Rust support is built with.
const BINDGEN_VERSION: &str = "0.73.2";
/// The virtme-ng release the VM runner is tested with.
const VNG_VERSION: &str = "1.42";
/// A kernel series: the test kernel is built from the newest Debian
/// `linux-source-<series>` package of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// 7.2, the default: the oldest series the module supports.
    V7_2,
    V7_3,
}

impl Series {
    /// The series of the test kernel unless `--series` names another.
    pub const DEFAULT: Series = Series::V7_2;
    const ALL: [Series; 2] = [Series::V7_2, Series::V7_3];

    pub fn as_str(self) -> &'static str {
        match self {
            Series::V7_2 => "7.2",
            Series::V7_3 => "7.3",
        }
    }

    /// Parses the value of `--series`.
    ///
    /// # Errors
    ///
    /// Fails on a series the module is not tested on.
    pub fn parse(value: &str) -> Result<Series> {
        let names: Vec<&str> = Series::ALL.iter().map(|s| s.as_str()).collect();
        Series::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .with_context(|| {
                format!(
                    "unknown kernel series `{value}`: the series are {}",
                    names.join(" and ")
                )
            })
    }

    /// Debian's source package of the series.
    pub fn source_package(self) -> String {
        format!("linux-source-{self}")
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options of `cargo xtask setup`.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// `--refresh`: look for a newer Linux source package.
    pub refresh: bool,
    /// `--series S`: whose Linux source to fetch.
    pub series: Series,
}

impl Options {
    /// Parses `[--refresh] [--series 7.2|7.3]`.
    pub fn parse(args: &[&str]) -> Result<Options> {
        let mut opts = Options {
            refresh: false,
            series: Series::DEFAULT,
        };
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            match arg {
                "--refresh" => opts.refresh = true,
                "--series" => {
                    let value = args.next().context("setup: --series needs 7.2 or 7.3")?;
                    opts.series = Series::parse(value)?;
                }
                _ => bail!("setup: unknown option {arg}"),
            }
        }
        Ok(opts)
    }
}

/// Runs every setup step for the default series; `refresh` looks for a
/// newer Linux source package.
pub fn run(sh: &Shell, refresh: bool) -> Result<()> {
    run_for(sh, Series::DEFAULT, refresh)
}

/// Runs every setup step, with the Linux source of `series`.
pub fn run_for(sh: &Shell, series: Series, refresh: bool) -> Result<()> {
    let stage = Stage::start("setup");
    debian_packages(sh)?;
    qemu(sh)?;
    rust_src(sh)?;
    msrv_toolchain(sh)?;
    bindgen(sh)?;
    virtme_ng(sh)?;
    linux_source(sh, series, refresh)?;
    stage.done("done");
    Ok(())
}

/// The directory holding the extracted Linux source of `series`.
pub fn linux_source_dir(sh: &Shell, series: Series) -> Result<PathBuf> {
    Ok(util::cache_dir(sh)?
        .join("src")
        .join(series.source_package()))
}

/// The Debian version of the extracted Linux source, if it is there.
pub fn linux_source_version(sh: &Shell, series: Series) -> Result<Option<String>> {
    let file = linux_source_dir(sh, series)?.join(".mydevice-version");
    if !sh.path_exists(&file) {
        return Ok(None);
    }
    let version = sh
        .read_file(&file)
        .with_context(|| format!("reading {}", file.display()))?;
    Ok(Some(version.trim().to_string()))
}

/// `apt-get`, run as root: directly when we are root, else through sudo.
fn apt_get(sh: &Shell) -> Result<Cmd<'_>> {
    let uid = cmd!(sh, "id -u")
        .quiet()
        .read()
        .context("finding the user id")?;
    if uid.trim() == "0" {
        Ok(cmd!(sh, "apt-get").env("DEBIAN_FRONTEND", "noninteractive"))
    } else {
        util::require(
            sh,
            "sudo",
            "installing packages needs root: run as root or install sudo",
        )?;
        Ok(cmd!(sh, "sudo env DEBIAN_FRONTEND=noninteractive apt-get"))
    }
}

/// Installed versions of the given packages; missing ones are absent.
fn installed(sh: &Shell, packages: &[&str]) -> Result<Vec<(String, String)>> {
    util::require(sh, "dpkg-query", "this project needs a Debian-based system")?;
    let format = "${Package} ${db:Status-Status} ${Version}\n";
    let out = cmd!(sh, "dpkg-query -W -f={format} {packages...}")
        .quiet()
        .ignore_status()
        .ignore_stderr()
        .read()
        .context("querying installed packages with dpkg-query")?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (name, status, version) = (words.next()?, words.next()?, words.next()?);
            let name = name.split(':').next().unwrap_or(name);
            (status == "installed").then(|| (name.to_string(), version.to_string()))
        })
        .collect())
}

fn debian_packages(sh: &Shell) -> Result<()> {
    let present = installed(sh, PACKAGES)?;
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !present.iter().any(|(name, _)| name == p))
        .collect();
    if missing.is_empty() {
        println!(
            "setup: Debian packages: already present ({} packages)",
            PACKAGES.len()
        );
        return Ok(());
    }
    let stage = Stage::start("setup: Debian packages");
    let log = util::log_dir(sh)?.join("apt.log");
    stage.note(format!("installing {}", missing.join(" ")));
    let update_log = util::log_dir(sh)?.join("apt-update.log");
    util::run_logged(apt_get(sh)?.arg("update"), "apt-get update", &update_log)?;
    util::run_logged(
        apt_get(sh)?
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
        "apt-get install",
        &log,
    )
    .context("installing Debian packages: see the log, or install them by hand")?;
    stage.done(format!("installed {}", missing.join(" ")));
    Ok(())
}

/// Reads `VERSION_CODENAME` from `/etc/os-release`.
fn codename(sh: &Shell) -> String {
    sh.read_file("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
        .map(|name| name.trim_matches('"').to_string())
        .unwrap_or_default()
}

fn qemu(sh: &Shell) -> Result<()> {
    let bookworm = codename(sh) == "bookworm";
    let present = installed(sh, &["qemu-system-x86"])?;
    if let Some((_, version)) = present.first() {
        // On bookworm the runner uses the backported QEMU, which is what it
        // is tested with.
        if !bookworm || version.contains("bpo") {
            println!("setup: qemu-system-x86: already present ({version})");
            return Ok(());
        }
    }
    let stage = Stage::start("setup: qemu-system-x86");
    let log = util::log_dir(sh)?.join("apt-qemu.log");
    if bookworm {
        // A sources list that only names bookworm-backports, used for this
        // one install; the system's own sources stay as they are.
        let dir = util::cache_dir(sh)?.join("apt-bpo");
        let list = dir.join("bpo.list");
        sh.write_file(
            &list,
            "deb http://deb.debian.org/debian bookworm-backports main\n",
        )
        .with_context(|| format!("writing {}", list.display()))?;
        let source_list = format!("Dir::Etc::SourceList={}", list.display());
        let parts = "Dir::Etc::SourceParts=/etc/apt/sources.list.d";
        util::run_logged(
            apt_get(sh)?.args(["-o", &source_list, "-o", parts, "update"]),
            "apt-get update (bookworm-backports)",
            &util::log_dir(sh)?.join("apt-qemu-update.log"),
        )?;
        util::run_logged(
            apt_get(sh)?.args(["-o", &source_list, "-o", parts]).args([
                "install",
                "-y",
                "--no-install-recommends",
                "-t",
                "bookworm-backports",
                "qemu-system-x86",
            ]),
            "installing qemu-system-x86 from bookworm-backports",
            &log,
        )?;
    } else {
        util::run_logged(
            apt_get(sh)?.args([
                "install",
                "-y",
                "--no-install-recommends",
                "qemu-system-x86",
            ]),
            "installing qemu-system-x86",
            &log,
        )?;
    }
    let version = installed(sh, &["qemu-system-x86"])?
        .first()
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    stage.done(format!("installed {version}"));
    Ok(())
}

fn rust_src(sh: &Shell) -> Result<()> {
    util::require(
        sh,
        "rustup",
        "install Rust with rustup from https://rustup.rs",
    )?;
    let components = cmd!(sh, "rustup component list --installed")
        .quiet()
        .read()
        .context("listing rustup components")?;
    if components.lines().any(|c| c.starts_with("rust-src")) {
        println!("setup: rust-src: already present");
        return Ok(());
    }
    let stage = Stage::start("setup: rust-src");
    let log = util::log_dir(sh)?.join("rustup.log");
    util::run_logged(
        cmd!(sh, "rustup component add rust-src"),
        "rustup component add rust-src",
        &log,
    )?;
    stage.done("installed");
    Ok(())
}

/// The `rust-version` of the workspace's Cargo.toml, the oldest Rust that
/// the userspace crates promise to build with.
pub fn msrv() -> Result<String> {
    let manifest = util::repo_root().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    text.lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("rust-version")?.trim();
            let value = value.strip_prefix('=')?.trim();
            Some(value.strip_prefix('"')?.strip_suffix('"')?.to_string())
        })
        .with_context(|| format!("{} declares no rust-version", manifest.display()))
}

/// The toolchain of [`msrv`], which `cargo xtask test` builds the userspace
/// crates with.
fn msrv_toolchain(sh: &Shell) -> Result<()> {
    let msrv = msrv()?;
    let toolchains = cmd!(sh, "rustup toolchain list")
        .quiet()
        .read()
        .context("listing rustup toolchains")?;
    if toolchains
        .lines()
        .any(|t| t.starts_with(&format!("{msrv}-")))
    {
        println!("setup: Rust {msrv} (rust-version): already present");
        return Ok(());
    }
    let stage = Stage::start("setup: Rust rust-version");
    let log = util::log_dir(sh)?.join("rustup-msrv.log");
    util::run_logged(
        cmd!(sh, "rustup toolchain install {msrv} --profile minimal"),
        "rustup toolchain install",
        &log,
    )?;
    stage.done(format!("installed {msrv}"));
    Ok(())
}

fn bindgen(sh: &Shell) -> Result<()> {
    let wanted = BINDGEN_VERSION
        .rsplit_once('.')
        .map_or(BINDGEN_VERSION, |(minor, _)| minor);
    if let Some(version) = util::version_of(sh, "bindgen") {
        if version.starts_with(&format!("bindgen {wanted}.")) {
            println!("setup: bindgen: already present ({version})");
            return Ok(());
        }
    }
    let stage = Stage::start("setup: bindgen");
    stage.note(format!(
        "cargo install bindgen-cli {BINDGEN_VERSION} (a few minutes)"
    ));
    let log = util::log_dir(sh)?.join("bindgen-install.log");
    util::run_logged(
        cmd!(
            sh,
            "cargo install bindgen-cli --locked --version {BINDGEN_VERSION}"
        ),
        "cargo install bindgen-cli",
        &log,
    )?;
    util::require(
        sh,
        "bindgen",
        "cargo installed it into ~/.cargo/bin: add that directory to PATH",
    )?;
    stage.done(format!("installed {BINDGEN_VERSION}"));
    Ok(())
}

fn virtme_ng(sh: &Shell) -> Result<()> {
    if let Some(version) = util::version_of(sh, "vng") {
        if version == format!("virtme-ng {VNG_VERSION}") {
            println!("setup: virtme-ng: already present ({version})");
            return Ok(());
        }
    }
    let stage = Stage::start("setup: virtme-ng");
    let log = util::log_dir(sh)?.join("pip.log");
    let package = format!("virtme-ng=={VNG_VERSION}");
    let first = util::run_logged(
        cmd!(sh, "python3 -m pip install {package}"),
        "pip install virtme-ng",
        &log,
    );
    if first.is_err() && util::tail(&log, 200).contains("externally-managed-environment") {
        // Debian's own python3 refuses system-wide pip installs; a user
        // install into ~/.local leaves the system's packages alone.
        stage.note("the system python is externally managed: installing into ~/.local");
        util::run_logged(
            cmd!(
                sh,
                "python3 -m pip install --user --break-system-packages {package}"
            ),
            "pip install --user virtme-ng",
            &log,
        )?;
    } else {
        first?;
    }
    util::require(
        sh,
        "vng",
        "pip installed virtme-ng but `vng` is not on PATH: add ~/.local/bin (or your Python's bin directory) to PATH",
    )?;
    stage.done(format!("installed {VNG_VERSION}"));
    Ok(())
}

/// Options that make apt use only the files under `<cache>/apt`.
fn isolated_apt_options(sh: &Shell, apt: &Path) -> Result<Vec<String>> {
    let etc = apt.join("etc");
    let parts = etc.join("sources.list.d");
    let prefs = etc.join("preferences.d");
    for dir in [
        &parts,
        &prefs,
        &apt.join("lists/partial"),
        &apt.join("cache/archives/partial"),
    ] {
        sh.create_dir(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let list = etc.join("sources.list");
    let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
    if !sh.path_exists(keyring) {
        bail!("{keyring} is missing: install the debian-archive-keyring package");
    }
    sh.write_file(
        &list,
        format!(
            "deb [signed-by={keyring}] http://deb.debian.org/debian sid main\n\
             deb [signed-by={keyring}] http://deb.debian.org/debian trixie-backports main\n"
        ),
    )
    .with_context(|| format!("writing {}", list.display()))?;
    let options = [
        format!("Dir::Etc::SourceList={}", list.display()),
        format!("Dir::Etc::SourceParts={}", parts.display()),
        format!(
            "Dir::Etc::Preferences={}",
            etc.join("preferences").display()
        ),
        format!("Dir::Etc::PreferencesParts={}", prefs.display()),
        format!("Dir::State::Lists={}", apt.join("lists").display()),
        format!("Dir::Cache={}", apt.join("cache").display()),
        "Dir::State::status=/dev/null".to_string(),
        "Acquire::Check-Valid-Until=false".to_string(),
        "APT::Sandbox::User=root".to_string(),
    ];
    Ok(options
        .iter()
        .flat_map(|o| ["-o".to_string(), o.clone()])
        .collect())
}

/// Downloads and extracts the newest `linux-source-<series>` from Debian.
fn linux_source(sh: &Shell, series: Series, refresh: bool) -> Result<()> {
    let recorded = linux_source_version(sh, series)?;
    let package = series.source_package();
    if let (Some(version), false) = (&recorded, refresh) {
        println!("setup: {package}: already present ({version})");
        return Ok(());
    }
    let stage = Stage::start("setup: linux-source");
    let cache = util::cache_dir(sh)?;
    let apt = cache.join("apt");
    let options = &isolated_apt_options(sh, &apt)?;
    let log = util::log_dir(sh)?.join("apt-linux-source.log");

    util::run_logged(
        cmd!(sh, "apt-get {options...} update"),
        "apt-get update (isolated: sid, trixie-backports)",
        &log,
    )
    .context("fetching the sid and trixie-backports package lists: is deb.debian.org reachable?")?;
    let madison = cmd!(sh, "apt-cache {options...} madison {package}")
        .quiet()
        .read()
        .context("listing linux-source versions with apt-cache madison")?;
    let mut newest: Option<String> = None;
    for version in madison
        .lines()
        .filter_map(|l| l.split('|').nth(1))
        .map(str::trim)
    {
        let newer = match &newest {
            None => true,
            Some(best) => cmd!(sh, "dpkg --compare-versions {version} gt {best}")
                .quiet()
                .run()
                .is_ok(),
        };
        if newer {
            newest = Some(version.to_string());
        }
    }
    let Some(version) = newest else {
        bail!(
            "no {package} package on offer in sid or trixie-backports; see {}",
            log.display()
        );
    };
    if recorded.as_deref() == Some(version.as_str()) {
        stage.done(format!("already present ({version}, the newest on offer)"));
        return Ok(());
    }

    let dl = cache.join("dl");
    sh.create_dir(&dl)
        .context("creating the download directory")?;
    {
        let _dir = sh.push_dir(&dl);
        util::run_logged(
            cmd!(sh, "apt-get {options...} download {package}={version}"),
            "apt-get download",
            &util::log_dir(sh)?.join("apt-linux-source-download.log"),
        )?;
    }
    let deb = sh
        .read_dir(&dl)?
        .into_iter()
        .find(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(&format!("{package}_")) && name.contains(&version.replace(':', "%3a"))
        })
        .with_context(|| format!("apt-get download left no {package} deb in {}", dl.display()))?;

    let unpack = dl.join("x");
    sh.remove_path(&unpack)
        .context("removing an old unpack directory")?;
    cmd!(sh, "dpkg-deb -x {deb} {unpack}")
        .quiet()
        .run()
        .context("unpacking the linux-source deb with dpkg-deb")?;
    let usr_src = unpack.join("usr/src");
    let tarball = sh
        .read_dir(&usr_src)?
        .into_iter()
        .find(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(&package) && name.contains(".tar")
        })
        .with_context(|| format!("no source tarball in {}", usr_src.display()))?;

    let src_root = cache.join("src");
    let staging = src_root.join(format!(".unpack-{version}"));
    sh.remove_path(&staging)?;
    sh.create_dir(&staging)?;
    stage.note(format!("extracting {}", tarball.display()));
    cmd!(sh, "tar -xf {tarball} -C {staging}")
        .quiet()
        .run()
        .context("extracting the Linux source tarball (needs tar, xz-utils)")?;
    let dest = linux_source_dir(sh, series)?;
    sh.remove_path(&dest)
        .with_context(|| format!("removing the old source {}", dest.display()))?;
    std::fs::rename(staging.join(&package), &dest)
        .with_context(|| format!("moving the source into {}", dest.display()))?;
    sh.write_file(dest.join(".mydevice-version"), format!("{version}\n"))?;
    sh.remove_path(&staging)?;
    sh.remove_path(&unpack)?;
    stage.done(format!(
        "{package} {version} extracted into {}",
        dest.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.refresh, o.series), (false, Series::V7_2));
        let o = Options::parse(&["--series", "7.3", "--refresh"]).unwrap();
        assert_eq!((o.refresh, o.series), (true, Series::V7_3));
        assert_eq!(Series::V7_3.source_package(), "linux-source-7.3");
    }

    #[test]
    fn options_refuse_nonsense() {
        for bad in [
            &["--series"][..],
            &["--series", "7.4"],
            &["--series", "7"],
            &["--series=7.3"],
            &["--debug"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
