// SPDX-License-Identifier: GPL-2.0-only

//! What the end-to-end tests on Debian's own kernels share (`e2e-debian`,
//! `e2e-trixie`).
//!
//! A root made with debootstrap and apt is kept pristine in
//! `<cache>/debian-<suite>`, keyed by what went into it; each run copies it
//! to `<cache>/debian-<suite>-run` with rsync, which only rewrites what the
//! last run changed. The phases of a guest script in `xtask/guest/` run
//! inside that root with chroot, at native speed, and the root's own
//! kernels boot with it in a VM (`vng --root`). Every phase writes KTAP;
//! the counts of all of them make the closing `N passed, N failed` line.

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitStatus;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Cmd;
use xshell::Shell;

use crate::deb::Debs;
use crate::ktap;
use crate::util;
use crate::util::Stage;
use crate::vm;

/// The mirror debootstrap fetches the suite from.
const MIRROR: &str = "http://deb.debian.org/debian";
/// sid's Release file on the mirror is often past its Valid-Until date, and
/// a suite's must not stop a run either.
const APT_OPTIONS: &[&str] = &["-o", "Acquire::Check-Valid-Until=false"];
/// Where the guest scripts and their inputs go inside the root.
const IN_ROOT: &str = "opt/mydevice-e2e";
/// The guest scripts every test copies: the helpers the test's own script
/// sources from its directory.
const HELPERS: &[&str] = &["ktap-check.sh", "e2e-common.sh"];
/// Time limit of a VM run under TCG.
const BOOT_TIMEOUT_SECS: u64 = 600;

/// What a root needs besides its kernels: the toolchain the kernel was built
/// with, what `make prepare` runs, DKMS, and what the guest scripts and the
/// selftests use.
pub const TOOLCHAIN: &[&str] = &[
    "rustc",
    "rust-src",
    "bindgen",
    "libclang-dev",
    "build-essential",
    "bc",
    "bison",
    "flex",
    "libelf-dev",
    "libssl-dev",
    "openssl",
    "pahole",
    "kmod",
    "cpio",
    "xz-utils",
    "python3",
    "udev",
    "dkms",
];

/// One end-to-end test: its name, its Debian root and its guest script.
pub struct Test {
    /// `e2e-debian`: names the logs, the VM run directories and the
    /// summary line.
    pub name: &'static str,
    /// The Debian suite of the root, e.g. `sid`.
    pub suite: &'static str,
    /// The root's directory in the cache: `debian-<root>`, and
    /// `debian-<root>-run` for the copy a run works in.
    pub root: &'static str,
    /// `deb` lines for the root's apt sources besides the suite's own,
    /// e.g. its backports.
    pub sources: &'static [&'static str],
    /// The guest script in `xtask/guest/`.
    pub script: &'static str,
}

impl Test {
    fn log(&self, sh: &Shell, what: &str) -> Result<PathBuf> {
        Ok(util::log_dir(sh)?.join(format!("{}-{what}.log", self.name)))
    }

    /// The start of the error of a run whose checks failed.
    fn checks_failed(&self) -> String {
        format!("{}: checks failed", self.name)
    }

    /// Runs `e2e`, and prints the summary line for a run that stopped
    /// before its checks; [`Results::finish`] prints it for the others.
    pub fn run(&self, e2e: impl FnOnce() -> Result<()>) -> Result<()> {
        let result = e2e();
        if let Err(err) = &result {
            if !err.to_string().starts_with(&self.checks_failed()) {
                println!(
                    "{}: 0 passed, 1 failed (stopped before the checks)",
                    self.name
                );
            }
        }
        result
    }
}

/// One apt-get run that makes the root, after debootstrap.
pub struct AptStep {
    /// `-t` release, e.g. `trixie-backports`.
    pub target: Option<&'static str>,
    /// Packages, as `name` or `name=version`.
    pub packages: Vec<String>,
    /// Only download them into the root's apt cache, for a later phase.
    pub download_only: bool,
}

