// SPDX-License-Identifier: GPL-2.0-only

//! Fault injection: allocation failures aimed at the driver's allocations.
//!
//! Needs a kernel with `CONFIG_FAILSLAB`, `CONFIG_FAIL_PAGE_ALLOC` and
//! `CONFIG_FAULT_INJECTION_DEBUG_FS` (the debug flavour, `cargo xtask test
//! --debug`), so the runner starts the `debug_*` programs only there.
//!
//! - `MYDEV_RESIZE` is run with its N-th fault point failed
//!   (`/proc/thread-self/fail-nth`), for every N, into the slab, the page
//!   allocator and the vmalloc path: it either succeeds or fails with
//!   `ENOMEM`, and then the capacity and the data are the new or the old,
//!   intact.
//! - With failslab and fail_page_alloc failing every allocation of one task
//!   (`task-filter` and `/proc/self/make-it-fail`), a `RESIZE` fails with
//!   `ENOMEM` and keeps the old buffer and its data.
//! - Loading the module with its N-th fault point failed either succeeds or
//!   fails leaving no node, no /proc entry and no module behind. This test
//!   unloads the module and leaves it loaded again with the default
//!   `buffer_size`; it needs `MYDEVICE_KO`.
//!
//! A read or write whose user buffer faults part way is covered on every
//! kernel by the `fault` program.

use std::ffi::CString;
use std::path::Path;
use std::time::Instant;

use mydevice_abi::{DEVICE_PATH, PROC_PATH};
use mydevice_selftests::{
    ensure, expect, expect_eq, pattern, sys, test, Context, Dev, Errno, Failure, Suite, SysResult,
    TestResult, T,
};

const DEBUGFS: &str = "/sys/kernel/debug";
const FAILSLAB: &str = "/sys/kernel/debug/failslab";
const FAIL_PAGE_ALLOC: &str = "/sys/kernel/debug/fail_page_alloc";
const SYS_MODULE: &str = "/sys/module/mydevice";
const KUNIT_FILTER: &str = "/sys/module/kunit/parameters/filter_glob";

/// A debugfs or sysfs setting, put back as it was on drop.
struct Knob {
    path: String,
    old: String,
}

impl Knob {
    fn set(path: &str, value: &str) -> Result<Self, Failure> {
        let old = std::fs::read_to_string(path).context(format!("read {path}"))?;
        std::fs::write(path, value).context(format!("write {value} to {path}"))?;
        Ok(Knob {
            path: path.to_string(),
            old: old.trim().to_string(),
        })
    }
}

impl Drop for Knob {
    fn drop(&mut self) {
        let old = if self.old == "(null)" {
            "*.*"
        } else {
            &self.old
        };
        let _ = std::fs::write(&self.path, old);
    }
}

/// Writes a line to the kernel log, so that the allocation-failure reports
/// that fault injection causes (`warn_alloc()`) can be told from others.
fn kmsg(line: &str) {
    let _ = std::fs::write("/dev/kmsg", format!("mydevice-selftests: {line}\n"));
}

/// Marks the fault injection's start and end in the kernel log.
struct Marked;

impl Marked {
    fn new() -> Self {
        kmsg("fault injection begins; allocation failure reports until its end are expected");
        Marked
    }
}

impl Drop for Marked {
    fn drop(&mut self) {
        kmsg("fault injection ends");
    }
}

/// Settings put back in the reverse order of setting them, so that the
/// one that arms a fault (`probability`, set last) is disarmed first.
struct Knobs(Vec<Knob>);

impl Knobs {
    fn set(&mut self, path: &str, value: &str) -> TestResult {
        self.0.push(Knob::set(path, value)?);
        Ok(())
    }
}

impl Drop for Knobs {
    fn drop(&mut self) {
        while let Some(k) = self.0.pop() {
            drop(k);
        }
    }
}

/// Turns off every fault that `probability` arms, whatever a test left.
fn disarm_all() {
    for dir in [FAILSLAB, FAIL_PAGE_ALLOC] {
        let _ = std::fs::write(format!("{dir}/probability"), "0");
    }
}

/// Lets the fault points fail allocations that may sleep, of any order,
/// also the highmem-capable pages of vmalloc.
fn arm() -> Result<Knobs, Failure> {
    Ok(Knobs(vec![
        Knob::set(&format!("{FAILSLAB}/ignore-gfp-wait"), "N")?,
        Knob::set(&format!("{FAILSLAB}/verbose"), "0")?,
        Knob::set(&format!("{FAIL_PAGE_ALLOC}/ignore-gfp-wait"), "N")?,
        Knob::set(&format!("{FAIL_PAGE_ALLOC}/min-order"), "0")?,
        Knob::set(&format!("{FAIL_PAGE_ALLOC}/verbose"), "0")?,
        Knob::set(&format!("{FAIL_PAGE_ALLOC}/ignore-gfp-highmem"), "N")?,
    ]))
}

