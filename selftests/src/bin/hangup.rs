// SPDX-License-Identifier: GPL-2.0-only

//! MYDEV_HANGUP: readers drain then see EOF, writers get EPIPE and SIGPIPE,
//! poll shows POLLHUP to readers and POLLERR to writers, sleepers wake, and
//! the state clears on the last close.

use std::time::Duration;

use mydevice_abi::MYDEV_FLAG_HUNG_UP;
use mydevice_selftests::{
    count, expect, expect_eq, fill, probe, spawn, spawn_op, sys, test, wait_sleeping, wait_waiters,
    Context, Dev, Exit, TestResult, DEVICE_SUITE, T,
};

const WAKE: Duration = Duration::from_secs(5);

fn hung_up() -> Result<bool, mydevice_selftests::Failure> {
    Ok(probe()?.stats().context("MYDEV_STATS")?.flags & MYDEV_FLAG_HUNG_UP != 0)
}

// After a hangup readers drain the remaining data, then read EOF (0).
fn readers_drain_then_get_eof_after_hangup(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    dev.write_all(b"last words")?;
    dev.hangup().context("MYDEV_HANGUP")?;
    // In a child, so a read that wrongly blocks is caught by the deadline.
    let mut c = spawn_op(|| {
        let d = Dev::rdonly()?;
        let a = d.read(4)?;
        let b = d.read(100)?;
        let eof1 = d.read(100)?;
        let eof2 = d.read(100)?;
        Ok([a, b, vec![eof1.len() as u8, eof2.len() as u8]].concat())
    })?;
    let got = c.finish(WAKE)?;
    expect_eq!(
        t,
        got,
        Ok(b"last words\x00\x00".to_vec()),
        "reads after the hangup (data then two EOF lengths)"
    );
    expect!(t, hung_up()?, "MYDEV_STATS flags lost the hung-up bit");
    Ok(())
}

// After a hangup writes fail with EPIPE when SIGPIPE is ignored.
fn writes_after_hangup_give_epipe(t: &mut T) -> TestResult {
    sys::ignore_signal(libc::SIGPIPE).context("ignore SIGPIPE")?;
    let dev = Dev::rw().context("open")?;
    dev.hangup().context("MYDEV_HANGUP")?;
    t.expect_errno(dev.write(b"x"), libc::EPIPE, "blocking write after hangup");
    let nb = Dev::rw_nonblock().context("open O_NONBLOCK")?;
    t.expect_errno(
        nb.write(b"x"),
        libc::EPIPE,
        "non-blocking write after hangup",
    );
    t.expect_errno(
        nb.write(&vec![0u8; 8192]),
        libc::EPIPE,
        "large write after hangup",
    );
    expect_eq!(t, dev.fionread().context("FIONREAD")?, 0, "FIONREAD");
    Ok(())
}

// A write after a hangup raises SIGPIPE: caught by a handler, and fatal by default.
fn write_after_hangup_raises_sigpipe(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    dev.hangup().context("MYDEV_HANGUP")?;
    sys::catch_signal(libc::SIGPIPE, false).context("catch SIGPIPE")?;
    t.expect_errno(dev.write(b"x"), libc::EPIPE, "write with a SIGPIPE handler");
    expect_eq!(
        t,
        sys::signal_count(libc::SIGPIPE),
        1,
        "SIGPIPE handler runs after one write"
    );
    // The child inherits the hung-up file and the default SIGPIPE action.
    let fd = dev.fd();
    let mut c = spawn(move |_| {
        let _ = sys::default_signal(libc::SIGPIPE);
        let _ = sys::write(fd, b"x");
        0
    })?;
    let exit = c.wait(WAKE)?;
    expect_eq!(
        t,
        exit,
        Exit::Signal(libc::SIGPIPE),
        "end of a writer with default SIGPIPE"
    );
    Ok(())
}

// After a hangup a read-write file polls POLLIN|POLLRDNORM|POLLHUP|POLLERR, never POLLOUT.
fn poll_shows_pollhup_and_pollerr_after_hangup(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    dev.write_all(b"abc")?;
    dev.hangup().context("MYDEV_HANGUP")?;
    let all = libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLWRNORM;
    let want = libc::POLLIN | libc::POLLRDNORM | libc::POLLHUP | libc::POLLERR;
    let name = |m: i16| sys::poll_names(m as u16 as u32);
    let got = sys::poll_one(dev.fd(), all, 0).context("poll")?;
    expect!(
        t,
        got == want,
        "poll with data after hangup: expected {}, got {}",
        name(want),
        name(got)
    );
    dev.read(16).context("drain")?;
    let got = sys::poll_one(dev.fd(), all, 0).context("poll")?;
    expect!(
        t,
        got == want,
        "poll when drained after hangup: expected {}, got {}",
        name(want),
        name(got)
    );
    Ok(())
}