/// What the archive offers to a root being made, as `apt-cache madison`
/// lists it.
pub struct Offer {
    versions: Vec<(String, String)>,
}

impl Offer {
    fn parse(madison: &str) -> Offer {
        let versions = madison
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('|').map(str::trim);
                Some((fields.next()?.to_string(), fields.next()?.to_string()))
            })
            .filter(|(name, version)| !name.is_empty() && !version.is_empty())
            .collect();
        Offer { versions }
    }

    /// The versions of `package` on offer, in madison's order (newest
    /// first).
    pub fn versions<'a>(&'a self, package: &'a str) -> impl Iterator<Item = &'a str> {
        self.versions
            .iter()
            .filter(move |(name, _)| name == package)
            .map(|(_, version)| version.as_str())
    }

    /// The packages of `wanted` (`name` or `name=version`) not on offer.
    pub fn missing<'a>(&self, wanted: &'a [String]) -> Vec<&'a str> {
        wanted
            .iter()
            .map(String::as_str)
            .filter(|want| match want.split_once('=') {
                Some((name, version)) => !self.versions(name).any(|v| v == version),
                None => self.versions(want).next().is_none(),
            })
            .collect()
    }
}

/// apt inside a root that is being made.
pub struct Apt<'a> {
    sh: &'a Shell,
    root: &'a Path,
}

impl Apt<'_> {
    /// What the root's apt sources offer of `packages` (names only).
    pub fn offer(&self, packages: &[String]) -> Result<Offer> {
        let names: Vec<&str> = packages
            .iter()
            .map(|p| p.split_once('=').map_or(p.as_str(), |(name, _)| name))
            .collect();
        let madison = in_root(self.sh, self.root, &["apt-cache", "madison"])
            .args(&names)
            .quiet()
            .ignore_status()
            .ignore_stderr()
            .read()
            .context("asking apt-cache madison in the root")?;
        Ok(Offer::parse(&madison))
    }
}

/// The value of an option that names a kernel release, such as
/// `7.2.13+deb14-amd64`.
pub fn release_value<'a>(
    args: &mut impl Iterator<Item = &'a &'a str>,
    command: &str,
    option: &str,
) -> Result<String> {
    let value = args
        .next()
        .with_context(|| format!("{command}: {option} needs a kernel release"))?;
    let shape_ok = value.split('.').count() >= 3
        && value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if !shape_ok {
        bail!(
            "{command}: {option} needs a kernel release such as 7.2.13+deb14-amd64, not `{value}`"
        );
    }
    Ok(value.to_string())
}

/// The Linux source package of a kernel release: `linux-source-7.2` for
/// `7.2.12+deb13-amd64`.
pub fn source_package(release: &str) -> String {
    format!("linux-source-{}", series(release))
}

