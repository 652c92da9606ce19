// SPDX-License-Identifier: GPL-2.0-only

//! The VM runner: boots the test kernel with virtme-ng and runs a guest script.
//!
//! The guest runs as root with 2 GiB and 2 vCPUs (a run may ask for more),
//! under a host-side `timeout`. Its scripts live in `xtask/guest/`; each
//! gets a host directory under `target/vm/<name>/`, shared read-write, as its
//! first argument and writes its dmesg to `dmesg.log` there. The host scans that log for
//! warnings, bugs and lockdep reports. Whether KVM works is probed once per
//! machine; the verdict is cached in `<cache>/kvm-verdict`.

use std::fs::File;
use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::ExitStatus;
use std::process::Stdio;
use std::thread;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::kernel::Flavour;
use crate::kernel::Kernel;
use crate::util;
use crate::util::Stage;

/// Printed by the guest in the KVM probe.
const PROBE_MARKER: &str = "mydevice-kvm-probe-ok";
/// Time limit of the KVM probe boot.
const PROBE_TIMEOUT_SECS: u64 = 60;
/// Virtual CPUs of a guest unless a run asks for another count.
pub const DEFAULT_CPUS: u32 = 2;

/// Kernel log lines that fail a run. `INFO: task ... blocked` is matched
/// separately, and the boot banners in [`DMESG_BENIGN`] are let through.
const DMESG_ALARMS: &[&str] = &[
    "WARNING:",
    "BUG:",
    "Oops",
    "Call Trace",
    "possible circular locking",
    "possible recursive locking",
    "inconsistent lock state",
    "lockdep",
    "Kernel panic",
    "general protection fault",
    // A taint that turns lockdep off for the rest of the run.
    "Disabling lock debugging",
];

/// Boot messages of a lockdep kernel that contain "lockdep" but report
/// nothing wrong.
const DMESG_BENIGN: &[&str] = &["RCU lockdep checking is enabled", "... MAX_LOCKDEP_"];

/// Where the guest's console goes.
pub enum Console {
    /// To the terminal, for transcripts.
    Terminal,
    /// To the terminal with stdin attached, for an interactive shell.
    Interactive,
    /// To `console.log` in the run directory, with kernel messages.
    Log,
}

/// A guest run to make.
pub struct Run<'a> {
    /// Names the run directory `target/vm/<name>/`.
    pub name: &'a str,
    /// The script in `xtask/guest/`, e.g. `test.sh`.
    pub script: &'a str,
    /// Arguments after the run directory; they must be shell-safe.
    pub args: Vec<String>,
    /// Host-side time limit of the whole boot.
    pub timeout_secs: u64,
    /// Virtual CPUs of the guest.
    pub cpus: u32,
    pub console: Console,
}

/// How a guest run ended.
pub struct Outcome {
    /// The guest script's exit code.
    pub exit_code: i32,
    /// The run directory shared with the guest.
    pub dir: PathBuf,
    /// Offending dmesg lines; empty when clean.
    pub dmesg_alarms: Vec<String>,
}

impl Outcome {
    /// Fails unless the guest script exited 0 with a clean dmesg; `what`
    /// names the run in the error.
    pub fn ensure_clean(&self, what: &str) -> Result<()> {
        if self.exit_code != 0 {
            bail!("{what} failed: the guest script exited {}", self.exit_code);
        }
        if !self.dmesg_alarms.is_empty() {
            bail!(
                "the guest's dmesg is not clean ({}):\n  {}",
                self.dir.join("dmesg.log").display(),
                self.dmesg_alarms.join("\n  ")
            );
        }
        Ok(())
    }
}

