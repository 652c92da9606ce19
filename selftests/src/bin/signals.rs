// SPDX-License-Identifier: GPL-2.0-only

//! Signals and sleepers: EINTR, SA_RESTART, SIGKILL, and interrupted writes
//! storing nothing they did not report.

use std::time::Duration;

use mydevice_selftests::{
    count, diff, expect, expect_eq, fill, pattern, probe, spawn_op, sys, test, wait_sleeping,
    wait_waiters, Context, Dev, Exit, TestResult, DEVICE_SUITE, T,
};

const WAKE: Duration = Duration::from_secs(5);

/// Encodes a read result and the number of SIGUSR1 handler runs.
fn with_signals(r: Result<Vec<u8>, mydevice_selftests::Errno>) -> sys::SysResult<Vec<u8>> {
    let mut v = vec![sys::signal_count(libc::SIGUSR1) as u8];
    v.extend_from_slice(&r?);
    Ok(v)
}

// A blocked read interrupted by a handler without SA_RESTART fails with EINTR.
fn blocked_read_without_restart_gives_eintr(t: &mut T) -> TestResult {
    let mut child = spawn_op(|| {
        sys::catch_signal(libc::SIGUSR1, false)?;
        Dev::rdonly()?.read(16)
    })?;
    wait_waiters(1, 0)?;
    wait_sleeping(child.pid)?;
    child.signal(libc::SIGUSR1)?;
    let got = child.finish(WAKE)?;
    t.expect_errno(got, libc::EINTR, "interrupted read without SA_RESTART");
    wait_waiters(0, 0)?;
    let dev = Dev::rw().context("open")?;
    expect_eq!(t, dev.fionread().context("FIONREAD")?, 0, "FIONREAD");
    Ok(())
}

// With SA_RESTART the interrupted read restarts, sleeps again and returns data written later.
fn blocked_read_with_sa_restart_restarts(t: &mut T) -> TestResult {
    let sleeps0 = probe()?.stats().context("MYDEV_STATS")?.reader_sleeps;
    let mut child = spawn_op(|| {
        sys::catch_signal(libc::SIGUSR1, true)?;
        with_signals(Dev::rdonly()?.read(16))
    })?;
    wait_waiters(1, 0)?;
    wait_sleeping(child.pid)?;
    child.signal(libc::SIGUSR1)?;
    // The read must be asleep again after the handler ran.
    sys::sleep_ms(200);
    wait_waiters(1, 0)?;
    wait_sleeping(child.pid)?;
    expect!(
        t,
        child.running(),
        "the restarted read returned without data"
    );
    let dev = Dev::wronly().context("open O_WRONLY")?;
    dev.write_all(b"after")?;
    let got = child.finish(WAKE)?;
    expect_eq!(
        t,
        got,
        Ok(b"\x01after".to_vec()),
        "(handler runs, data) of the restarted read"
    );
    let sleeps = probe()?
        .stats()
        .context("MYDEV_STATS")?
        .reader_sleeps
        .wrapping_sub(sleeps0);
    expect!(
        t,
        sleeps >= 2,
        "expected the reader to sleep again after the restart (reader_sleeps +2), got +{sleeps}"
    );
    Ok(())
}

// SIGKILL of a blocked reader kills it; the device keeps working and the waiter count drops.
fn sigkill_of_blocked_reader(t: &mut T) -> TestResult {
    let mut child = spawn_op(|| Dev::rdonly()?.read(16))?;
    wait_waiters(1, 0)?;
    wait_sleeping(child.pid)?;
    child.signal(libc::SIGKILL)?;
    let exit = child.wait(WAKE)?;
    expect_eq!(t, exit, Exit::Signal(libc::SIGKILL), "the reader's end");
    wait_waiters(0, 0)?;
    let dev = Dev::rw_nonblock().context("open")?;
    expect_eq!(
        t,
        dev.status().context("MYDEV_STATUS")?.open_count,
        1,
        "open_count after the killed reader"
    );
    dev.write_all(b"still works")?;
    expect_eq!(
        t,
        dev.read(64),
        Ok(b"still works".to_vec()),
        "round trip after the kill"
    );
    Ok(())
}