/// The series of a kernel release: `7.2` for `7.2.12+deb13-amd64`.
pub fn series(release: &str) -> String {
    release.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// The packages of a kernel release, for `apt-get install`: its image and
/// headers, and the Linux source at the headers' own version, which the
/// Rust metadata is built from.
///
/// # Errors
///
/// Fails with a message that names what the archive no longer offers.
pub fn kernel_packages(offer: &Offer, release: &str, suite: &str) -> Result<Vec<String>> {
    let image_and_headers = [
        format!("linux-image-{release}"),
        format!("linux-headers-{release}"),
    ];
    let missing = offer.missing(&image_and_headers);
    if !missing.is_empty() {
        bail!(
            "{suite} does not offer {} (any more?): name a release it has \
             (apt-cache search linux-image-)",
            missing.join(" and ")
        );
    }
    let source = source_package(release);
    let Some(version) = offer.versions(&image_and_headers[1]).next() else {
        bail!("no version of {} on offer", image_and_headers[1]);
    };
    let source = format!("{source}={version}");
    if !offer.missing(std::slice::from_ref(&source)).is_empty() {
        bail!("{suite} does not offer {source}, the source of {release}'s headers");
    }
    let mut packages = image_and_headers.to_vec();
    packages.push(source);
    Ok(packages)
}

/// Makes the pristine root of `test` with debootstrap and the apt steps
/// that `plan` returns, unless the cached one was made for the same `key`.
/// Returns its directory.
pub fn make_root(
    sh: &Shell,
    test: &Test,
    key: &str,
    plan: impl FnOnce(&Apt<'_>) -> Result<Vec<AptStep>>,
) -> Result<PathBuf> {
    let pristine = util::cache_dir(sh)?.join(format!("debian-{}", test.root));
    let key = format!(
        "{} {MIRROR}\n{}\n{key}\n",
        test.suite,
        test.sources.join("\n")
    );
    let stamp = pristine.join(".mydevice-e2e");
    if sh.read_file(&stamp).ok().as_deref() == Some(key.as_str()) {
        println!("chroot: cached in {}", pristine.display());
        return Ok(pristine);
    }
    let stage = Stage::start("chroot");
    if util::which(sh, "debootstrap").is_none() {
        stage.note("installing debootstrap");
        util::run_logged(
            cmd!(sh, "apt-get install -y --no-install-recommends debootstrap")
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install debootstrap",
            &util::log_dir(sh)?.join("apt-debootstrap.log"),
        )?;
    }
    // The new root is made beside the cached one, which stays until the
    // new one is complete: a release the archive lacks costs no rebuild.
    let tmp = pristine.with_extension("tmp");
    ensure_unmounted(&tmp)?;
    sh.remove_path(&tmp)
        .with_context(|| format!("removing {}", tmp.display()))?;
    let log = test.log(sh, "chroot")?;
    let suite = test.suite;
    stage.note(format!(
        "debootstrap {suite} (about a minute), log in {}",
        log.display()
    ));
    util::run_logged(
        cmd!(sh, "debootstrap --variant=minbase {suite} {tmp} {MIRROR}"),
        "debootstrap",
        &log,
    )?;
    if !test.sources.is_empty() {
        let list = tmp.join("etc/apt/sources.list.d/mydevice-e2e.list");
        sh.write_file(&list, test.sources.join("\n") + "\n")
            .with_context(|| format!("writing {}", list.display()))?;
    }
    util::run_logged(
        in_root(sh, &tmp, &["apt-get"])
            .args(APT_OPTIONS)
            .arg("update"),
        "apt-get update in the root",
        &test.log(sh, "apt-update")?,
    )?;
    let steps = plan(&Apt { sh, root: &tmp })?;
    stage.note("installing the packages of the root with apt-get (minutes)");
    for (n, step) in steps.iter().enumerate() {
        let target: Vec<&str> = step.target.map_or(Vec::new(), |t| vec!["-t", t]);
        let download: &[&str] = if step.download_only {
            &["--download-only"]
        } else {
            &[]
        };
        util::run_logged(
            in_root(sh, &tmp, &["apt-get"])
                .args(APT_OPTIONS)
                .args(["install", "-y", "--no-install-recommends"])
                .args(&target)
                .args(download)
                .args(&step.packages),
            &format!("apt-get install {} in the root", step.packages.join(" ")),
            &test.log(sh, &format!("apt-{}", n + 1))?,
        )?;
    }
    let format = "${Package} ${Version}\n";
    let versions = in_root(
        sh,
        &tmp,
        &[
            "dpkg-query",
            "-W",
            &format!("-f={format}"),
            "rustc",
            "bindgen",
            "gcc",
            "dkms",
            "linux-image-*",
            "linux-source-*",
        ],
    )
    .quiet()
    .ignore_stderr()
    .ignore_status()
    .read()
    .context("listing the versions in the root")?;
    let downloads: Vec<&str> = steps
        .iter()
        .filter(|step| step.download_only)
        .flat_map(|step| step.packages.iter().map(String::as_str))
        .collect();
    sh.write_file(tmp.join(DOWNLOADS), downloads.join("\n") + "\n")?;
    sh.write_file(tmp.join(".mydevice-e2e"), &key)?;
    ensure_unmounted(&pristine)?;
    sh.remove_path(&pristine)
        .with_context(|| format!("removing {}", pristine.display()))?;
    std::fs::rename(&tmp, &pristine)
        .with_context(|| format!("moving the root into {}", pristine.display()))?;
    // The globs also match packages dpkg only knows of, without a version.
    let versions: Vec<&str> = versions
        .lines()
        .filter(|line| line.split_whitespace().count() == 2)
        .collect();
    stage.done(format!(
        "{} with {}",
        pristine.display(),
        versions.join(", ")
    ));
    Ok(pristine)
}

/// Copies the pristine root of `test` over the root a run works in,
/// `debian-<root>-run` beside it, and returns that one.
pub fn copy_root(sh: &Shell, test: &Test, pristine: &Path) -> Result<PathBuf> {
    let root = pristine.with_file_name(format!("debian-{}-run", test.root));
    ensure_unmounted(&root)?;
    let (from, to) = (
        format!("{}/", pristine.display()),
        format!("{}/", root.display()),
    );
    cmd!(sh, "rsync -aHAX --delete --one-file-system {from} {to}")
        .quiet()
        .run()
        .context("copying the pristine root with rsync")?;
    Ok(root)
}

/// Where a root records the packages its apt steps only downloaded.
const DOWNLOADS: &str = ".mydevice-e2e-downloads";

/// The packages the apt steps of a root only downloaded into its apt
/// cache, for a later phase to install.
pub fn downloaded(pristine: &Path) -> Result<Vec<String>> {
    let file = pristine.join(DOWNLOADS);
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "reading {}: delete {} to make the root again",
            file.display(),
            pristine.display()
        )
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// The kernel releases installed in a root, from its `/boot/vmlinuz-*`.
pub fn installed_kernels(root: &Path) -> Result<Vec<String>> {
    let boot = root.join("boot");
    let mut releases: Vec<String> = std::fs::read_dir(&boot)
        .with_context(|| format!("listing {}", boot.display()))?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("vmlinuz-").map(str::to_string)
        })
        .collect();
    releases.sort();
    Ok(releases)
}

