// SPDX-License-Identifier: GPL-2.0-only

//! Loading and unloading the module: parameter checks, the node, /proc and
//! sysfs entries, rmmod refused while open, repeated cycles and modinfo.
//!
//! Runs with the module NOT loaded; `MYDEVICE_KO` names the module file.
//! Leaves the module unloaded.

use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mydevice_abi::{DEVICE_PATH, PARAM_PATH, PROC_PATH};
use mydevice_selftests::{
    ensure, expect, expect_eq, pattern, proc_map, sys, test, Context, Dev, Errno, Failure, Suite,
    SysResult, TestResult, T,
};

const NAME: &str = "mydevice";
const SYS_MODULE: &str = "/sys/module/mydevice";
const MISC_MAJOR: u32 = 10;

fn ko() -> String {
    std::env::var("MYDEVICE_KO").unwrap_or_default()
}

fn loaded() -> bool {
    Path::new(SYS_MODULE).exists()
}

/// `finit_module(2)` of the module file with `params`.
fn finit(params: &str) -> SysResult<()> {
    let fd = sys::open(&ko(), libc::O_RDONLY)?;
    let p = CString::new(params).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `p` is a valid NUL-terminated string; `fd` is open.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, fd, p.as_ptr(), 0) };
    let res = sys::Errno::result(r);
    let _ = sys::close(fd);
    res.map(|_| ())
}

/// `delete_module(2)` of the module, without waiting.
fn delete() -> SysResult<()> {
    let n = CString::new(NAME).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `n` is a valid NUL-terminated string.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, n.as_ptr(), libc::O_NONBLOCK) };
    sys::Errno::result(r).map(|_| ())
}

/// Runs a command; returns (success, stdout + stderr).
fn run(prog: &str, args: &[&str]) -> Result<(bool, String), Failure> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .context(format!("run {prog}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text.trim().to_string()))
}

fn insmod(params: &[&str]) -> Result<(bool, String), Failure> {
    let ko = ko();
    let mut args = vec![ko.as_str()];
    args.extend_from_slice(params);
    run("insmod", &args)
}

fn rmmod() -> Result<(bool, String), Failure> {
    run("rmmod", &[NAME])
}

/// Waits until `path` exists (or not).
fn wait_path(path: &str, exists: bool) -> bool {
    sys::wait_until(Duration::from_secs(3), || {
        Path::new(path).exists() == exists
    })
}

/// The kernel log from now on, through `/dev/kmsg`.
struct Kmsg {
    fd: i32,
}

impl Kmsg {
    fn open() -> Result<Self, Failure> {
        let fd =
            sys::open("/dev/kmsg", libc::O_RDONLY | libc::O_NONBLOCK).context("open /dev/kmsg")?;
        // SAFETY: lseek() takes no pointers.
        unsafe { libc::lseek(fd, 0, libc::SEEK_END) };
        Ok(Kmsg { fd })
    }

    /// The (level, text) records logged since the last call.
    fn records(&self) -> Vec<(u32, String)> {
        let mut v = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match sys::read(self.fd, &mut buf) {
                Ok(n) if n > 0 => {
                    let rec = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if let Some((head, text)) = rec.split_once(';') {
                        let prio: u32 = head
                            .split(',')
                            .next()
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(7);
                        let text = text.lines().next().unwrap_or("").to_string();
                        v.push((prio & 7, text));
                    }
                }
                // EPIPE means records were overwritten; keep reading.
                Err(Errno::EPIPE) => continue,
                _ => return v,
            }
        }
    }
}

impl Drop for Kmsg {
    fn drop(&mut self) {
        let _ = sys::close(self.fd);
    }
}

/// Makes sure the module is not loaded.
fn unload() -> TestResult {
    if loaded() {
        let r = sys::retry(delete);
        ensure!(r.is_ok(), "cannot unload the module: {r:?}");
    }
    ensure!(
        wait_path(SYS_MODULE, false),
        "{SYS_MODULE} still exists after unloading"
    );
    Ok(())
}

fn unavailable() -> Option<String> {
    let ko = ko();
    if ko.is_empty() {
        return Some("MYDEVICE_KO is not set to the path of mydevice.ko".into());
    }
    if !Path::new(&ko).is_file() {
        return Some(format!("MYDEVICE_KO={ko} is not a file"));
    }
    // SAFETY: geteuid() cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("loading modules needs root".into());
    }
    if loaded() && delete().is_err() {
        return Some(
            "the module is loaded and cannot be unloaded; this test needs it unloaded".into(),
        );
    }
    None
}

