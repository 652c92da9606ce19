// SPDX-License-Identifier: GPL-2.0-only

//! Every ioctl and its edge cases, FIONREAD, and /proc/mydevice agreeing
//! with MYDEV_STATUS and MYDEV_STATS.

use std::time::Duration;

use mydevice_abi::{
    ioc, MydevStats, MydevStatus, FIONREAD, MYDEV_BUFFER_MAX, MYDEV_CLEAR, MYDEV_FLAG_HUNG_UP,
    MYDEV_HANGUP, MYDEV_RESIZE, MYDEV_STATS, MYDEV_STATS_VERSION, MYDEV_STATUS,
};
use mydevice_selftests::{
    count, diff, ensure, expect, expect_eq, fill, parse_proc, pattern, proc_text, spawn_op, sys,
    test, wait_sleeping, wait_waiters, Context, Dev, Failure, TestResult, DEVICE_SUITE, T,
};

const WAKE: Duration = Duration::from_secs(5);
/// An address in the kernel half on 64-bit machines.
const KERNEL_ADDR: usize = 0xffff_8000_0000_0000;

// The ioctl numbers are the ones the C header computes.
fn ioctl_numbers_match_the_header(t: &mut T) -> TestResult {
    expect_eq!(t, MYDEV_CLEAR, 0x4d00, "MYDEV_CLEAR");
    expect_eq!(t, MYDEV_RESIZE, 0x4004_4d01, "MYDEV_RESIZE");
    expect_eq!(t, MYDEV_STATUS, 0x8018_4d02, "MYDEV_STATUS");
    expect_eq!(t, MYDEV_HANGUP, 0x4d03, "MYDEV_HANGUP");
    expect_eq!(t, MYDEV_STATS, 0x8048_4d04, "MYDEV_STATS");
    expect_eq!(
        t,
        std::mem::size_of::<MydevStatus>(),
        24,
        "struct mydev_status size"
    );
    expect_eq!(
        t,
        std::mem::size_of::<MydevStats>(),
        72,
        "struct mydev_stats size"
    );
    Ok(())
}

// MYDEV_CLEAR discards all buffered data.
fn clear_discards_data(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    dev.write_all(b"to be discarded")?;
    dev.clear().context("MYDEV_CLEAR")?;
    expect_eq!(
        t,
        dev.fionread().context("FIONREAD")?,
        0,
        "FIONREAD after CLEAR"
    );
    t.expect_errno(dev.read(16), libc::EAGAIN, "read after CLEAR");
    dev.write_all(b"fresh")?;
    expect_eq!(
        t,
        dev.read(16),
        Ok(b"fresh".to_vec()),
        "data written after CLEAR"
    );
    Ok(())
}

// MYDEV_CLEAR wakes a writer blocked on the full device.
fn clear_wakes_blocked_writer(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    fill(&dev, 50)?;
    let mut c = spawn_op(|| count(Dev::wronly()?.write(&pattern(51, 100))))?;
    wait_waiters(0, 1)?;
    wait_sleeping(c.pid)?;
    dev.clear().context("MYDEV_CLEAR")?;
    expect_eq!(
        t,
        c.finish_count(WAKE)?,
        Ok(100),
        "the woken writer's count"
    );
    expect_eq!(
        t,
        dev.read(4096),
        Ok(pattern(51, 100)),
        "only the new data after CLEAR"
    );
    Ok(())
}

// MYDEV_RESIZE refuses 0 and more than 1048576 with EINVAL and keeps the buffer.
fn resize_rejects_zero_and_too_large(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    dev.write_all(b"stay")?;
    t.expect_errno(dev.resize(0), libc::EINVAL, "RESIZE to 0");
    t.expect_errno(
        dev.resize(MYDEV_BUFFER_MAX + 1),
        libc::EINVAL,
        "RESIZE to 1048577",
    );
    t.expect_errno(dev.resize(u32::MAX), libc::EINVAL, "RESIZE to 0xffffffff");
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(t, st.buffer_size, 4096, "capacity after refused resizes");
    expect_eq!(t, st.bytes_used, 4, "bytes_used after refused resizes");
    Ok(())
}

