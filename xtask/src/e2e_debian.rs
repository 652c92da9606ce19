//! `cargo xtask e2e-debian`: the packages on Debian's own kernel, end to end.
//!
//! A Debian sid root made with debootstrap holds the stock kernel, its
//! headers, `linux-source-7.2`, the Rust toolchain and DKMS. It is built once
//! and kept pristine in `<cache>/debian-sid`; each run copies it to
//! `<cache>/debian-sid-run` with rsync, which only rewrites what the last run
//! changed. Inside that root, at native speed, `xtask/guest/e2e-debian.sh`
//! first checks that an install without `linux-source` or with another rustc
//! is skipped by DKMS with the one-paragraph message, then installs both
//! packages for real: DKMS builds the Rust metadata and the module. Then
//! Debian's kernel boots with that root (`vng --root`), and the same script
//! loads the module and runs the packaged selftests and `mydevctl status`.

use std::path::Path;
use std::path::PathBuf;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Cmd;
use xshell::Shell;

use crate::deb;
use crate::ktap;
use crate::util;
use crate::util::Stage;
use crate::vm;

/// The Debian suite and mirror of the root.
const SUITE: &str = "sid";
const MIRROR: &str = "http://deb.debian.org/debian";
/// The stock kernel the test boots; its packages are pinned by name.
const KERNEL_RELEASE: &str = "7.2.13+deb14-amd64";
/// What the root needs besides the kernel packages: the toolchain the
/// kernel was built with, what `make prepare` runs, DKMS, and what the
/// guest script and the selftests use.
const PACKAGES: &[&str] = &[
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
    "linux-source-7.2",
];
/// sid's Release file on the mirror is often past its Valid-Until date.
const APT_OPTIONS: &[&str] = &["-o", "Acquire::Check-Valid-Until=false"];
/// Where the guest script and its inputs go inside the root.
const IN_ROOT: &str = "opt/mydevice-e2e";
/// Time limits: the install phase (the metadata build takes minutes on a
/// busy machine) and the VM run under TCG.
const INSTALL_TIMEOUT_SECS: u64 = 1800;
const BOOT_TIMEOUT_SECS: u64 = 600;

pub fn run(sh: &Shell) -> Result<()> {
    let result = e2e(sh);
    if let Err(err) = &result {
        // The checks' own summary is printed when both phases ran; this is
        // the line for a run that stopped before them.
        if !err.to_string().starts_with(CHECKS_FAILED) {
            println!("e2e-debian: 0 passed, 1 failed (stopped before the checks)");
        }
    }
    result
}

/// The start of the error of a run whose checks failed.
const CHECKS_FAILED: &str = "e2e-debian: checks failed";

fn e2e(sh: &Shell) -> Result<()> {
    let total = Stage::start("e2e-debian");
    crate::setup::run(sh, false)?;
    let cache = util::cache_dir(sh)?;
    let pristine = cache.join("debian-sid");
    let root = cache.join("debian-sid-run");
    make_root(sh, &pristine)?;
    let debs = deb::build(sh)?;
    sync_root(sh, &pristine, &root)?;

    let work = root.join(IN_ROOT);
    sh.create_dir(work.join("debs"))?;
    for deb in [&debs.dkms, &debs.tools] {
        let name = deb.file_name().context("a package file name")?;
        sh.copy_file(deb, work.join("debs").join(name))
            .with_context(|| format!("copying {} into the root", deb.display()))?;
    }
    // The guest script and the KTAP helpers it sources from its directory.
    for file in ["e2e-debian.sh", "ktap-check.sh"] {
        let script = util::repo_root().join("xtask/guest").join(file);
        sh.copy_file(&script, work.join(file))
            .with_context(|| format!("copying {file} into the root"))?;
    }

    let mut results = Results::default();
    let install = install_phase(sh, &root, &mut results)?;
    if install {
        boot_phase(sh, &root, &mut results)?;
    } else {
        results.fail("boot skipped: the install phase failed".into());
    }

    println!(
        "e2e-debian: {} passed, {} failed",
        results.passed, results.failed
    );
    for note in &results.notes {
        println!("# {note}");
    }
    if results.failed > 0 {
        bail!("{CHECKS_FAILED}: {}", results.failed);
    }
    total.done("the stock Debian kernel builds, loads and passes with the packages");
    Ok(())
}