fn teardown() {
    let _ = unload();
}

const SUITE: Suite = Suite {
    unavailable,
    setup: unload,
    teardown,
};

/// Checks that a load with `param` is refused with EINVAL and a pr_err naming buffer_size.
fn expect_refused(t: &mut T, param: &str) -> TestResult {
    let log = Kmsg::open()?;
    let (ok, out) = insmod(&[param])?;
    expect!(t, !ok, "insmod {param} succeeded");
    t.diag(format!("insmod {param}: {out}"));
    expect!(t, !loaded(), "module loaded with {param}");
    let _ = unload();
    t.expect_errno(
        finit(param),
        libc::EINVAL,
        &format!("finit_module with {param}"),
    );
    expect!(t, !loaded(), "module loaded with {param}");
    let _ = unload();
    expect!(
        t,
        !Path::new(DEVICE_PATH).exists(),
        "{DEVICE_PATH} exists after a refused load"
    );
    let recs = log.records();
    let errs: Vec<&String> = recs
        .iter()
        .filter(|(lvl, text)| *lvl <= 3 && text.contains("buffer_size"))
        .map(|(_, text)| text)
        .collect();
    expect!(
        t,
        !errs.is_empty(),
        "no error-level kernel message mentioning buffer_size after {param}; got {recs:?}"
    );
    if let Some(e) = errs.first() {
        t.diag(format!("kernel said: {e}"));
    }
    Ok(())
}

// Loading with buffer_size=0 is refused with EINVAL and a pr_err saying why.
fn load_rejects_zero_buffer_size(t: &mut T) -> TestResult {
    expect_refused(t, "buffer_size=0")
}

// Loading with buffer_size=1048577 is refused with EINVAL and a pr_err saying why.
fn load_rejects_oversized_buffer_size(t: &mut T) -> TestResult {
    expect_refused(t, "buffer_size=1048577")
}

// A good load creates /dev/mydevice (0600, char, misc major), /proc/mydevice and the parameter.
fn load_creates_node_proc_and_parameter(t: &mut T) -> TestResult {
    let (ok, out) = insmod(&["buffer_size=8192"])?;
    ensure!(ok, "insmod buffer_size=8192 failed: {out}");
    ensure!(wait_path(DEVICE_PATH, true), "{DEVICE_PATH} did not appear");
    let md = std::fs::metadata(DEVICE_PATH).context(format!("stat {DEVICE_PATH}"))?;
    expect!(
        t,
        md.file_type().is_char_device(),
        "{DEVICE_PATH} is not a character device"
    );
    expect_eq!(
        t,
        md.permissions().mode() & 0o7777,
        0o600,
        "mode of {DEVICE_PATH} (octal {:o})",
        md.permissions().mode() & 0o7777
    );
    expect_eq!(
        t,
        libc::major(md.rdev()),
        MISC_MAJOR,
        "major of {DEVICE_PATH}"
    );
    ensure!(wait_path(PROC_PATH, true), "{PROC_PATH} did not appear");
    let m = proc_map()?;
    expect_eq!(
        t,
        m.get("buffer_size").map(String::as_str),
        Some("8192"),
        "/proc buffer_size"
    );
    let param = std::fs::read_to_string(PARAM_PATH).context(format!("read {PARAM_PATH}"))?;
    expect_eq!(t, param.trim(), "8192", "{PARAM_PATH}");
    let pm = std::fs::metadata(PARAM_PATH).context(format!("stat {PARAM_PATH}"))?;
    expect_eq!(
        t,
        pm.permissions().mode() & 0o777,
        0o444,
        "mode of {PARAM_PATH}"
    );
    let dev = Dev::rw().context("open")?;
    expect_eq!(
        t,
        dev.status().map(|s| s.buffer_size),
        Ok(8192),
        "STATUS buffer_size"
    );
    drop(dev);
    let (ok, out) = rmmod()?;
    expect!(t, ok, "rmmod failed: {out}");
    expect!(
        t,
        wait_path(DEVICE_PATH, false),
        "{DEVICE_PATH} still exists after rmmod"
    );
    expect!(
        t,
        !Path::new(PROC_PATH).exists(),
        "{PROC_PATH} still exists after rmmod"
    );
    expect!(t, !loaded(), "{SYS_MODULE} still exists after rmmod");
    Ok(())
}

