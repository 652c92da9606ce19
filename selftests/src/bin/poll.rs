// SPDX-License-Identifier: GPL-2.0-only

//! Readiness: poll, select and edge-triggered epoll in both directions, and
//! SIGIO through fasync. A file is writable when a write of up to
//! `min(4096, capacity)` bytes goes through at once, as a pipe is.

use std::time::Duration;

use mydevice_selftests::sys::Epoll;
use mydevice_selftests::{
    expect, expect_eq, fill, spawn_op, sys, test, wait_sleeping, Context, Dev, Errno, SysResult,
    TestResult, DEVICE_SUITE, T,
};

const WAKE: Duration = Duration::from_secs(5);
const IN: i16 = libc::POLLIN | libc::POLLRDNORM;
const OUT: i16 = libc::POLLOUT | libc::POLLWRNORM;
const ALL: i16 = IN | OUT | libc::POLLHUP | libc::POLLERR | libc::POLLPRI;

/// Names the bits of a poll mask, for messages.
fn bits(m: i16) -> String {
    sys::poll_names(m as u16 as u32)
}

fn expect_revents(t: &mut T, dev: &Dev, want: i16, what: &str) -> TestResult {
    let got = sys::poll_one(dev.fd(), ALL, 0).context("poll")?;
    expect!(
        t,
        got == want,
        "poll {what}: expected {}, got {}",
        bits(want),
        bits(got)
    );
    Ok(())
}

// poll shows POLLIN|POLLRDNORM with data, and POLLOUT|POLLWRNORM only with room for a 4096-byte write.
fn poll_reports_readiness_both_directions(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    expect_revents(t, &dev, OUT, "when empty")?;
    dev.write_all(b"0123456789")?;
    // At capacity 4096 only the empty device has room for an atomic write.
    expect_revents(t, &dev, IN, "with 10 bytes")?;
    fill(&dev, 30)?;
    expect_revents(t, &dev, IN, "when full")?;
    dev.read(1).context("read 1")?;
    expect_revents(t, &dev, IN, "with 1 byte free")?;
    dev.read_exact(4095).context("drain")?;
    expect_revents(t, &dev, OUT, "when drained")?;
    dev.write_all(b"x")?;
    dev.clear().context("MYDEV_CLEAR")?;
    expect_revents(t, &dev, OUT, "after MYDEV_CLEAR")?;
    Ok(())
}

/// `select(2)` with zero timeout; returns (readable, writable).
fn select_now(fd: i32) -> SysResult<(bool, bool)> {
    sys::select_one(fd, true, true, 0)
}

// select reports writable with room for a 4096-byte write, readable with data.
fn select_reports_readiness_both_directions(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let got = select_now(dev.fd()).context("select")?;
    expect_eq!(
        t,
        got,
        (false, true),
        "select (readable, writable) when empty"
    );
    dev.write_all(b"abc")?;
    let got = select_now(dev.fd()).context("select")?;
    expect_eq!(
        t,
        got,
        (true, false),
        "select (readable, writable) with 3 of 4096 bytes"
    );
    dev.resize(8192).context("MYDEV_RESIZE to 8192")?;
    let got = select_now(dev.fd()).context("select")?;
    expect_eq!(
        t,
        got,
        (true, true),
        "select (readable, writable) with 3 of 8192 bytes"
    );
    fill(&dev, 31)?;
    let got = select_now(dev.fd()).context("select")?;
    expect_eq!(
        t,
        got,
        (true, false),
        "select (readable, writable) when full"
    );
    Ok(())
}