/// A run of a test in its own copy of the pristine root.
pub struct Run<'a> {
    test: &'a Test,
    pub root: PathBuf,
}

impl<'a> Run<'a> {
    /// Copies the pristine root over the run's root, and the guest scripts
    /// into it.
    pub fn prepare(sh: &Shell, test: &'a Test, pristine: &Path) -> Result<Run<'a>> {
        let stage = Stage::start("sync");
        let root = copy_root(sh, test, pristine)?;
        let work = root.join(IN_ROOT);
        sh.create_dir(&work)
            .with_context(|| format!("creating {}", work.display()))?;
        for file in HELPERS.iter().chain([&test.script]) {
            let script = util::repo_root().join("xtask/guest").join(file);
            sh.copy_file(&script, work.join(file))
                .with_context(|| format!("copying {file} into the root"))?;
        }
        stage.done(format!("{} from {}", root.display(), pristine.display()));
        Ok(Run { test, root })
    }

    /// Copies both packages into `/opt/mydevice-e2e/<dir>` in the root and
    /// returns that path as the guest sees it.
    pub fn copy_debs(&self, sh: &Shell, debs: &Debs, dir: &str) -> Result<String> {
        let dest = self.root.join(IN_ROOT).join(dir);
        sh.remove_path(&dest)?;
        sh.create_dir(&dest)?;
        for deb in [&debs.dkms, &debs.tools] {
            let name = deb.file_name().context("a package file name")?;
            sh.copy_file(deb, dest.join(name))
                .with_context(|| format!("copying {} into the root", deb.display()))?;
        }
        Ok(format!("/{IN_ROOT}/{dir}"))
    }

    /// Runs `phase` of the guest script in the root, with `args` after the
    /// phase's output directory, and counts its KTAP (`out/<phase>.ktap`).
    /// `stage` names its line and `what` says what it does; true when it
    /// all passed.
    pub fn chroot_phase(
        &self,
        sh: &Shell,
        results: &mut Results,
        (stage, what): (&'static str, &str),
        phase: &str,
        args: &[&str],
        timeout_secs: u64,
    ) -> Result<bool> {
        let stage = Stage::start(stage);
        let out = format!("/{IN_ROOT}/out");
        let host_out = self.root.join(IN_ROOT).join("out");
        let log = self.test.log(sh, phase)?;
        stage.note(format!("{what}; log in {}", log.display()));
        let script = format!("/{IN_ROOT}/{}", self.test.script);
        let limit = timeout_secs.to_string();
        let mut argv = vec!["timeout", &limit, "bash", &script, phase, &out];
        argv.extend(args);
        let status = run_to_log(in_root(sh, &self.root, &argv), &log)?;
        let ok = results.add_ktap(&host_out.join(format!("{phase}.ktap")));
        if !status.success() && ok {
            util::print_tail(&log);
            results.fail(format!(
                "the {phase} phase exited with {status}; log: {}",
                log.display()
            ));
        }
        let passed = ok && status.success();
        stage.done(format!(
            "{}; logs in {}",
            if passed { "passed" } else { "FAILED" },
            host_out.display()
        ));
        Ok(passed)
    }

    /// Boots `release` from the root and runs the guest script's boot
    /// phase, which writes `boot.ktap`; returns the run directory.
    pub fn boot(&self, sh: &Shell, results: &mut Results, release: &str) -> Result<PathBuf> {
        let kvm = use_kvm(sh)?;
        let dir = vm::run_dir(sh, &format!("{}-{release}", self.test.name))?;
        if !util::shell_safe(&dir.display().to_string()) || !util::shell_safe(release) {
            bail!(
                "{} cannot be shared with the guest: use a path without spaces",
                dir.display()
            );
        }
        let kernel = self.root.join(format!("boot/vmlinuz-{release}"));
        let root = &self.root;
        let exec = format!("bash /{IN_ROOT}/{} boot /mnt {release}", self.test.script);
        let rwdir = format!("--rwdir=/mnt={}", dir.display());
        let limit = BOOT_TIMEOUT_SECS.to_string();
        let accel: &[&str] = if kvm { &[] } else { &["--disable-kvm"] };
        let console = dir.join("console.log");
        let stage = Stage::start("VM");
        stage.note(format!(
            "booting {release} with the root, console in {}",
            console.display()
        ));
        let vng = cmd!(
            sh,
            "timeout -k 10 {limit} vng --run {kernel} --root {root} --user root --cpus 2 --memory 2G {accel...} --verbose {rwdir} --exec {exec}"
        );
        let status = run_to_log(vng, &console)?;
        let code = status.code().unwrap_or(-1);
        if code == 124 || code == 137 {
            util::print_tail(&console);
            bail!(
                "the VM run timed out after {BOOT_TIMEOUT_SECS} s; its files are in {}",
                dir.display()
            );
        }
        let ok = results.add_ktap(&dir.join("boot.ktap"));
        if code != 0 && ok {
            util::print_tail(&console);
            results.fail(format!(
                "the guest exited {code}; console: {}",
                console.display()
            ));
        }
        let dmesg = dir.join("dmesg.log");
        let alarms = match sh.read_file(&dmesg) {
            // virtme-ng-init's own complaints about the root's userland (no
            // `ip` in a minbase root) are not kernel reports.
            Ok(text) => vm::scan_dmesg(&text)
                .into_iter()
                .filter(|line| !line.contains("virtme-ng-init:"))
                .collect(),
            Err(_) => vec![format!("the guest wrote no {}", dmesg.display())],
        };
        for alarm in alarms.iter().take(20) {
            results.fail(format!("{release}: dmesg: {alarm}"));
        }
        stage.done(format!(
            "{release}: guest exited {code}, dmesg {}; files in {}",
            if alarms.is_empty() {
                "clean"
            } else {
                "NOT clean"
            },
            dir.display()
        ));
        Ok(dir)
    }

    /// A file the guest script wrote in its chroot phases' output directory.
    pub fn out_file(&self, name: &str) -> PathBuf {
        self.root.join(IN_ROOT).join("out").join(name)
    }
}

/// Runs `cmd` with its output in `log` (truncated first), and returns how
/// it ended.
fn run_to_log(cmd: Cmd<'_>, log: &Path) -> Result<ExitStatus> {
    std::fs::write(log, b"").with_context(|| format!("creating {}", log.display()))?;
    util::spawn_logged(cmd, log)?
        .wait()
        .with_context(|| format!("waiting for the command that writes {}", log.display()))
}

/// Fails when anything is mounted at or below `dir`: rsync --delete or a
/// removal would reach into it.
fn ensure_unmounted(dir: &Path) -> Result<()> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    let dir = dir.display().to_string();
    if let Some(line) = mounts.lines().find(|l| {
        l.split(' ')
            .nth(4)
            .is_some_and(|m| m == dir || m.starts_with(&format!("{dir}/")))
    }) {
        bail!("something is mounted inside {dir}; unmount it first: {line}");
    }
    Ok(())
}

/// A command run inside `root` with /proc, /sys and /dev mounted in a
/// mount namespace of its own, so that the mounts vanish with it.
pub fn in_root<'a>(sh: &'a Shell, root: &Path, argv: &[&str]) -> Cmd<'a> {
    in_namespaces(sh, "--mount", root, argv)
}