// A reader blocked on the empty device is woken by MYDEV_HANGUP and reads EOF.
fn hangup_wakes_blocked_reader(t: &mut T) -> TestResult {
    let mut c = spawn_op(|| Dev::rdonly()?.read(16))?;
    wait_waiters(1, 0)?;
    wait_sleeping(c.pid)?;
    Dev::wronly()
        .context("open")?
        .hangup()
        .context("MYDEV_HANGUP")?;
    expect_eq!(
        t,
        c.finish(WAKE)?,
        Ok(vec![]),
        "the woken reader's read (EOF)"
    );
    wait_waiters(0, 0)?;
    Ok(())
}

// A writer blocked on the full device is woken by MYDEV_HANGUP and gets EPIPE.
fn hangup_wakes_blocked_writer(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    fill(&dev, 40)?;
    let mut c = spawn_op(|| {
        sys::ignore_signal(libc::SIGPIPE)?;
        count(Dev::wronly()?.write(b"blocked"))
    })?;
    wait_waiters(0, 1)?;
    wait_sleeping(c.pid)?;
    dev.hangup().context("MYDEV_HANGUP")?;
    let n = c.finish_count(WAKE)?;
    t.expect_errno(n, libc::EPIPE, "the woken writer's write");
    wait_waiters(0, 0)?;
    expect_eq!(t, dev.fionread().context("FIONREAD")?, 4096, "FIONREAD");
    Ok(())
}

// A poll blocked on the empty device is woken by MYDEV_HANGUP with POLLHUP.
fn hangup_wakes_blocked_poller(t: &mut T) -> TestResult {
    let mut c = spawn_op(|| {
        let d = Dev::rdonly()?;
        let r = sys::poll_one(d.fd(), libc::POLLIN, 20_000)?;
        Ok(r.to_le_bytes().to_vec())
    })?;
    wait_sleeping(c.pid)?;
    sys::sleep_ms(100);
    expect!(t, c.running(), "poll returned on the empty device");
    Dev::wronly()
        .context("open")?
        .hangup()
        .context("MYDEV_HANGUP")?;
    let got = c.finish(WAKE)?.context("poll in the child")?;
    let r = i16::from_le_bytes([got[0], got[1]]);
    expect!(
        t,
        r & libc::POLLHUP != 0,
        "woken poll: expected POLLHUP, got {r:#x}"
    );
    Ok(())
}

// The hung-up state clears when the last open file is released, and the data stays.
fn hangup_clears_on_last_close_and_data_stays(t: &mut T) -> TestResult {
    sys::ignore_signal(libc::SIGPIPE).context("ignore SIGPIPE")?;
    let a = Dev::rw().context("open A")?;
    a.write_all(b"keep")?;
    a.hangup().context("MYDEV_HANGUP")?;
    let b = Dev::rdonly().context("open B")?;
    drop(a);
    expect!(
        t,
        hung_up()?,
        "hung-up state cleared while file B is still open"
    );
    drop(b);
    let c = Dev::rw_nonblock().context("open C")?;
    let st = c.stats().context("MYDEV_STATS")?;
    expect_eq!(
        t,
        st.flags & MYDEV_FLAG_HUNG_UP,
        0,
        "hung-up flag after the last close"
    );
    expect_eq!(t, c.fionread().context("FIONREAD")?, 4, "bytes kept");
    expect_eq!(t, c.write(b"!"), Ok(1), "write after the state cleared");
    expect_eq!(
        t,
        c.read(16),
        Ok(b"keep!".to_vec()),
        "data after the state cleared"
    );
    t.expect_errno(c.read(1), libc::EAGAIN, "read of the empty device");
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(readers_drain_then_get_eof_after_hangup),
            test!(writes_after_hangup_give_epipe),
            test!(write_after_hangup_raises_sigpipe),
            test!(poll_shows_pollhup_and_pollerr_after_hangup),
            test!(hangup_wakes_blocked_reader),
            test!(hangup_wakes_blocked_writer),
            test!(hangup_wakes_blocked_poller),
            test!(hangup_clears_on_last_close_and_data_stays),
        ],
    )
}