// A poll for POLLIN blocked on the empty device wakes when data is written.
fn poll_blocked_on_empty_wakes_on_write(t: &mut T) -> TestResult {
    let mut child = spawn_op(|| {
        let d = Dev::rdonly()?;
        let r = sys::poll_one(d.fd(), libc::POLLIN, 20_000)?;
        Ok(r.to_le_bytes().to_vec())
    })?;
    wait_sleeping(child.pid)?;
    sys::sleep_ms(100);
    expect!(t, child.running(), "poll returned on the empty device");
    Dev::wronly().context("open")?.write_all(b"p")?;
    let got = child.finish(WAKE)?;
    expect_eq!(
        t,
        got.map(|v| bits(i16::from_le_bytes([v[0], v[1]]))),
        Ok(bits(libc::POLLIN)),
        "revents of the woken poll"
    );
    Ok(())
}

// A poll for POLLOUT blocked on the full device wakes when reads make room for a 4096-byte write.
fn poll_blocked_on_full_wakes_on_read(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    fill(&dev, 32)?;
    let mut child = spawn_op(|| {
        let d = Dev::wronly()?;
        let r = sys::poll_one(d.fd(), libc::POLLOUT, 20_000)?;
        Ok(r.to_le_bytes().to_vec())
    })?;
    wait_sleeping(child.pid)?;
    sys::sleep_ms(100);
    expect!(
        t,
        child.running(),
        "poll for POLLOUT returned on the full device"
    );
    dev.read_exact(4096).context("drain")?;
    let got = child.finish(WAKE)?;
    expect_eq!(
        t,
        got.map(|v| bits(i16::from_le_bytes([v[0], v[1]]))),
        Ok(bits(libc::POLLOUT)),
        "revents of the woken poll"
    );
    Ok(())
}

fn expect_epoll(t: &mut T, ep: &Epoll, want: Option<u32>, what: &str) -> TestResult {
    let got = ep
        .wait(if want.is_some() { 2000 } else { 50 })
        .context("epoll_wait")?;
    let want: Vec<u32> = want.into_iter().collect();
    expect!(
        t,
        got == want,
        "epoll_wait {what}: expected events {want:x?}, got {got:x?}"
    );
    Ok(())
}

// Edge-triggered EPOLLIN fires once per new write, and again after draining and refilling.
fn epoll_edge_triggered_fires_once_per_write(t: &mut T) -> TestResult {
    let rd = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY")?;
    let wr = Dev::wronly().context("open O_WRONLY")?;
    let ep = Epoll::watching(rd.fd(), (libc::EPOLLIN | libc::EPOLLET) as u32)
        .context("epoll_ctl(ADD)")?;
    // epoll reports only the requested bits of the poll mask.
    let ev_in = libc::EPOLLIN as u32;
    expect_epoll(t, &ep, None, "on the empty device")?;
    wr.write_all(b"1")?;
    expect_epoll(t, &ep, Some(ev_in), "after the first write")?;
    expect_epoll(t, &ep, None, "again with no new write")?;
    wr.write_all(b"2")?;
    expect_epoll(t, &ep, Some(ev_in), "after the second write")?;
    expect_epoll(t, &ep, None, "again with no new write")?;
    expect_eq!(t, rd.read(16), Ok(b"12".to_vec()), "drain");
    expect_epoll(t, &ep, None, "after draining")?;
    wr.write_all(b"3")?;
    expect_epoll(t, &ep, Some(ev_in), "after refilling")?;
    Ok(())
}