/// `/proc/thread-self/fail-nth`: fails the N-th fault point of this task.
struct FailNth {
    fd: i32,
}

impl FailNth {
    fn open() -> Result<Self, Failure> {
        let fd = sys::open("/proc/thread-self/fail-nth", libc::O_RDWR)
            .context("open /proc/thread-self/fail-nth")?;
        Ok(FailNth { fd })
    }

    /// Arms the N-th fault point from now on.
    fn arm(&self, n: u32) -> SysResult<()> {
        sys::write(self.fd, n.to_string().as_bytes()).map(|_| ())
    }

    /// Whether the armed fault was injected; disarms it if not.
    fn injected(&self) -> Result<bool, Failure> {
        let mut buf = [0u8; 32];
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::pread(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        ensure!(n > 0, "read fail-nth: {}", Errno::last());
        let left: u64 = String::from_utf8_lossy(&buf[..n as usize])
            .trim()
            .parse()
            .unwrap_or(u64::MAX);
        if left != 0 {
            self.arm(0).context("disarm fail-nth")?;
        }
        Ok(left == 0)
    }
}

impl Drop for FailNth {
    fn drop(&mut self) {
        let _ = self.arm(0);
        let _ = sys::close(self.fd);
    }
}

fn unavailable() -> Option<String> {
    // SAFETY: geteuid() cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("fault injection needs root".into());
    }
    if !Path::new(FAILSLAB).exists() {
        let (src, dst, fs) = (c"debugfs", c"/sys/kernel/debug", c"debugfs");
        // SAFETY: All three are valid NUL-terminated strings.
        unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) };
    }
    if !Path::new(FAILSLAB).exists() || !Path::new(FAIL_PAGE_ALLOC).exists() {
        return Some(format!(
            "kernel lacks CONFIG_FAILSLAB or CONFIG_FAIL_PAGE_ALLOC with debugfs at {DEBUGFS} \
             (run cargo xtask test --debug)"
        ));
    }
    if !Path::new("/proc/self/fail-nth").exists() {
        return Some("kernel lacks /proc/<pid>/fail-nth (CONFIG_FAULT_INJECTION_DEBUG_FS)".into());
    }
    mydevice_selftests::device::unavailable()
}

fn teardown() {
    disarm_all();
    // A load test cut short may leave the module unloaded.
    if !Path::new(SYS_MODULE).exists() {
        let _ = finit("");
    }
    let _ = mydevice_selftests::reset_device();
}

const SUITE: Suite = Suite {
    unavailable,
    setup: mydevice_selftests::reset_device,
    teardown,
};

/// Runs `RESIZE` to `size` with the N-th fault point failed, for every N.
fn resize_sweep(t: &mut T, size: u32) -> Result<u32, Failure> {
    let _marked = Marked::new();
    let _knobs = arm()?;
    let nth = FailNth::open()?;
    for n in 1..=10_000u32 {
        let dev = Dev::rw_nonblock().context("open")?;
        dev.clear().context("MYDEV_CLEAR")?;
        dev.resize(4096).context("MYDEV_RESIZE 4096")?;
        let data = pattern(n, 1000);
        dev.write_all(&data)?;
        nth.arm(n).context("arm fail-nth")?;
        let r = dev.resize(size);
        if !nth.injected()? {
            expect_eq!(t, r, Ok(()), "RESIZE {size} with no fault injected");
            t.diag(format!(
                "RESIZE {size}: {} fault points, all failed in turn",
                n - 1
            ));
            // Every point before the N-th that was not hit got its fault.
            return Ok(n - 1);
        }
        let cap = match r {
            Ok(()) => size,
            Err(Errno::ENOMEM) => 4096,
            Err(e) => {
                t.fail(format!("RESIZE {size} with fault point {n} failed: expected success or ENOMEM, got {e}"));
                continue;
            }
        };
        let st = dev.status().context("MYDEV_STATUS")?;
        expect_eq!(
            t,
            (st.buffer_size, st.bytes_used),
            (cap, 1000),
            "RESIZE {size} with fault point {n} ({r:?}): capacity and bytes held"
        );
        expect_eq!(
            t,
            dev.read(4096),
            Ok(data),
            "RESIZE {size} with fault point {n}: data"
        );
        // The buffer still works.
        dev.write_all(b"after")?;
        expect_eq!(
            t,
            dev.read(64),
            Ok(b"after".to_vec()),
            "round trip after fault point {n}"
        );
    }
    Err(Failure::fail(format!(
        "RESIZE {size} still hit a fault point after 10000"
    )))
}