// rmmod while a file is open is refused and changes nothing; after the close it unloads.
fn rmmod_refused_while_file_open(t: &mut T) -> TestResult {
    finit("").context("finit_module")?;
    ensure!(wait_path(DEVICE_PATH, true), "{DEVICE_PATH} did not appear");
    let dev = Dev::rw().context("open")?;
    dev.write_all(b"pinned")?;
    let (ok, out) = rmmod()?;
    expect!(t, !ok, "rmmod succeeded with a file open");
    t.diag(format!("rmmod: {out}"));
    // The kernel says EWOULDBLOCK (EAGAIN) for a module in use; kmod's rmmod reports "in use".
    match delete() {
        Err(e) if e == Errno::EBUSY || e == Errno::EAGAIN => t.diag(format!("delete_module: {e}")),
        other => t.fail(format!(
            "delete_module with a file open: expected EBUSY or EAGAIN, got {other:?}"
        )),
    }
    expect!(t, loaded(), "module gone with a file open");
    expect!(
        t,
        Path::new(DEVICE_PATH).exists(),
        "{DEVICE_PATH} gone with a file open"
    );
    expect!(
        t,
        Path::new(PROC_PATH).exists(),
        "{PROC_PATH} gone with a file open"
    );
    expect_eq!(
        t,
        dev.read(64),
        Ok(b"pinned".to_vec()),
        "data after the refused rmmod"
    );
    dev.write_all(b"again")?;
    expect_eq!(
        t,
        dev.read(64),
        Ok(b"again".to_vec()),
        "round trip after the refused rmmod"
    );
    drop(dev);
    let (ok, out) = rmmod()?;
    expect!(t, ok, "rmmod after close failed: {out}");
    expect!(
        t,
        wait_path(DEVICE_PATH, false),
        "{DEVICE_PATH} still exists after rmmod"
    );
    expect!(
        t,
        !Path::new(PROC_PATH).exists(),
        "{PROC_PATH} still exists after rmmod"
    );
    Ok(())
}

// 20 load/unload cycles with a write and read in between all work and log no errors.
fn twenty_load_unload_cycles(t: &mut T) -> TestResult {
    let log = Kmsg::open()?;
    for i in 0..20u32 {
        let (ok, out) = insmod(&[])?;
        ensure!(ok, "cycle {i}: insmod failed: {out}");
        ensure!(
            wait_path(DEVICE_PATH, true),
            "cycle {i}: {DEVICE_PATH} did not appear"
        );
        let param = std::fs::read_to_string(PARAM_PATH).unwrap_or_default();
        expect_eq!(t, param.trim(), "4096", "cycle {i}: default buffer_size");
        let dev = Dev::rw_nonblock().context(format!("cycle {i}: open"))?;
        let data = pattern(i, 16);
        dev.write_all(&data)?;
        expect_eq!(t, dev.read(64), Ok(data), "cycle {i}: round trip");
        drop(dev);
        let (ok, out) = rmmod()?;
        ensure!(ok, "cycle {i}: rmmod failed: {out}");
        node_and_proc_gone(i)?;
    }
    expect_quiet_log(t, &log);
    Ok(())
}

/// Fails unless the node and the proc entry are gone after cycle `i`'s unload.
fn node_and_proc_gone(i: u32) -> TestResult {
    ensure!(
        wait_path(DEVICE_PATH, false),
        "cycle {i}: {DEVICE_PATH} still exists"
    );
    ensure!(
        !Path::new(PROC_PATH).exists(),
        "cycle {i}: {PROC_PATH} still exists"
    );
    Ok(())
}

/// Fails on a warning or error the kernel logged since `log` was opened.
/// The first load of a boot may note the taint of an out-of-tree module.
/// KUnit's KTAP lines (e.g. "# capacity_max: Test should be marked slow" on
/// a slow emulated host) are judged with the KUnit results instead.
fn expect_quiet_log(t: &mut T, log: &Kmsg) {
    let bad: Vec<(u32, String)> = log
        .records()
        .into_iter()
        .filter(|(lvl, text)| {
            let ktap = text.trim_start();
            *lvl <= 4
                && !text.contains("taint")
                && !text.contains("verification")
                && !ktap.starts_with('#')
                && !ktap.starts_with("ok ")
                && !ktap.starts_with("not ok ")
        })
        .collect();
    expect!(
        t,
        bad.is_empty(),
        "warnings or errors logged during the cycles: {bad:?}"
    );
}