// The extremes 1 and 1048576 are valid capacities and work.
fn resize_accepts_one_and_maximum(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    dev.resize(1).context("RESIZE to 1")?;
    expect_eq!(
        t,
        dev.status().context("MYDEV_STATUS")?.buffer_size,
        1,
        "capacity"
    );
    expect_eq!(t, dev.write(b"ab"), Ok(1), "2-byte write into capacity 1");
    t.expect_errno(dev.write(b"c"), libc::EAGAIN, "write into full capacity 1");
    expect_eq!(t, dev.read(8), Ok(b"a".to_vec()), "read from capacity 1");
    dev.resize(MYDEV_BUFFER_MAX).context("RESIZE to 1048576")?;
    expect_eq!(
        t,
        dev.status().context("MYDEV_STATUS")?.buffer_size,
        MYDEV_BUFFER_MAX,
        "capacity"
    );
    let big = pattern(52, MYDEV_BUFFER_MAX as usize);
    expect_eq!(t, dev.write(&big), Ok(big.len()), "1 MiB write into 1 MiB");
    t.expect_errno(dev.write(b"x"), libc::EAGAIN, "write into full 1 MiB");
    let back = dev.read_exact(big.len()).context("drain")?;
    expect!(t, back == big, "1 MiB stream: {}", diff(&back, &big));
    Ok(())
}

// Shrinking below the bytes held keeps the oldest bytes: "1234567890" resized to 5 reads "12345".
fn resize_shrink_keeps_oldest_bytes(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    dev.write_all(b"1234567890")?;
    dev.resize(5).context("RESIZE to 5")?;
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(
        t,
        (st.buffer_size, st.bytes_used),
        (5, 5),
        "(capacity, used)"
    );
    expect_eq!(
        t,
        dev.read(100),
        Ok(b"12345".to_vec()),
        "data after the shrink"
    );
    t.expect_errno(dev.read(1), libc::EAGAIN, "read after draining");
    Ok(())
}

/// Leaves `used` bytes in the 4096-byte ring wrapped past its end; returns them.
fn wrap(dev: &Dev, seed: u32) -> Result<Vec<u8>, Failure> {
    let a = pattern(seed, 3000);
    dev.write_all(&a)?;
    let first = dev.read_exact(2000).context("read 2000")?;
    ensure!(
        first == a[..2000],
        "first 2000 bytes: {}",
        diff(&first, &a[..2000])
    );
    let b = pattern(seed + 1, 2500);
    dev.write_all(&b)?;
    Ok([&a[2000..], &b[..]].concat())
}

// Wrapped data is preserved in order when the buffer grows, and the ring keeps working.
fn resize_grow_preserves_wrapped_data(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let held = wrap(&dev, 53)?;
    dev.resize(8192).context("RESIZE to 8192")?;
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(
        t,
        (st.buffer_size, st.bytes_used),
        (8192, 3500),
        "(capacity, used)"
    );
    let more = pattern(55, 4692);
    expect_eq!(
        t,
        dev.write(&more),
        Ok(4692),
        "write filling the grown buffer"
    );
    let back = dev.read_exact(8192).context("drain")?;
    let want = [&held[..], &more[..]].concat();
    expect!(
        t,
        back == want,
        "stream after growing: {}",
        diff(&back, &want)
    );
    Ok(())
}