// RESIZE into the slab, with the N-th fault point failed for every N, gives success or ENOMEM
// and leaves the new or the old buffer, data intact.
fn resize_small_survives_every_fault_point(t: &mut T) -> TestResult {
    let n = resize_sweep(t, 2048)?;
    expect!(t, n > 0, "no fault was injected into RESIZE 2048");
    t.diag(format!("{n} faults injected"));
    Ok(())
}

// The same for RESIZE to 1 MiB, which takes the page allocator and then the vmalloc path.
fn resize_large_survives_every_fault_point(t: &mut T) -> TestResult {
    let n = resize_sweep(t, mydevice_abi::MYDEV_BUFFER_MAX)?;
    expect!(t, n > 0, "no fault was injected into RESIZE 1048576");
    t.diag(format!("{n} faults injected"));
    Ok(())
}

/// Runs `RESIZE size` in a child whose every allocation fails; returns its result.
fn resize_failing_task(size: u32) -> Result<SysResult<Vec<u8>>, Failure> {
    let mut c = mydevice_selftests::spawn_op(move || {
        let dev = Dev::rw_nonblock()?;
        let fail = sys::open("/proc/self/make-it-fail", libc::O_WRONLY)?;
        sys::write(fail, b"1")?;
        let r = dev.resize(size);
        sys::write(fail, b"0")?;
        r.map(|()| Vec::new())
    })?;
    c.finish(mydevice_selftests::SETTLE)
}

// With failslab and fail_page_alloc (or fail_page_alloc alone, which fails the vmalloc path's
// pages) failing every allocation of one task, RESIZE gives ENOMEM and keeps the old buffer
// and its data.
fn resize_enomem_under_failslab_and_fail_page_alloc_keeps_data(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let data = pattern(7, 3000);
    dev.write_all(&data)?;
    let times = |dir: &str| -> i64 {
        std::fs::read_to_string(format!("{dir}/times"))
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    };
    let mut faults = 0;
    let configs: [(&str, &[&str], &[u32]); 2] = [
        (
            "failslab and fail_page_alloc",
            &[FAILSLAB, FAIL_PAGE_ALLOC],
            &[2048, 65536, mydevice_abi::MYDEV_BUFFER_MAX],
        ),
        (
            "fail_page_alloc",
            &[FAIL_PAGE_ALLOC],
            &[65536, mydevice_abi::MYDEV_BUFFER_MAX],
        ),
    ];
    for (what, dirs, sizes) in configs {
        let marked = Marked::new();
        let mut knobs = arm()?;
        for dir in dirs {
            knobs.set(&format!("{dir}/task-filter"), "Y")?;
            knobs.set(&format!("{dir}/interval"), "1")?;
            knobs.set(&format!("{dir}/space"), "0")?;
            knobs.set(&format!("{dir}/times"), "1000")?;
        }
        // Armed last, so disarmed first.
        for dir in dirs {
            knobs.set(&format!("{dir}/probability"), "100")?;
        }
        for &size in sizes {
            let before: i64 = dirs.iter().map(|d| times(d)).sum();
            let r = resize_failing_task(size)?;
            let n = before - dirs.iter().map(|d| times(d)).sum::<i64>();
            faults += n;
            t.expect_errno(
                r,
                libc::ENOMEM,
                &format!("RESIZE {size} with {what} failing every allocation"),
            );
            expect!(
                t,
                n > 0,
                "RESIZE {size} under {what}: no fault was injected"
            );
            let st = dev.status().context("MYDEV_STATUS")?;
            expect_eq!(
                t,
                (st.buffer_size, st.bytes_used),
                (4096, 3000),
                "capacity and bytes held after the failed RESIZE {size} under {what}"
            );
        }
        drop(knobs);
        drop(marked);
    }
    expect_eq!(t, dev.read(4096), Ok(data), "data after the failed resizes");
    dev.resize(1 << 20)
        .context("RESIZE 1 MiB once the faults are off")?;
    t.diag(format!("{faults} faults injected"));
    Ok(())
}

fn ko() -> String {
    std::env::var("MYDEVICE_KO").unwrap_or_default()
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

/// `finit_module(2)` of the module image in `fd` with `params`.
fn finit_fd(fd: i32, params: &str) -> SysResult<()> {
    let p = CString::new(params).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `p` is a valid NUL-terminated string; `fd` is open.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, fd, p.as_ptr(), 0) };
    sys::Errno::result(r).map(|_| ())
}