// SIGKILL of a blocked writer kills it without storing anything; the device keeps working.
fn sigkill_of_blocked_writer(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let data = fill(&dev, 20)?;
    let mut child = spawn_op(|| count(Dev::wronly()?.write(&pattern(21, 100))))?;
    wait_waiters(0, 1)?;
    wait_sleeping(child.pid)?;
    child.signal(libc::SIGKILL)?;
    let exit = child.wait(WAKE)?;
    expect_eq!(t, exit, Exit::Signal(libc::SIGKILL), "the writer's end");
    wait_waiters(0, 0)?;
    expect_eq!(
        t,
        dev.status().context("MYDEV_STATUS")?.open_count,
        1,
        "open_count after the killed writer"
    );
    let back = dev.read_exact(4096).context("drain")?;
    expect!(
        t,
        back == data,
        "stream after the kill: {}",
        diff(&back, &data)
    );
    t.expect_errno(dev.read(1), libc::EAGAIN, "read after draining");
    dev.write_all(b"ok")?;
    expect_eq!(
        t,
        dev.read(8),
        Ok(b"ok".to_vec()),
        "round trip after the kill"
    );
    Ok(())
}

// An atomic write interrupted while waiting for room stores nothing and fails with EINTR.
fn interrupted_atomic_write_stores_nothing(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let first = pattern(22, 4000);
    dev.write_all(&first)?;
    let mut child = spawn_op(|| {
        sys::catch_signal(libc::SIGUSR1, false)?;
        count(Dev::wronly()?.write(&pattern(23, 200)))
    })?;
    wait_waiters(0, 1)?;
    wait_sleeping(child.pid)?;
    child.signal(libc::SIGUSR1)?;
    let n = child.finish_count(WAKE)?;
    t.expect_errno(n, libc::EINTR, "interrupted 200-byte write with 96 free");
    wait_waiters(0, 0)?;
    expect_eq!(
        t,
        dev.fionread().context("FIONREAD")?,
        4000,
        "FIONREAD after the interrupted write"
    );
    let back = dev.read_exact(4000).context("drain")?;
    expect!(t, back == first, "stream: {}", diff(&back, &first));
    t.expect_errno(dev.read(1), libc::EAGAIN, "read after draining");
    Ok(())
}

// A large write interrupted after a partial store returns the count stored.
fn interrupted_large_write_returns_partial_count(t: &mut T) -> TestResult {
    let big = pattern(24, 10_000);
    let payload = big.clone();
    let mut child = spawn_op(move || {
        sys::catch_signal(libc::SIGUSR1, false)?;
        count(Dev::wronly()?.write(&payload))
    })?;
    wait_waiters(0, 1)?;
    wait_sleeping(child.pid)?;
    child.signal(libc::SIGUSR1)?;
    let n = child.finish_count(WAKE)?;
    expect_eq!(
        t,
        n,
        Ok(4096),
        "interrupted 10000-byte write after filling the buffer"
    );
    let dev = Dev::rw_nonblock().context("open")?;
    let stored = dev.fionread().context("FIONREAD")? as usize;
    expect_eq!(t, stored, 4096, "FIONREAD after the interrupted write");
    let back = dev.read_exact(stored).context("drain")?;
    expect!(
        t,
        back == big[..stored],
        "stream: {}",
        diff(&back, &big[..stored])
    );
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(blocked_read_without_restart_gives_eintr),
            test!(blocked_read_with_sa_restart_restarts),
            test!(sigkill_of_blocked_reader),
            test!(sigkill_of_blocked_writer),
            test!(interrupted_atomic_write_stores_nothing),
            test!(interrupted_large_write_returns_partial_count),
        ],
    )
}