/// [`in_root`] in a network namespace of its own as well, which has only a
/// loopback device, and that one down: nothing inside reaches the network.
pub fn in_root_offline<'a>(sh: &'a Shell, root: &Path, argv: &[&str]) -> Cmd<'a> {
    in_namespaces(sh, "--mount --net", root, argv)
}

fn in_namespaces<'a>(sh: &'a Shell, unshare: &str, root: &Path, argv: &[&str]) -> Cmd<'a> {
    let script = "r=$0; mount -t proc proc \"$r/proc\" && mount -t sysfs sys \"$r/sys\" && \
                  mount --rbind /dev \"$r/dev\" && exec chroot \"$r\" \"$@\"";
    let unshare = unshare.split(' ');
    cmd!(
        sh,
        "unshare {unshare...} --propagation private -- sh -c {script} {root} {argv...}"
    )
    .env("DEBIAN_FRONTEND", "noninteractive")
}

/// Whether to use KVM, from the verdict the VM runner cached; TCG without
/// one, since a hung KVM probe would cost more than it saves here.
fn use_kvm(sh: &Shell) -> Result<bool> {
    let file = util::cache_dir(sh)?.join("kvm-verdict");
    let verdict = sh.read_file(&file).unwrap_or_default();
    let kvm = verdict.starts_with("kvm");
    println!(
        "VM: {} ({})",
        if kvm { "KVM" } else { "TCG via --disable-kvm" },
        verdict
            .lines()
            .next()
            .unwrap_or("no KVM verdict cached yet")
    );
    Ok(kvm)
}

