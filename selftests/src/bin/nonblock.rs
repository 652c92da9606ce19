// SPDX-License-Identifier: GPL-2.0-only

//! O_NONBLOCK: EAGAIN in both directions, atomic writes all or nothing,
//! partial large writes, and zero-length calls.

use std::time::Duration;

use mydevice_selftests::{
    count, diff, expect, expect_eq, fill, pattern, spawn_op, sys, test, Context, Dev, TestResult,
    DEVICE_SUITE, T,
};

// A non-blocking read of the empty device fails with EAGAIN at once.
fn nonblocking_read_on_empty_gives_eagain(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open O_RDWR|O_NONBLOCK")?;
    t.expect_errno(dev.read(16), libc::EAGAIN, "read of the empty device");
    let rd = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY|O_NONBLOCK")?;
    t.expect_errno(
        rd.read(1),
        libc::EAGAIN,
        "read of the empty device, O_RDONLY",
    );
    Ok(())
}

// A non-blocking write to the full device fails with EAGAIN and stores nothing.
fn nonblocking_write_on_full_gives_eagain(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open O_RDWR|O_NONBLOCK")?;
    let data = fill(&dev, 3)?;
    t.expect_errno(
        dev.write(b"x"),
        libc::EAGAIN,
        "1-byte write to the full device",
    );
    t.expect_errno(
        dev.write(&pattern(4, 8192)),
        libc::EAGAIN,
        "8192-byte write to the full device",
    );
    expect_eq!(t, dev.fionread().context("FIONREAD")?, 4096, "FIONREAD");
    let back = dev.read_exact(4096).context("drain")?;
    expect!(t, back == data, "data after EAGAIN: {}", diff(&back, &data));
    Ok(())
}

// An atomic write of n bytes with fewer than n free gives EAGAIN and stores nothing.
fn nonblocking_atomic_write_without_room_stores_nothing(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open O_RDWR|O_NONBLOCK")?;
    let first = pattern(5, 4000);
    dev.write_all(&first)?;
    t.expect_errno(
        dev.write(&pattern(6, 200)),
        libc::EAGAIN,
        "200-byte atomic write with 96 bytes free",
    );
    t.expect_errno(
        dev.write(&pattern(6, 4096)),
        libc::EAGAIN,
        "4096-byte atomic write with 96 bytes free",
    );
    expect_eq!(
        t,
        dev.fionread().context("FIONREAD")?,
        4000,
        "FIONREAD after the refused writes"
    );
    // Exactly the free space fits.
    let tail = pattern(7, 96);
    expect_eq!(t, dev.write(&tail), Ok(96), "96-byte write with 96 free");
    let back = dev.read_exact(4096).context("drain")?;
    let mut want = first;
    want.extend_from_slice(&tail);
    expect!(t, back == want, "stream: {}", diff(&back, &want));
    Ok(())
}

// A non-atomic (larger than 4096) non-blocking write stores what fits and returns the count.
fn nonblocking_large_write_stores_what_fits(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open O_RDWR|O_NONBLOCK")?;
    let first = pattern(8, 1000);
    dev.write_all(&first)?;
    let big = pattern(9, 8192);
    expect_eq!(
        t,
        dev.write(&big),
        Ok(3096),
        "8192-byte write with 3096 bytes free"
    );
    expect_eq!(t, dev.fionread().context("FIONREAD")?, 4096, "FIONREAD");
    let back = dev.read_exact(4096).context("drain")?;
    let mut want = first;
    want.extend_from_slice(&big[..3096]);
    expect!(t, back == want, "stream: {}", diff(&back, &want));
    // On an empty device, the same write stores a full buffer.
    expect_eq!(t, dev.write(&big), Ok(4096), "8192-byte write when empty");
    let back = dev.read_exact(4096).context("drain")?;
    expect!(
        t,
        back == big[..4096],
        "stream: {}",
        diff(&back, &big[..4096])
    );
    Ok(())
}

// A read returns the bytes available without waiting for the full count.
fn read_returns_available_bytes(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open O_RDWR|O_NONBLOCK")?;
    dev.write_all(b"0123456789")?;
    expect_eq!(
        t,
        dev.read(100),
        Ok(b"0123456789".to_vec()),
        "non-blocking read of 100 with 10 buffered"
    );
    dev.write_all(b"abc")?;
    let mut child = spawn_op(|| Dev::rdonly()?.read(100))?;
    expect_eq!(
        t,
        child.finish(Duration::from_secs(5))?,
        Ok(b"abc".to_vec()),
        "blocking read of 100 with 3 buffered"
    );
    Ok(())
}

// read(0) and write(0) return 0 at once, in every state, and count as no call.
fn zero_length_read_and_write_return_zero(t: &mut T) -> TestResult {
    let nb = Dev::rw_nonblock().context("open O_RDWR|O_NONBLOCK")?;
    let before = nb.status().context("MYDEV_STATUS")?;
    expect_eq!(t, nb.read(0), Ok(vec![]), "non-blocking read(0) when empty");
    expect_eq!(t, nb.write(b""), Ok(0), "non-blocking write(0) when empty");
    // Blocking calls in a child, so a wrong sleep is caught by the deadline.
    let mut c = spawn_op(|| Dev::rw()?.read(0))?;
    expect_eq!(
        t,
        c.finish(Duration::from_secs(5))?,
        Ok(vec![]),
        "blocking read(0) when empty"
    );
    fill(&nb, 10)?;
    expect_eq!(t, nb.write(b""), Ok(0), "non-blocking write(0) when full");
    let mut c = spawn_op(|| count(Dev::rw()?.write(b"")))?;
    expect_eq!(
        t,
        c.finish_count(Duration::from_secs(5))?,
        Ok(0),
        "blocking write(0) when full"
    );
    expect_eq!(t, nb.read(0), Ok(vec![]), "read(0) when full");
    expect_eq!(
        t,
        nb.fionread().context("FIONREAD")?,
        4096,
        "FIONREAD after zero-length calls"
    );
    let after = nb.status().context("MYDEV_STATUS")?;
    // The fill above is the only successful call.
    expect_eq!(
        t,
        after.read_count,
        before.read_count,
        "read_count after read(0) calls"
    );
    expect_eq!(
        t,
        after.write_count,
        before.write_count + 1,
        "write_count after one fill and write(0) calls"
    );
    Ok(())
}

// O_NONBLOCK set later with fcntl(F_SETFL) takes effect.
fn fcntl_nonblock_takes_effect(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open O_RDWR")?;
    sys::add_fl(dev.fd(), libc::O_NONBLOCK).context("fcntl(F_SETFL, O_NONBLOCK)")?;
    t.expect_errno(dev.read(1), libc::EAGAIN, "read after F_SETFL O_NONBLOCK");
    fill(&dev, 11)?;
    t.expect_errno(
        dev.write(b"x"),
        libc::EAGAIN,
        "write after F_SETFL O_NONBLOCK",
    );
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(nonblocking_read_on_empty_gives_eagain),
            test!(nonblocking_write_on_full_gives_eagain),
            test!(nonblocking_atomic_write_without_room_stores_nothing),
            test!(nonblocking_large_write_stores_what_fits),
            test!(read_returns_available_bytes),
            test!(zero_length_read_and_write_return_zero),
            test!(fcntl_nonblock_takes_effect),
        ],
    )
}