/// Creates an empty run directory `target/vm/<name>/`.
pub fn run_dir(sh: &Shell, name: &str) -> Result<PathBuf> {
    let dir = util::target_dir(sh).join("vm").join(name);
    sh.remove_path(&dir)
        .with_context(|| format!("clearing {}", dir.display()))?;
    sh.create_dir(&dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Whether to use KVM, from the cached verdict or a fresh probe.
fn use_kvm(sh: &Shell, kernel: &Kernel) -> Result<bool> {
    let verdict_file = util::cache_dir(sh)?.join("kvm-verdict");
    if let Ok(verdict) = sh.read_file(&verdict_file) {
        return Ok(announce(&verdict, &verdict_file));
    }
    let stage = Stage::start("VM: KVM probe");
    let verdict = if !Path::new("/dev/kvm").exists() {
        "tcg: /dev/kvm does not exist".to_string()
    } else if File::options()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        "tcg: /dev/kvm is not accessible (join the kvm group)".to_string()
    } else {
        let kdir = &kernel.dir;
        let limit = PROBE_TIMEOUT_SECS.to_string();
        let marker = format!("echo {PROBE_MARKER}");
        let out = cmd!(
            sh,
            "timeout -k 5 {limit} vng --run {kdir} --user root --cpus 1 --memory 512M --exec {marker}"
        )
        .quiet()
        .ignore_status()
        .output()
        .context("running the KVM probe boot")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last_error = stderr.lines().rev().find(|l| !l.trim().is_empty());
        match out.status.code() {
            _ if stdout.contains(PROBE_MARKER) => {
                "kvm: a KVM guest booted and ran a command".to_string()
            }
            Some(124 | 137) => {
                format!("tcg: a KVM guest did not answer within {PROBE_TIMEOUT_SECS} s")
            }
            code => format!(
                "tcg: a KVM guest failed (exit {}): {}",
                code.map_or("by signal".to_string(), |c| c.to_string()),
                last_error.unwrap_or("no message").trim()
            ),
        }
    };
    sh.write_file(&verdict_file, format!("{verdict}\n"))
        .with_context(|| format!("caching the KVM verdict in {}", verdict_file.display()))?;
    stage.done(format!("verdict cached in {}", verdict_file.display()));
    let kvm = announce(&verdict, &verdict_file);
    Ok(kvm)
}

/// Prints the mode a verdict selects; returns true for KVM.
fn announce(verdict: &str, verdict_file: &Path) -> bool {
    let line = verdict.lines().next().unwrap_or_default();
    let (mode, why) = line.split_once(": ").unwrap_or((line, ""));
    if mode == "kvm" {
        println!("VM: KVM ({why}; cached in {})", verdict_file.display());
        true
    } else {
        println!(
            "VM: TCG via --disable-kvm (KVM probe failed: {why}; cached in {}, delete it to probe again)",
            verdict_file.display()
        );
        false
    }
}

/// Boots the kernel, runs the guest script and scans the guest's dmesg.
///
/// # Errors
///
/// Fails when vng cannot start, when the boot times out, or when the guest
/// wrote no dmesg. A non-zero exit of the guest script and dmesg alarms are
/// reported in the [`Outcome`], not as errors.
pub fn boot(sh: &Shell, kernel: &Kernel, run: Run<'_>) -> Result<Outcome> {
    let kvm = use_kvm(sh, kernel)?;
    let dir = run_dir(sh, run.name)?;
    let script = util::repo_root().join("xtask/guest").join(run.script);
    let mut exec = vec![
        "bash".to_string(),
        script.display().to_string(),
        dir.display().to_string(),
    ];
    exec.extend(run.args);
    if let Some(bad) = exec.iter().find(|a| !util::shell_safe(a)) {
        bail!(
            "`{bad}` cannot be passed to the guest: use paths without spaces or shell characters"
        );
    }
    let exec = exec.join(" ");
    let kdir = &kernel.dir;
    let limit = run.timeout_secs.to_string();
    let cpus = run.cpus.to_string();
    let rwdir = format!("--rwdir={}", dir.display());
    let accel: &[&str] = if kvm { &[] } else { &["--disable-kvm"] };
    let foreground: &[&str] = match run.console {
        Console::Interactive => &["--foreground"],
        _ => &[],
    };
    // 5-level paging off in the KASAN kernel: identify_cpu() clears the boot
    // CPU's feature bits, LA57 among them, with interrupts on, and KASAN
    // takes an interrupt in that window for a wild access. TCG's CPU has
    // LA57; see docs/environment.md.
    let append: &[&str] = match kernel.flavour {
        Flavour::Debug => &["--append", "no5lvl"],
        Flavour::Base => &[],
    };
    let verbose: &[&str] = match run.console {
        Console::Log => &["--verbose"],
        _ => &[],
    };
    let vng = cmd!(
        sh,
        "timeout {foreground...} -k 10 {limit} vng --run {kdir} --user root --cpus {cpus} --memory 2G {accel...} {append...} {verbose...} {rwdir} --exec {exec}"
    );
    let stage = Stage::start("VM");
    let console = dir.join("console.log");
    let status = match run.console {
        Console::Log => util::spawn_logged(vng, &console)?
            .wait()
            .context("waiting for vng")?,
        Console::Terminal => relay(vng.into())?,
        Console::Interactive => {
            let mut command: Command = vng.into();
            command.status().context("starting vng")?
        }
    };
    let exit_code = status.code().unwrap_or(-1);
    if exit_code == 124 || exit_code == 137 {
        if matches!(run.console, Console::Log) {
            util::print_tail(&console);
        }
        bail!(
            "the VM run timed out after {} s; its files are in {}",
            run.timeout_secs,
            dir.display()
        );
    }
    let dmesg = dir.join("dmesg.log");
    let dmesg_alarms = if dmesg.is_file() {
        scan_dmesg(&sh.read_file(&dmesg)?)
    } else if console.is_file() {
        let mut alarms = scan_dmesg(&sh.read_file(&console)?);
        alarms.insert(
            0,
            "the guest wrote no dmesg.log (it crashed?); console.log scanned".into(),
        );
        alarms
    } else {
        vec![format!("the guest wrote no {}", dmesg.display())]
    };
    stage.done(format!(
        "guest exited {exit_code}, {}; files in {}",
        if dmesg_alarms.is_empty() {
            "dmesg clean"
        } else {
            "dmesg NOT clean"
        },
        dir.display()
    ));
    Ok(Outcome {
        exit_code,
        dir,
        dmesg_alarms,
    })
}

/// Runs `command` with its output copied to ours through pipes. vng reopens
/// the output it is given, which would truncate a file that our own output
/// has been redirected to.
fn relay(mut command: Command) -> Result<ExitStatus> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting vng")?;
    let mut stdout = child.stdout.take().context("vng's stdout pipe")?;
    let mut stderr = child.stderr.take().context("vng's stderr pipe")?;
    let err_thread = thread::spawn(move || io::copy(&mut stderr, &mut io::stderr()));
    io::copy(&mut stdout, &mut io::stdout()).context("copying the guest's output")?;
    let _ = err_thread.join();
    child.wait().context("waiting for vng")
}

