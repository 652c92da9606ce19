// SPDX-License-Identifier: GPL-2.0-only

//! Lifecycle abuse: unloading the module under sleeping readers, writers and
//! pollers, and opening and closing from many processes while
//! `MYDEV_HANGUP` fires.

use std::ffi::CString;
use std::path::Path;
use std::time::{Duration, Instant};

use mydevice_abi::{DEVICE_PATH, PROC_PATH};
use mydevice_selftests::{
    count, ensure, expect, expect_eq, fill, pattern, proc_map, spawn, spawn_op, sys, test,
    wait_all, wait_sleeping, wait_waiters, Child, Context, Dev, Errno, Failure, SysResult,
    TestResult, DEVICE_SUITE, SETTLE, T,
};

const SYS_MODULE: &str = "/sys/module/mydevice";

/// `delete_module("mydevice", O_NONBLOCK)`, as `rmmod` does it.
fn delete_module() -> SysResult<()> {
    let n = CString::new("mydevice").map_err(|_| Errno::EINVAL)?;
    // SAFETY: `n` is a valid NUL-terminated string.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, n.as_ptr(), libc::O_NONBLOCK) };
    sys::Errno::result(r).map(|_| ())
}

/// The module's reference count from sysfs.
fn refcnt() -> Option<u32> {
    std::fs::read_to_string(format!("{SYS_MODULE}/refcnt"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Tries to unload the module, which must be refused and change nothing.
fn expect_unload_refused(t: &mut T, who: &str) {
    let rc = refcnt();
    match delete_module() {
        Err(e) if e == Errno::EAGAIN || e == Errno::EBUSY => t.diag(format!(
            "delete_module with {who} asleep: {e}, refcnt {rc:?}"
        )),
        other => t.fail(format!(
            "delete_module with {who} asleep: expected EAGAIN or EBUSY, got {other:?}"
        )),
    }
    expect!(
        t,
        Path::new(SYS_MODULE).exists(),
        "module gone with {who} asleep"
    );
    expect!(
        t,
        Path::new(DEVICE_PATH).exists(),
        "{DEVICE_PATH} gone with {who} asleep"
    );
    expect!(
        t,
        Path::new(PROC_PATH).exists(),
        "{PROC_PATH} gone with {who} asleep"
    );
}

fn root_and_module() -> TestResult {
    // SAFETY: geteuid() cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::Skip("delete_module needs root".into()));
    }
    if !Path::new(SYS_MODULE).exists() {
        return Err(Failure::Skip(format!(
            "{SYS_MODULE} is missing: the driver is built in, not a module"
        )));
    }
    Ok(())
}

/// A poll(2) for `events` on a fresh descriptor opened with `flags`; reports `revents`.
fn poller(flags: i32, events: i16) -> Result<Child, Failure> {
    spawn_op(move || {
        let d = Dev::open(flags)?;
        let r = sys::retry(|| sys::poll_one(d.fd(), events, 60_000))?;
        Ok(r.to_ne_bytes().to_vec())
    })
}

fn revents(c: &mut Child) -> Result<i16, Failure> {
    let v = c.finish(SETTLE)?.context("poll")?;
    ensure!(v.len() == 2, "poller sent {} bytes", v.len());
    Ok(i16::from_ne_bytes([v[0], v[1]]))
}

// rmmod while readers, writers and pollers sleep is refused, and they all carry on afterwards.
fn rmmod_refused_while_readers_writers_and_pollers_sleep(t: &mut T) -> TestResult {
    root_and_module()?;
    let dev = Dev::rw().context("open")?;

    // Readers and a poller asleep on the empty device.
    let mut readers = (0..2)
        .map(|_| spawn_op(|| Dev::rdonly()?.read(64)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rpoll = poller(libc::O_RDONLY, libc::POLLIN)?;
    wait_waiters(2, 0)?;
    wait_sleeping(rpoll.pid)?;
    expect_unload_refused(t, "two readers and a poller");
    // A third record stays behind, so that the poller, which may look only
    // after both readers took theirs, still finds data: poll is level
    // triggered, as on a pipe.
    let data = pattern(90, 192);
    dev.write_all(&data)?;
    let mut got = Vec::new();
    for r in readers.iter_mut() {
        let chunk = r.finish(SETTLE)?.context("sleeping reader")?;
        expect_eq!(t, chunk.len(), 64, "bytes a woken reader got");
        got.push(chunk);
    }
    got.sort();
    let mut want = vec![data[..64].to_vec(), data[64..128].to_vec()];
    want.sort();
    expect!(
        t,
        got == want,
        "the woken readers did not get the first two thirds of the data"
    );
    let ev = revents(&mut rpoll)?;
    expect!(
        t,
        ev & libc::POLLIN != 0,
        "read poller woke with {ev:#x}, no POLLIN"
    );
    expect_eq!(
        t,
        dev.read(4096),
        Ok(data[128..].to_vec()),
        "the record left for the poller"
    );

    // Writers and a poller asleep on the full device.
    let old = fill(&dev, 91)?;
    let mut writers = (0..2u32)
        .map(|i| spawn_op(move || count(Dev::wronly()?.write_retry(&pattern(92 + i, 100)))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut wpoll = poller(libc::O_WRONLY, libc::POLLOUT)?;
    wait_waiters(0, 2)?;
    wait_sleeping(wpoll.pid)?;
    expect_unload_refused(t, "two writers and a poller");
    let back = dev.read_exact(old.len()).context("drain")?;
    expect!(
        t,
        back == old,
        "the data held across the refused unload changed"
    );
    for w in writers.iter_mut() {
        expect_eq!(
            t,
            w.finish_count(SETTLE)?,
            Ok(100),
            "a woken writer's count"
        );
    }
    let mut rest = [
        dev.read_exact(100).context("read")?,
        dev.read_exact(100).context("read")?,
    ];
    rest.sort();
    let mut want = [pattern(92, 100), pattern(93, 100)];
    want.sort();
    expect!(t, rest == want, "the woken writers' records are not intact");
    let ev = revents(&mut wpoll)?;
    expect!(
        t,
        ev & libc::POLLOUT != 0,
        "write poller woke with {ev:#x}, no POLLOUT"
    );
    Ok(())
}

/// A storm process: opens, does one thing, closes, for `secs`; reports the opens.
fn storm(id: u32, secs: u64) -> SysResult<Vec<u8>> {
    sys::ignore_signal(libc::SIGPIPE)?;
    let end = Instant::now() + Duration::from_secs(secs);
    let mut rng = 0x9e37_79b9u32 ^ id.wrapping_mul(0x0100_0193);
    let mut opens = 0u64;
    while Instant::now() < end {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let mode = [libc::O_RDONLY, libc::O_WRONLY, libc::O_RDWR][rng as usize % 3];
        let nb = if rng & 8 != 0 { libc::O_NONBLOCK } else { 0 };
        let d = Dev::open(mode | nb)?;
        opens += 1;
        // Blocking reads and writes sleep until data, room or the next hangup.
        let _ = match rng >> 4 & 3 {
            0 => d.read(64).map(|_| ()),
            1 => d
                .write(&pattern(id, 64 + (rng >> 8) as usize % 2048))
                .map(|_| ()),
            2 => sys::poll_one(d.fd(), libc::POLLIN | libc::POLLOUT, 5).map(|_| ()),
            _ => d.status().map(|_| ()),
        };
    }
    Ok(opens.to_ne_bytes().to_vec())
}

// Many processes opening, blocking and closing while MYDEV_HANGUP fires neither hang nor leave
// the device open or hung up.
fn open_close_storm_while_hangup_fires(t: &mut T) -> TestResult {
    const STORMS: u32 = 8;
    let mut kids = (0..STORMS)
        .map(|i| spawn_op(move || storm(i, 4)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut firing = spawn(|rep| {
        let mut n = 0u64;
        loop {
            if let Ok(d) = Dev::open(libc::O_WRONLY | libc::O_NONBLOCK) {
                if d.hangup().is_ok() {
                    n += 1;
                }
            }
            // The count so far, for the parent to read after killing this.
            rep.send(&n.to_ne_bytes());
            sys::sleep_ms(3);
        }
    })?;
    let res = wait_all(&mut kids, Duration::from_secs(90), |_| firing.pump());
    let _ = firing.signal(libc::SIGKILL);
    let _ = firing.wait(SETTLE);
    res?;
    let hangups = firing
        .output()
        .rchunks_exact(8)
        .next()
        .map_or(0, |c| u64::from_ne_bytes(c.try_into().unwrap_or_default()));
    let mut opens = 0;
    for (i, k) in kids.iter_mut().enumerate() {
        match k.finish(SETTLE)? {
            Ok(v) if v.len() == 8 => opens += u64::from_ne_bytes(v.try_into().unwrap_or_default()),
            other => t.fail(format!("storm process {i}: {other:?}")),
        }
    }
    // Every file is closed, so the hangup must be over; /proc shows it without opening.
    let m = proc_map()?;
    expect_eq!(
        t,
        m.get("open_count").map(String::as_str),
        Some("0"),
        "/proc open_count"
    );
    expect_eq!(
        t,
        m.get("hung_up").map(String::as_str),
        Some("0"),
        "/proc hung_up"
    );
    expect_eq!(
        t,
        m.get("readers_waiting").map(String::as_str),
        Some("0"),
        "/proc readers_waiting"
    );
    expect_eq!(
        t,
        m.get("writers_waiting").map(String::as_str),
        Some("0"),
        "/proc writers_waiting"
    );
    let dev = Dev::rw_nonblock().context("open")?;
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(t, st.open_count, 1, "open_count with one file open");
    expect!(t, st.bytes_used <= st.buffer_size, "STATUS {st:?}");
    // The storm's writers may have left the FIFO full, which would make a
    // non-blocking write fail with EAGAIN: empty it first.
    dev.clear().context("MYDEV_CLEAR")?;
    dev.write_all(b"alive")?;
    expect!(
        t,
        dev.read_exact(5).context("read")? == b"alive",
        "the device does not give back what was written after the storm"
    );
    expect!(t, hangups > 0, "no hangup fired");
    t.diag(format!(
        "{STORMS} processes: {opens} opens, {hangups} hangups; {} of {} bytes left",
        st.bytes_used, st.buffer_size
    ));
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(rmmod_refused_while_readers_writers_and_pollers_sleep, 60),
            test!(open_close_storm_while_hangup_fires, 120),
        ],
    )
}