// Wrapped data is preserved in order when the buffer shrinks, keeping the oldest bytes.
fn resize_shrink_preserves_wrapped_data(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let held = wrap(&dev, 56)?;
    dev.resize(3600).context("RESIZE to 3600")?;
    let back = dev.read_exact(3500).context("drain")?;
    expect!(
        t,
        back == held,
        "stream after shrinking to 3600: {}",
        diff(&back, &held)
    );
    dev.resize(4096).context("RESIZE to 4096")?;
    let held = wrap(&dev, 58)?;
    dev.resize(1000).context("RESIZE to 1000")?;
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(
        t,
        (st.buffer_size, st.bytes_used),
        (1000, 1000),
        "(capacity, used)"
    );
    let back = dev.read(4096).context("drain")?;
    expect!(
        t,
        back == held[..1000],
        "stream after shrinking to 1000: {}",
        diff(&back, &held[..1000])
    );
    Ok(())
}

// Growing the full buffer wakes a blocked writer, whose data then fits.
fn resize_wakes_blocked_writer(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    let data = fill(&dev, 60)?;
    let mine = pattern(61, 100);
    let payload = mine.clone();
    let mut c = spawn_op(move || count(Dev::wronly()?.write(&payload)))?;
    wait_waiters(0, 1)?;
    wait_sleeping(c.pid)?;
    dev.resize(8192).context("RESIZE to 8192")?;
    expect_eq!(
        t,
        c.finish_count(WAKE)?,
        Ok(100),
        "the woken writer's count"
    );
    let back = dev.read_exact(4196).context("drain")?;
    let want = [&data[..], &mine[..]].concat();
    expect!(t, back == want, "stream: {}", diff(&back, &want));
    Ok(())
}

// MYDEV_STATUS reports all six fields; the counts count successful calls only.
fn status_reports_all_fields(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let s0 = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(t, s0.buffer_size, 4096, "buffer_size");
    expect_eq!(t, s0.bytes_used, 0, "bytes_used");
    expect_eq!(t, s0.open_count, 1, "open_count");
    expect_eq!(t, s0._reserved, 0, "_reserved");
    dev.write_all(b"0123456789")?;
    dev.read(4).context("read 4")?;
    let _ = dev.read(0);
    let _ = dev.write(b"");
    let other = Dev::rdonly().context("second open")?;
    let s1 = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(t, s1.bytes_used, 6, "bytes_used");
    expect_eq!(t, s1.open_count, 2, "open_count with two files");
    expect_eq!(
        t,
        s1.read_count.wrapping_sub(s0.read_count),
        1,
        "read_count increase"
    );
    expect_eq!(
        t,
        s1.write_count.wrapping_sub(s0.write_count),
        1,
        "write_count increase"
    );
    expect_eq!(t, s1._reserved, 0, "_reserved");
    drop(other);
    dev.read(100).context("drain")?;
    t.expect_errno(dev.read(1), libc::EAGAIN, "read of the empty device");
    let s2 = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(t, s2.open_count, 1, "open_count after closing one");
    expect_eq!(
        t,
        s2.read_count.wrapping_sub(s1.read_count),
        1,
        "read_count increase (EAGAIN does not count)"
    );
    Ok(())
}

// MYDEV_STATS has size 72 and version 1, its counters move, and flags show the hangup.
fn stats_reports_counters_and_flags(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let s0 = dev.stats().context("MYDEV_STATS")?;
    expect_eq!(t, s0.size, 72, "size");
    expect_eq!(t, s0.version, MYDEV_STATS_VERSION, "version");
    expect_eq!(t, s0._reserved, 0, "_reserved");
    expect_eq!(t, s0.flags, 0, "flags");
    expect_eq!(
        t,
        (s0.readers_waiting, s0.writers_waiting),
        (0, 0),
        "(readers_waiting, writers_waiting)"
    );
    dev.write_all(&[7u8; 300])?;
    dev.write_all(&[8u8; 20])?;
    dev.read(100).context("read 100")?;
    let s1 = dev.stats().context("MYDEV_STATS")?;
    expect_eq!(
        t,
        s1.bytes_written.wrapping_sub(s0.bytes_written),
        320,
        "bytes_written increase"
    );
    expect_eq!(t, s1.writes.wrapping_sub(s0.writes), 2, "writes increase");
    expect_eq!(
        t,
        s1.bytes_read.wrapping_sub(s0.bytes_read),
        100,
        "bytes_read increase"
    );
    expect_eq!(t, s1.reads.wrapping_sub(s0.reads), 1, "reads increase");
    expect_eq!(
        t,
        (s1.reader_sleeps, s1.writer_sleeps),
        (s0.reader_sleeps, s0.writer_sleeps),
        "(reader_sleeps, writer_sleeps) with no sleep"
    );
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(
        t,
        u64::from(st.read_count),
        s1.reads,
        "STATUS read_count vs STATS reads"
    );
    expect_eq!(
        t,
        u64::from(st.write_count),
        s1.writes,
        "STATUS write_count vs STATS writes"
    );
    dev.hangup().context("MYDEV_HANGUP")?;
    let s2 = dev.stats().context("MYDEV_STATS")?;
    expect_eq!(t, s2.flags, MYDEV_FLAG_HUNG_UP, "flags after HANGUP");
    Ok(())
}