/// Counts of both phases, and notes on what failed outside the KTAP.
#[derive(Default)]
struct Results {
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

    fn fail(&mut self, note: String) {
        self.failed += 1;
        self.notes.push(note);
    }
}

/// The package list and kernel the pristine root was made with.
fn root_key() -> String {
    format!(
        "{SUITE} {MIRROR}\nlinux-headers-{KERNEL_RELEASE} linux-image-{KERNEL_RELEASE} {}\n",
        PACKAGES.join(" ")
    )
}

/// Makes the pristine root with debootstrap and apt, unless the cached one
/// was made from the same list.
fn make_root(sh: &Shell, pristine: &Path) -> Result<()> {
    let stamp = pristine.join(".mydevice-e2e");
    if sh.read_file(&stamp).ok().as_deref() == Some(root_key().as_str()) {
        println!("chroot: cached in {}", pristine.display());
        return Ok(());
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
    let tmp = pristine.with_extension("tmp");
    for dir in [pristine, tmp.as_path()] {
        ensure_unmounted(dir)?;
        sh.remove_path(dir)
            .with_context(|| format!("removing {}", dir.display()))?;
    }
    let log = util::log_dir(sh)?.join("e2e-debian-chroot.log");
    stage.note(format!(
        "debootstrap {SUITE} (about a minute), log in {}",
        log.display()
    ));
    util::run_logged(
        cmd!(sh, "debootstrap --variant=minbase {SUITE} {tmp} {MIRROR}"),
        "debootstrap",
        &log,
    )?;
    stage.note("installing the kernel, its headers and source, the toolchain and DKMS (minutes)");
    util::run_logged(
        in_root(sh, &tmp, &["apt-get"])
            .args(APT_OPTIONS)
            .arg("update"),
        "apt-get update in the root",
        &util::log_dir(sh)?.join("e2e-debian-apt-update.log"),
    )?;
    let kernel = [
        format!("linux-headers-{KERNEL_RELEASE}"),
        format!("linux-image-{KERNEL_RELEASE}"),
    ];
    util::run_logged(
        in_root(sh, &tmp, &["apt-get"])
            .args(APT_OPTIONS)
            .args(["install", "-y", "--no-install-recommends"])
            .args(PACKAGES)
            .args(&kernel),
        "apt-get install in the root",
        &util::log_dir(sh)?.join("e2e-debian-apt.log"),
    )?;
    let versions = in_root(
        sh,
        &tmp,
        &[
            "dpkg-query",
            "-W",
            "rustc",
            "bindgen",
            "gcc",
            "dkms",
            "linux-source-7.2",
        ],
    )
    .read()
    .context("listing the versions in the root")?;
    sh.write_file(
        tmp.join(stamp.file_name().context("stamp name")?),
        root_key(),
    )?;
    std::fs::rename(&tmp, pristine)
        .with_context(|| format!("moving the root into {}", pristine.display()))?;
    stage.done(format!(
        "{} with {}",
        pristine.display(),
        versions.replace('\t', " ").replace('\n', ", ")
    ));
    Ok(())
}

/// Copies the pristine root over the run's root; rsync only rewrites what
/// the last run changed.
fn sync_root(sh: &Shell, pristine: &Path, root: &Path) -> Result<()> {
    let stage = Stage::start("sync");
    ensure_unmounted(root)?;
    let (from, to) = (
        format!("{}/", pristine.display()),
        format!("{}/", root.display()),
    );
    cmd!(sh, "rsync -aHAX --delete --one-file-system {from} {to}")
        .quiet()
        .run()
        .context("copying the pristine root with rsync")?;
    stage.done(format!("{} from {}", root.display(), pristine.display()));
    Ok(())
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
fn in_root<'a>(sh: &'a Shell, root: &Path, argv: &[&str]) -> Cmd<'a> {
    let script = "r=$0; mount -t proc proc \"$r/proc\" && mount -t sysfs sys \"$r/sys\" && \
                  mount --rbind /dev \"$r/dev\" && exec chroot \"$r\" \"$@\"";
    cmd!(
        sh,
        "unshare --mount --propagation private -- sh -c {script} {root} {argv...}"
    )
    .env("DEBIAN_FRONTEND", "noninteractive")
}