// Edge-triggered EPOLLOUT fires when reads bring the free space up to a 4096-byte write.
fn epoll_edge_triggered_epollout_after_space_frees(t: &mut T) -> TestResult {
    let wr = Dev::open(libc::O_WRONLY | libc::O_NONBLOCK).context("open O_WRONLY")?;
    let rd = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY")?;
    let ev_out = libc::EPOLLOUT as u32;
    let et_out = (libc::EPOLLOUT | libc::EPOLLET) as u32;
    {
        // On the empty device EPOLLOUT is ready at once, once.
        let ep = Epoll::watching(wr.fd(), et_out).context("epoll_ctl(ADD)")?;
        expect_epoll(t, &ep, Some(ev_out), "on the empty device")?;
        expect_epoll(t, &ep, None, "again")?;
    }
    fill(&wr, 33)?;
    let ep = Epoll::watching(wr.fd(), et_out).context("epoll_ctl(ADD)")?;
    expect_epoll(t, &ep, None, "on the full device")?;
    rd.read(100).context("read 100")?;
    expect_epoll(t, &ep, None, "with 100 bytes free")?;
    rd.read_exact(3996).context("drain")?;
    expect_epoll(t, &ep, Some(ev_out), "after reads emptied the device")?;
    expect_epoll(t, &ep, None, "again with no new read")?;
    fill(&wr, 34)?;
    expect_epoll(t, &ep, None, "after refilling")?;
    rd.read(1).context("read 1")?;
    expect_epoll(t, &ep, None, "with 1 byte free")?;
    rd.read_exact(4095).context("drain")?;
    expect_epoll(t, &ep, Some(ev_out), "after the next drain")?;
    Ok(())
}

fn sigio_within(n: usize, timeout: Duration) -> bool {
    sys::wait_until(timeout, || sys::signal_count(libc::SIGIO) >= n)
}

/// Turns on O_ASYNC with this process as the owner.
fn make_async(dev: &Dev) -> Result<(), Errno> {
    sys::set_owner(dev.fd(), sys::getpid())?;
    sys::add_fl(dev.fd(), libc::O_ASYNC)
}

// O_ASYNC + F_SETOWN delivers SIGIO to a reader when data arrives.
fn fasync_sigio_to_reader_on_data(t: &mut T) -> TestResult {
    sys::catch_signal(libc::SIGIO, true).context("sigaction(SIGIO)")?;
    let rd = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY")?;
    make_async(&rd).context("F_SETOWN + O_ASYNC")?;
    sys::sleep_ms(50);
    let before = sys::signal_count(libc::SIGIO);
    expect_eq!(t, before, 0, "SIGIOs before any write");
    // The write comes from another process, as a real producer would.
    let mut c = spawn_op(|| Dev::wronly()?.write(b"data").map(|_| vec![]))?;
    c.finish(WAKE)?.context("write in the child")?;
    expect!(
        t,
        sigio_within(1, WAKE),
        "expected SIGIO after data arrived, got {}",
        sys::signal_count(libc::SIGIO)
    );
    expect_eq!(t, rd.read(16), Ok(b"data".to_vec()), "the data");
    Ok(())
}

// O_ASYNC + F_SETOWN delivers SIGIO to a writer when a read frees space.
fn fasync_sigio_to_writer_when_space_frees(t: &mut T) -> TestResult {
    sys::catch_signal(libc::SIGIO, true).context("sigaction(SIGIO)")?;
    let wr = Dev::open(libc::O_WRONLY | libc::O_NONBLOCK).context("open O_WRONLY")?;
    fill(&wr, 35)?;
    make_async(&wr).context("F_SETOWN + O_ASYNC")?;
    sys::sleep_ms(50);
    expect_eq!(
        t,
        sys::signal_count(libc::SIGIO),
        0,
        "SIGIOs before any read"
    );
    let mut c = spawn_op(|| Dev::rdonly()?.read(100))?;
    let got = c.finish(WAKE)?.context("read in the child")?;
    expect_eq!(t, got.len(), 100, "bytes read by the child");
    expect!(
        t,
        sigio_within(1, WAKE),
        "expected SIGIO after space freed, got {}",
        sys::signal_count(libc::SIGIO)
    );
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(poll_reports_readiness_both_directions),
            test!(select_reports_readiness_both_directions),
            test!(poll_blocked_on_empty_wakes_on_write),
            test!(poll_blocked_on_full_wakes_on_read),
            test!(epoll_edge_triggered_fires_once_per_write),
            test!(epoll_edge_triggered_epollout_after_space_frees),
            test!(fasync_sigio_to_reader_on_data),
            test!(fasync_sigio_to_writer_when_space_frees),
        ],
    )
}