// MYDEV_STATS counts reader and writer sleeps and shows the current waiters.
fn stats_counts_sleeps_and_waiters(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    let s0 = dev.stats().context("MYDEV_STATS")?;
    let mut r = spawn_op(|| Dev::rdonly()?.read(8))?;
    wait_waiters(1, 0)?;
    dev.write_all(b"r")?;
    expect_eq!(t, r.finish(WAKE)?, Ok(b"r".to_vec()), "the reader's data");
    fill(&dev, 62)?;
    let mut w = spawn_op(|| count(Dev::wronly()?.write(b"w")))?;
    wait_waiters(0, 1)?;
    dev.read(1).context("read 1")?;
    expect_eq!(t, w.finish_count(WAKE)?, Ok(1), "the writer's count");
    let s1 = dev.stats().context("MYDEV_STATS")?;
    expect!(
        t,
        s1.reader_sleeps > s0.reader_sleeps,
        "reader_sleeps did not grow after a reader slept ({} -> {})",
        s0.reader_sleeps,
        s1.reader_sleeps
    );
    expect!(
        t,
        s1.writer_sleeps > s0.writer_sleeps,
        "writer_sleeps did not grow after a writer slept ({} -> {})",
        s0.writer_sleeps,
        s1.writer_sleeps
    );
    expect_eq!(
        t,
        (s1.readers_waiting, s1.writers_waiting),
        (0, 0),
        "(readers_waiting, writers_waiting) afterwards"
    );
    Ok(())
}

// FIONREAD returns the number of bytes buffered.
fn fionread_returns_bytes_buffered(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    expect_eq!(t, dev.fionread(), Ok(0), "FIONREAD when empty");
    dev.write_all(&[1u8; 123])?;
    expect_eq!(t, dev.fionread(), Ok(123), "FIONREAD after 123 bytes");
    dev.read(23).context("read 23")?;
    expect_eq!(t, dev.fionread(), Ok(100), "FIONREAD after reading 23");
    let rd = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY")?;
    expect_eq!(
        t,
        rd.fionread(),
        Ok(100),
        "FIONREAD through an O_RDONLY file"
    );
    fill(&dev, 63)?;
    expect_eq!(t, dev.fionread(), Ok(4096), "FIONREAD when full");
    Ok(())
}