/// The module image in a memfd, so that the loads under fault injection
/// read it from memory and not through a network or 9p file system, whose
/// client may not survive a failed allocation.
fn module_memfd() -> Result<i32, Failure> {
    let image = std::fs::read(ko()).context("read MYDEVICE_KO")?;
    // SAFETY: The name is a valid NUL-terminated string.
    let fd = unsafe { libc::memfd_create(c"mydevice.ko".as_ptr(), libc::MFD_CLOEXEC) };
    ensure!(fd >= 0, "memfd_create: {}", Errno::last());
    let n = sys::write(fd, &image).context("write the module image to the memfd")?;
    ensure!(n == image.len(), "short write of the module image: {n}");
    Ok(fd)
}

fn delete_module() -> SysResult<()> {
    let n = c"mydevice";
    // SAFETY: `n` is a valid NUL-terminated string.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, n.as_ptr(), libc::O_NONBLOCK) };
    sys::Errno::result(r).map(|_| ())
}

fn fault_points_max() -> u32 {
    std::env::var("MYDEVICE_FAULT_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

// Loading the module with its N-th fault point failed either works or fails leaving no node,
// no /proc entry and no module.
fn load_under_allocation_failure_fails_cleanly(t: &mut T) -> TestResult {
    if ko().is_empty() || !Path::new(&ko()).is_file() {
        return Err(Failure::Skip(
            "MYDEVICE_KO does not name mydevice.ko".into(),
        ));
    }
    let image = module_memfd()?;
    let finit = |params: &str| finit_fd(image, params);
    sys::retry(delete_module).context("unload the module")?;
    // KUnit's suites would run at every successful load; they are not under test here.
    let kunit = Knob::set(KUNIT_FILTER, "mydevice_none").ok();
    let marked = Marked::new();
    let knobs = arm()?;
    let nth = FailNth::open()?;
    // Count the fault points of one load.
    nth.arm(1_000_000).context("arm fail-nth")?;
    let r = finit("");
    let mut buf = [0u8; 32];
    // SAFETY: `buf` is valid for writes of its length.
    let k = unsafe { libc::pread(nth.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    nth.arm(0).context("disarm")?;
    r.context("finit_module with no fault")?;
    let left: u32 = String::from_utf8_lossy(&buf[..k.max(0) as usize])
        .trim()
        .parse()
        .unwrap_or(1_000_000);
    let points = 1_000_000 - left;
    sys::retry(delete_module).context("unload")?;
    // All of them if few; else the last ones (the driver's init runs at the
    // end of the load) and an even sample of the loader's before them.
    let max = fault_points_max();
    let tail = (max * 2 / 3).min(points);
    let mut ns: Vec<u32> = (points - tail + 1..=points).collect();
    let head = points - tail;
    let step = (head / (max - tail).max(1)).max(1);
    ns.extend((1..=head).step_by(step as usize));
    ns.sort_unstable();
    let start = Instant::now();
    let (mut failed, mut absorbed) = (0, 0);
    for n in ns {
        nth.arm(n).context("arm fail-nth")?;
        let r = finit("");
        if !nth.injected()? {
            if r.is_ok() {
                sys::retry(delete_module).context("unload")?;
            }
            continue;
        }
        match r {
            Ok(()) => {
                absorbed += 1;
                let d =
                    Dev::rw_nonblock().context(format!("fault point {n}: open after the load"))?;
                d.write_all(b"ok")?;
                expect_eq!(
                    t,
                    d.read(8),
                    Ok(b"ok".to_vec()),
                    "fault point {n}: round trip"
                );
                drop(d);
                sys::retry(delete_module).context(format!("fault point {n}: unload"))?;
            }
            Err(e) => {
                failed += 1;
                for p in [DEVICE_PATH, PROC_PATH, SYS_MODULE] {
                    expect!(
                        t,
                        !Path::new(p).exists(),
                        "fault point {n}: load failed with {e} but {p} exists"
                    );
                }
            }
        }
    }
    drop(nth);
    drop(knobs);
    drop(marked);
    drop(kunit);
    finit("").context("final load")?;
    let _ = sys::close(image);
    t.diag(format!(
        "{points} fault points in a load; {failed} injected faults failed the load cleanly, \
         {absorbed} were absorbed; {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    expect!(t, failed > 0, "no injected fault failed the load");
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &SUITE,
        &[
            test!(resize_small_survives_every_fault_point, 120),
            test!(resize_large_survives_every_fault_point, 120),
            test!(
                resize_enomem_under_failslab_and_fail_page_alloc_keeps_data,
                60
            ),
            test!(load_under_allocation_failure_fails_cleanly, 240),
        ],
    )
}