/// The counts of all phases, and notes on what failed outside the KTAP.
#[derive(Default)]
pub struct Results {
    passed: usize,
    failed: usize,
    notes: Vec<String>,
}

impl Results {
    /// Prints a phase's KTAP and counts its results; true when all passed.
    fn add_ktap(&mut self, file: &Path) -> bool {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        print!("{text}");
        let report = ktap::parse(&text);
        let failed = report
            .cases
            .iter()
            .filter(|c| c.outcome != ktap::Outcome::Pass)
            .count();
        self.passed += report.cases.len() - failed;
        self.failed += failed;
        let mut ok = failed == 0;
        if report.cases.is_empty() || report.plan != Some(report.top_level) {
            self.fail(format!(
                "{}: {} results for a plan of {:?}",
                file.display(),
                report.top_level,
                report.plan
            ));
            ok = false;
        }
        ok
    }

    /// Counts a check outside the KTAP, printed as `ok` or `not ok`.
    pub fn check(&mut self, name: impl std::fmt::Display, ok: bool) {
        if ok {
            self.passed += 1;
            println!("ok - {name}");
        } else {
            self.failed += 1;
            println!("not ok - {name}");
        }
    }

    /// Adds a note, shown under the summary line.
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Counts a failure outside the KTAP, with a note on it.
    pub fn fail(&mut self, note: String) {
        self.failed += 1;
        self.notes.push(note);
    }