/// The markers the fault-injection selftest writes to the kernel log
/// around its injections.
const FAULT_WINDOW_BEGINS: &str = "mydevice-selftests: fault injection begins";
const FAULT_WINDOW_ENDS: &str = "mydevice-selftests: fault injection ends";
/// First lines of the kernel's reports of a failed allocation
/// (`warn_alloc`), which a failure injected into an allocation without
/// `__GFP_NOWARN` prints, with a `Call Trace`.
const ALLOC_FAILURE_REPORTS: &[&str] = &["page allocation failure:", "vmalloc error:"];
/// How many lines after its first line a `warn_alloc` report prints its
/// `Call Trace:` (CPU, Tainted, Hardware name).
const ALLOC_REPORT_TRACE_WITHIN: usize = 5;

/// The kernel log lines that fail a run.
///
/// Between the fault-injection markers, the `Call Trace` of a report of a
/// failed allocation is expected and let through; anything else there, a
/// `WARNING:`, a `BUG:` or a lockdep report, still fails.
pub fn scan_dmesg(log: &str) -> Vec<String> {
    let mut in_window = false;
    // Lines since the first line of an allocation-failure report.
    let mut since_alloc_report: Option<usize> = None;
    let mut alarms = Vec::new();
    for line in log.lines() {
        since_alloc_report = since_alloc_report.map(|n| n + 1);
        if line.contains(FAULT_WINDOW_BEGINS) {
            in_window = true;
        } else if line.contains(FAULT_WINDOW_ENDS) {
            in_window = false;
        }
        if in_window && ALLOC_FAILURE_REPORTS.iter().any(|r| line.contains(r)) {
            since_alloc_report = Some(0);
        }
        let expected_trace = line.contains("Call Trace:")
            && since_alloc_report.is_some_and(|n| n <= ALLOC_REPORT_TRACE_WITHIN);
        if expected_trace {
            since_alloc_report = None;
            continue;
        }
        if DMESG_BENIGN.iter().any(|benign| line.contains(benign)) {
            continue;
        }
        if DMESG_ALARMS.iter().any(|alarm| line.contains(alarm))
            || (line.contains("INFO: task ") && line.contains(" blocked"))
        {
            alarms.push(line.trim().to_string());
        }
    }
    alarms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmesg_scan_finds_splats() {
        let log = "[    1.0] mydevice: loaded\n\
                   [    2.0] WARNING: CPU: 0 PID: 1 at foo.c:1\n\
                   [    3.0] INFO: task cat:99 blocked for more than 60 seconds.\n\
                   [    4.0] ======================================================\n\
                   [    4.1] WARNING: possible circular locking dependency detected\n";
        assert_eq!(scan_dmesg(log).len(), 3);
    }

    #[test]
    fn dmesg_scan_passes_a_clean_log() {
        let log = "[ 0.1] Linux version 7.2\n\
                   [ 0.3] rcu: \tRCU lockdep checking is enabled.\n\
                   [ 0.4] ... MAX_LOCKDEP_KEYS:        8192\n\
                   [ 0.5] mydevice: loaded\n";
        assert!(scan_dmesg(log).is_empty());
        assert_eq!(scan_dmesg("[ 9.0] INFO: lockdep is turned off.\n").len(), 1);
    }

    #[test]
    fn dmesg_scan_expects_alloc_failures_only_while_injecting() {
        let report = "[ 5.0] insmod: vmalloc error: size 434640, vm_struct allocation failed\n\
                      [ 5.1] CPU: 0 UID: 0 PID: 1655 Comm: insmod\n\
                      [ 5.1] Tainted: [O]=OOT_MODULE\n\
                      [ 5.1] Hardware name: QEMU Standard PC\n\
                      [ 5.1] Call Trace:\n\
                      [ 5.1]  warn_alloc+0x1aa/0x290\n";
        let begins = "[ 4.0] mydevice-selftests: fault injection begins; reports expected\n";
        let ends = "[ 6.0] mydevice-selftests: fault injection ends\n";
        assert!(scan_dmesg(&format!("{begins}{report}{ends}")).is_empty());
        // Outside the window, the same report fails the run.
        assert_eq!(scan_dmesg(report).len(), 1);
        assert_eq!(scan_dmesg(&format!("{begins}{ends}{report}")).len(), 1);
        // Inside it, other reports still fail it.
        let warning = "[ 5.5] WARNING: CPU: 0 PID: 1 at foo.c:1\n[ 5.5] Call Trace:\n";
        assert_eq!(
            scan_dmesg(&format!("{begins}{report}{warning}{ends}")).len(),
            2
        );
    }
}