// CLEAR, RESIZE and HANGUP on an O_RDONLY file fail with EBADF and change nothing.
fn mutating_ioctls_need_a_writable_file(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    dev.write_all(b"untouched")?;
    let rd = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY")?;
    t.expect_errno(rd.clear(), libc::EBADF, "MYDEV_CLEAR on O_RDONLY");
    t.expect_errno(rd.resize(8192), libc::EBADF, "MYDEV_RESIZE on O_RDONLY");
    t.expect_errno(rd.hangup(), libc::EBADF, "MYDEV_HANGUP on O_RDONLY");
    let st = rd.status().context("MYDEV_STATUS on O_RDONLY")?;
    expect_eq!(
        t,
        (st.buffer_size, st.bytes_used),
        (4096, 9),
        "(capacity, used)"
    );
    let stats = rd.stats().context("MYDEV_STATS on O_RDONLY")?;
    expect_eq!(t, stats.flags, 0, "flags");
    // A write-only file may do all of them.
    let wr = Dev::open(libc::O_WRONLY | libc::O_NONBLOCK).context("open O_WRONLY")?;
    wr.status().context("MYDEV_STATUS on O_WRONLY")?;
    wr.resize(8192).context("MYDEV_RESIZE on O_WRONLY")?;
    wr.clear().context("MYDEV_CLEAR on O_WRONLY")?;
    expect_eq!(
        t,
        wr.fionread(),
        Ok(0),
        "FIONREAD after CLEAR through O_WRONLY"
    );
    Ok(())
}

// Unknown 'M' commands, wrong sizes and foreign ioctls fail with ENOTTY.
fn unknown_commands_give_enotty(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let mut word = [0u8; 256];
    let arg = word.as_mut_ptr() as usize;
    let cases = [
        (ioc(0, b'M', 5, 0), "_IO('M', 5)"),
        (ioc(0, b'M', 255, 0), "_IO('M', 255)"),
        (ioc(2, b'M', 99, 4), "_IOR('M', 99, u32)"),
        (ioc(1, b'M', 0, 4), "_IOW('M', 0, u32) (CLEAR with a size)"),
        (
            ioc(2, b'M', 2, 16),
            "_IOR('M', 2, 16 bytes) (STATUS, wrong size)",
        ),
        (
            ioc(1, b'M', 2, 24),
            "_IOW('M', 2, 24 bytes) (STATUS, wrong direction)",
        ),
        (
            ioc(2, b'M', 4, 64),
            "_IOR('M', 4, 64 bytes) (STATS, wrong size)",
        ),
        (
            ioc(2, b'M', 1, 4),
            "_IOR('M', 1, u32) (RESIZE, wrong direction)",
        ),
        (
            ioc(0, b'N', 0, 0),
            "_IO('N', 0) (CLEAR's number, another magic)",
        ),
        (ioc(0, b'X', 0, 0), "_IO('X', 0)"),
        (0, "0"),
        (libc::TCGETS as u32, "TCGETS"),
    ];
    for (cmd, name) in cases {
        t.expect_errno(
            dev.ioctl(cmd, arg),
            libc::ENOTTY,
            &format!("ioctl {name} ({cmd:#x})"),
        );
    }
    expect_eq!(t, dev.status().map(|s| s.buffer_size), Ok(4096), "capacity");
    Ok(())
}

// A bad argument pointer (NULL, kernel address, PROT_NONE page) gives EFAULT.
fn bad_argument_pointers_give_efault(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    dev.write_all(b"x")?;
    let none = sys::Mapping::new(1).context("mmap")?;
    none.protect_none(0).context("mprotect")?;
    for (addr, what) in [
        (0usize, "NULL"),
        (KERNEL_ADDR, "kernel address"),
        (none.addr, "PROT_NONE page"),
    ] {
        for (cmd, name) in [
            (MYDEV_RESIZE, "MYDEV_RESIZE"),
            (MYDEV_STATUS, "MYDEV_STATUS"),
            (MYDEV_STATS, "MYDEV_STATS"),
            (FIONREAD, "FIONREAD"),
        ] {
            t.expect_errno(
                dev.ioctl(cmd, addr),
                libc::EFAULT,
                &format!("{name} with {what}"),
            );
        }
    }
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(
        t,
        (st.buffer_size, st.bytes_used),
        (4096, 1),
        "(capacity, used)"
    );
    Ok(())
}

/// Parses a /proc value as a number; `hung_up` may also be yes/no or true/false.
fn num(v: &str) -> Option<u64> {
    match v {
        "yes" | "true" => Some(1),
        "no" | "false" => Some(0),
        _ => v.parse().ok(),
    }
}