    /// Prints `<test>: N passed, N failed` and the notes; fails when
    /// anything failed, else ends `total` with `what`.
    pub fn finish(self, test: &Test, total: Stage, what: &str) -> Result<()> {
        println!(
            "{}: {} passed, {} failed",
            test.name, self.passed, self.failed
        );
        for note in &self.notes {
            println!("# {note}");
        }
        if self.failed > 0 {
            bail!("{}: {}", test.checks_failed(), self.failed);
        }
        total.done(what);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MADISON: &str = "\
linux-image-7.2.12+deb13-amd64 | 7.2.12-1~bpo13+1 | http://deb.debian.org/debian trixie-backports/main amd64 Packages
linux-headers-7.2.12+deb13-amd64 | 7.2.12-1~bpo13+1 | http://deb.debian.org/debian trixie-backports/main amd64 Packages
linux-source-7.2 | 7.2.12-1~bpo13+1 | http://deb.debian.org/debian trixie-backports/main amd64 Packages
linux-source-7.2 | 7.2.11-1~bpo13+1 | http://deb.debian.org/debian trixie-backports/main amd64 Packages
     rustc | 1.97.1+dfsg1-1~bpo13+1 | http://deb.debian.org/debian trixie-backports/main amd64 Packages
     rustc | 1.85.1+dfsg1-1+deb13u1 | http://deb.debian.org/debian trixie/main amd64 Packages
";

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn offer_names_what_is_missing() {
        let offer = Offer::parse(MADISON);
        let wanted = strings(&[
            "rustc",
            "rustc=1.85.1+dfsg1-1+deb13u1",
            "rustc=1.84.0",
            "linux-source-7.2=7.2.11-1~bpo13+1",
            "linux-source-7.3",
            "dkms",
        ]);
        assert_eq!(
            offer.missing(&wanted),
            ["rustc=1.84.0", "linux-source-7.3", "dkms"]
        );
    }

    #[test]
    fn kernel_packages_pin_the_source_to_the_headers() {
        let offer = Offer::parse(MADISON);
        assert_eq!(
            kernel_packages(&offer, "7.2.12+deb13-amd64", "trixie").unwrap(),
            [
                "linux-image-7.2.12+deb13-amd64",
                "linux-headers-7.2.12+deb13-amd64",
                "linux-source-7.2=7.2.12-1~bpo13+1"
            ]
        );
        let err = kernel_packages(&offer, "7.2.13+deb13-amd64", "trixie").unwrap_err();
        assert_eq!(
            err.to_string(),
            "trixie does not offer linux-image-7.2.13+deb13-amd64 and \
             linux-headers-7.2.13+deb13-amd64 (any more?): name a release it has \
             (apt-cache search linux-image-)"
        );
    }

    #[test]
    fn series_of_a_release() {
        assert_eq!(series("7.3.4+deb13-amd64"), "7.3");
        assert_eq!(source_package("6.12.118+deb13-amd64"), "linux-source-6.12");
    }
}