/// The negative tests and the real install, in the root; true when all
/// passed.
fn install_phase(sh: &Shell, root: &Path, results: &mut Results) -> Result<bool> {
    let stage = Stage::start("install");
    let out = Path::new("/").join(IN_ROOT).join("out");
    let host_out = root.join(IN_ROOT).join("out");
    let log = util::log_dir(sh)?.join("e2e-debian-install.log");
    stage.note(format!(
        "two skipped installs, then DKMS builds the Rust metadata and the module (minutes); log in {}",
        log.display()
    ));
    let script = format!("/{IN_ROOT}/e2e-debian.sh");
    let debs = format!("/{IN_ROOT}/debs");
    let out_arg = out.display().to_string();
    let limit = INSTALL_TIMEOUT_SECS.to_string();
    let argv = [
        "timeout",
        &limit,
        "bash",
        &script,
        "install",
        &out_arg,
        &debs,
        KERNEL_RELEASE,
    ];
    let status = util::spawn_logged(in_root(sh, root, &argv), &log)?
        .wait()
        .context("waiting for the install phase")?;
    let ok = results.add_ktap(&host_out.join("install.ktap"));
    if !status.success() && ok {
        util::print_tail(&log);
        results.fail(format!(
            "install phase exited with {status}; log: {}",
            log.display()
        ));
    }
    stage.done(format!(
        "{}; logs in {}",
        if ok && status.success() {
            "passed"
        } else {
            "FAILED"
        },
        host_out.display()
    ));
    Ok(ok && status.success())
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

/// Boots Debian's kernel on the root and runs the boot phase.
fn boot_phase(sh: &Shell, root: &Path, results: &mut Results) -> Result<()> {
    let kvm = use_kvm(sh)?;
    let dir: PathBuf = vm::run_dir(sh, "e2e-debian")?;
    let kernel = root.join(format!("boot/vmlinuz-{KERNEL_RELEASE}"));
    let exec = format!("bash /{IN_ROOT}/e2e-debian.sh boot /mnt {KERNEL_RELEASE}");
    let rwdir = format!("--rwdir=/mnt={}", dir.display());
    if !util::shell_safe(&dir.display().to_string()) {
        bail!(
            "{} cannot be shared with the guest: use a path without spaces",
            dir.display()
        );
    }
    let limit = BOOT_TIMEOUT_SECS.to_string();
    let accel: &[&str] = if kvm { &[] } else { &["--disable-kvm"] };
    let console = dir.join("console.log");
    let stage = Stage::start("VM");
    stage.note(format!(
        "booting {KERNEL_RELEASE} with the root, console in {}",
        console.display()
    ));
    let vng = cmd!(
        sh,
        "timeout -k 10 {limit} vng --run {kernel} --root {root} --user root --cpus 2 --memory 2G {accel...} --verbose {rwdir} --exec {exec}"
    );
    let status = util::spawn_logged(vng, &console)?
        .wait()
        .context("waiting for vng")?;
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
        results.fail(format!("dmesg: {alarm}"));
    }
    stage.done(format!(
        "guest exited {code}, dmesg {}; files in {}",
        if alarms.is_empty() {
            "clean"
        } else {
            "NOT clean"
        },
        dir.display()
    ));
    Ok(())
}