const PROC_KEYS: [&str; 10] = [
    "buffer_size",
    "bytes_used",
    "open_count",
    "read_count",
    "write_count",
    "bytes_read",
    "bytes_written",
    "readers_waiting",
    "writers_waiting",
    "hung_up",
];

fn check_proc(t: &mut T, dev: &Dev, what: &str) -> TestResult {
    let st = dev.status().context("MYDEV_STATUS")?;
    let stats = dev.stats().context("MYDEV_STATS")?;
    let text = proc_text()?;
    let st2 = dev.status().context("MYDEV_STATUS")?;
    ensure!(
        st == st2,
        "the device changed while reading /proc ({st:?} -> {st2:?})"
    );
    let lines = parse_proc(&text)?;
    let keys: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    expect_eq!(
        t,
        keys,
        PROC_KEYS.to_vec(),
        "{what}: /proc/mydevice keys in order"
    );
    let want = [
        u64::from(st.buffer_size),
        u64::from(st.bytes_used),
        u64::from(st.open_count),
        u64::from(st.read_count),
        u64::from(st.write_count),
        stats.bytes_read,
        stats.bytes_written,
        u64::from(stats.readers_waiting),
        u64::from(stats.writers_waiting),
        u64::from(stats.flags & MYDEV_FLAG_HUNG_UP != 0),
    ];
    for (key, want) in PROC_KEYS.iter().zip(want) {
        match lines.iter().find(|(k, _)| k == key) {
            None => t.fail(format!("{what}: /proc/mydevice has no {key}")),
            Some((_, v)) => {
                expect_eq!(
                    t,
                    num(v),
                    Some(want),
                    "{what}: /proc/mydevice {key} ({v:?})"
                );
            }
        }
    }
    Ok(())
}

// /proc/mydevice lists its keys, agreeing with MYDEV_STATUS and MYDEV_STATS.
fn proc_agrees_with_status_and_stats(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    check_proc(t, &dev, "idle")?;
    dev.write_all(&[1u8; 100])?;
    dev.read(30).context("read 30")?;
    let _other = Dev::rdonly().context("second open")?;
    check_proc(t, &dev, "with data and two files")?;
    // Drain first: a reader started before the drain could take data and
    // return without ever sleeping.
    dev.read(100).context("drain")?;
    let mut r = spawn_op(|| Dev::rdonly()?.read(8))?;
    wait_waiters(1, 0)?;
    check_proc(t, &dev, "with a waiting reader")?;
    dev.write_all(b"z")?;
    expect_eq!(t, r.finish(WAKE)?, Ok(b"z".to_vec()), "the reader's data");
    dev.hangup().context("MYDEV_HANGUP")?;
    check_proc(t, &dev, "hung up")?;
    Ok(())
}

// Reading /proc/mydevice twice with no activity gives the same text.
fn proc_is_stable_when_idle(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    dev.write_all(b"some")?;
    let a = proc_text()?;
    let b = proc_text()?;
    expect_eq!(t, b, a, "second read of /proc/mydevice");
    ensure!(!a.is_empty(), "/proc/mydevice is empty");
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(ioctl_numbers_match_the_header),
            test!(clear_discards_data),
            test!(clear_wakes_blocked_writer),
            test!(resize_rejects_zero_and_too_large),
            test!(resize_accepts_one_and_maximum),
            test!(resize_shrink_keeps_oldest_bytes),
            test!(resize_grow_preserves_wrapped_data),
            test!(resize_shrink_preserves_wrapped_data),
            test!(resize_wakes_blocked_writer),
            test!(status_reports_all_fields),
            test!(stats_reports_counters_and_flags),
            test!(stats_counts_sleeps_and_waiters),
            test!(fionread_returns_bytes_buffered),
            test!(mutating_ioctls_need_a_writable_file),
            test!(unknown_commands_give_enotty),
            test!(bad_argument_pointers_give_efault),
            test!(proc_agrees_with_status_and_stats),
            test!(proc_is_stable_when_idle),
        ],
    )
}