/// How many load/unload cycles to run: `MYDEVICE_LOAD_CYCLES`, default 100.
fn load_cycles() -> u32 {
    std::env::var("MYDEVICE_LOAD_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// KUnit's `filter_glob` parameter, set for a while and then put back.
struct KunitFilter {
    old: Option<String>,
}

const KUNIT_FILTER: &str = "/sys/module/kunit/parameters/filter_glob";

impl KunitFilter {
    /// Makes KUnit run no suite at module load (if it can be told so).
    fn none() -> Self {
        let old = std::fs::read_to_string(KUNIT_FILTER).ok();
        if old.is_some() {
            let _ = std::fs::write(KUNIT_FILTER, "mydevice_none_at_load");
        }
        KunitFilter { old }
    }
}

impl Drop for KunitFilter {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            // A NULL glob reads back as "(null)" and means all suites.
            let old = match old.trim() {
                "(null)" | "" => "*.*",
                v => v,
            };
            let _ = std::fs::write(KUNIT_FILTER, old);
        }
    }
}

// 100 load/unload cycles through the system calls, with I/O and a resize in
// between, all work, leave nothing behind and log nothing bad.
fn hundred_load_unload_cycles_with_io(t: &mut T) -> TestResult {
    let log = Kmsg::open()?;
    // The KUnit suites run at every load of the module; the twenty cycles
    // above keep them, these hundred test the driver's own load and unload.
    let _kunit = KunitFilter::none();
    let cycles = load_cycles();
    let start = std::time::Instant::now();
    for i in 0..cycles {
        let size = 64 + 64 * (i % 8);
        finit(&format!("buffer_size={size}")).context(format!("cycle {i}: finit_module"))?;
        ensure!(
            wait_path(DEVICE_PATH, true),
            "cycle {i}: {DEVICE_PATH} did not appear"
        );
        let dev = Dev::rw_nonblock().context(format!("cycle {i}: open"))?;
        let st = dev.status().context(format!("cycle {i}: MYDEV_STATUS"))?;
        expect_eq!(
            t,
            (st.buffer_size, st.bytes_used, st.open_count),
            (size, 0, 1),
            "cycle {i}: STATUS after load"
        );
        let data = pattern(i, size as usize);
        dev.write_all(&data)?;
        // Every other cycle, grow past the kmalloc limit into vmalloc and back.
        let grow = if i % 2 == 0 { 1 << 20 } else { 8192 };
        dev.resize(grow)
            .context(format!("cycle {i}: MYDEV_RESIZE {grow}"))?;
        expect_eq!(
            t,
            dev.read(4096),
            Ok(data),
            "cycle {i}: data across the resize"
        );
        // The module stays while a file is open, also with data left in it.
        dev.write_all(b"left behind")?;
        t.expect_errno(
            delete(),
            libc::EAGAIN,
            &format!("cycle {i}: delete_module while open"),
        );
        drop(dev);
        sys::retry(delete).context(format!("cycle {i}: delete_module"))?;
        node_and_proc_gone(i)?;
        ensure!(!loaded(), "cycle {i}: {SYS_MODULE} still exists");
    }
    expect_quiet_log(t, &log);
    t.diag(format!(
        "{cycles} cycles in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

// modinfo shows license GPL, author, description, version and the buffer_size parameter.
fn modinfo_shows_metadata(t: &mut T) -> TestResult {
    let (ok, out) = run("modinfo", &[&ko()])?;
    ensure!(ok, "modinfo failed: {out}");
    let field = |key: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
            .collect()
    };
    let license = field("license");
    expect!(
        t,
        license.iter().any(|l| l.starts_with("GPL")),
        "license: expected GPL, got {license:?}"
    );
    for key in ["author", "description", "version"] {
        let v = field(key);
        expect!(
            t,
            v.iter().any(|s| !s.is_empty()),
            "modinfo has no {key}: {out}"
        );
    }
    let parm = field("parm");
    expect!(
        t,
        parm.iter().any(|p| p.starts_with("buffer_size")),
        "parm: expected buffer_size, got {parm:?}"
    );
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &SUITE,
        &[
            test!(load_rejects_zero_buffer_size),
            test!(load_rejects_oversized_buffer_size),
            test!(load_creates_node_proc_and_parameter),
            test!(rmmod_refused_while_file_open),
            test!(twenty_load_unload_cycles, 240),
            test!(hundred_load_unload_cycles_with_io, 280),
            test!(modinfo_shows_metadata),
        ],
    )
}
