// SPDX-License-Identifier: GPL-2.0-only

//! io_uring on blocking files: a request that cannot go through at once never
//! sleeps inside `io_uring_enter()`; it waits on poll and completes when the
//! device is ready, so reads and writes stream intact through one ring.

use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};
use mydevice_selftests::{
    diff, ensure, expect, expect_eq, pattern, spawn, sys, task, test, Child, Context, Dev, Exit,
    Failure, Rng, TestResult, DEVICE_SUITE, T,
};

const WAKE: Duration = Duration::from_secs(5);
/// How long `io_uring_enter()` may take to hand back a request that has to wait.
const SUBMIT: Duration = Duration::from_secs(3);
const WRITE: u64 = 1;
const READ: u64 = 2;

/// Skips unless this kernel lets the tests set up an io_uring instance.
fn uring_available() -> TestResult {
    match IoUring::new(4) {
        Ok(_) => Ok(()),
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOSYS) => Err(Failure::Skip(
                "io_uring_setup() gives ENOSYS: the kernel lacks CONFIG_IO_URING".into(),
            )),
            Some(libc::EPERM) => Err(Failure::Skip(
                "io_uring_setup() gives EPERM: io_uring is disabled (kernel.io_uring_disabled)"
                    .into(),
            )),
            _ => Err(Failure::fail(format!("io_uring_setup(): {e}"))),
        },
    }
}

/// A write of `data` at the file position (offset -1, as for a stream).
fn write_sqe(fd: i32, data: &[u8], user_data: u64) -> squeue::Entry {
    opcode::Write::new(types::Fd(fd), data.as_ptr(), data.len() as u32)
        .offset(u64::MAX)
        .build()
        .user_data(user_data)
}

/// A read into `buf` at the file position (offset -1, as for a stream).
fn read_sqe(fd: i32, buf: &mut [u8], user_data: u64) -> squeue::Entry {
    opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32)
        .offset(u64::MAX)
        .build()
        .user_data(user_data)
}

/// Queues `entry`, whose buffer the caller keeps alive until its completion.
fn push(ring: &mut IoUring, entry: &squeue::Entry) -> Result<(), String> {
    // SAFETY: Every caller keeps the entry's buffer alive and untouched
    // until it has reaped the entry's completion.
    unsafe { ring.submission().push(entry) }.map_err(|_| "the submission queue is full".into())
}

/// Submits what is queued and waits for at least one completion; returns
/// every (user_data, result) completed.
fn complete(ring: &mut IoUring) -> Result<Vec<(u64, i32)>, String> {
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(format!("io_uring_enter(): {e}")),
        }
    }
    Ok(ring
        .completion()
        .map(|c| (c.user_data(), c.result()))
        .collect())
}

/// Waits for a child that reports a text, `ok` on success.
fn text_of(c: &mut Child, timeout: Duration, what: &str) -> Result<String, Failure> {
    let exit = c.wait(timeout).map_err(|e| match e {
        Failure::Fail(m) => Failure::Fail(format!("{what}: {m}")),
        other => other,
    })?;
    ensure!(
        exit == Exit::Code(0),
        "{what}: the child ended with {exit:?}"
    );
    Ok(String::from_utf8_lossy(c.output()).into_owned())
}

// A 200-byte write with 96 bytes free on a blocking file returns from io_uring_enter() at once and completes once reads make room.
fn iouring_write_that_does_not_fit_returns_from_submit_at_once(t: &mut T) -> TestResult {
    uring_available()?;
    let dev = Dev::rw().context("open O_RDWR (blocking)")?;
    let held = pattern(400, 4000);
    dev.write_all(&held)?;
    let record = pattern(401, 200);
    let fd = dev.fd();
    let mut c = spawn(|rep| {
        let Ok(mut ring) = IoUring::new(4) else {
            return 2;
        };
        if push(&mut ring, &write_sqe(fd, &record, WRITE)).is_err() {
            return 3;
        }
        if ring.submit().is_err() {
            return 4;
        }
        rep.send(b"S");
        match complete(&mut ring) {
            Ok(done) => {
                let res = done.first().map_or(i32::MIN, |&(_, r)| r);
                rep.send(&res.to_le_bytes());
                0
            }
            Err(_) => 5,
        }
    })?;
    if c.wait_for_output(1, SUBMIT) {
        sys::sleep_ms(100);
        expect_eq!(
            t,
            dev.fionread(),
            Ok(4000),
            "FIONREAD while the write waits for room"
        );
        expect!(
            t,
            c.output().len() == 1,
            "the 200-byte write completed with 96 bytes free"
        );
    } else {
        t.fail(format!(
            "io_uring_enter() did not return within {SUBMIT:?} for a 200-byte write with 96 bytes \
             free on a blocking file: it sleeps in the write ({})",
            task::describe(c.pid)
        ));
    }
    let back = dev.read_exact(4000).context("drain")?;
    expect!(t, back == held, "held data: {}", diff(&back, &held));
    let exit = c
        .wait(WAKE)
        .map_err(|e| Failure::fail(format!("the write did not complete after the drain: {e:?}")))?;
    ensure!(
        exit == Exit::Code(0) && c.output().len() == 5,
        "the submitting child ended with {exit:?} after reporting {} bytes",
        c.output().len()
    );
    let out = c.output();
    let res = i32::from_le_bytes([out[1], out[2], out[3], out[4]]);
    expect_eq!(t, res, 200, "CQE result of the 200-byte write");
    let got = dev.read_exact(200).context("read the record")?;
    expect!(t, got == record, "the record: {}", diff(&got, &record));
    Ok(())
}

/// Streams `records` from a blocking `O_WRONLY` file to a blocking
/// `O_RDONLY` one through one ring: one write and one 512-byte read in
/// flight at a time. Returns a description of the first fault.
fn stream_through_one_ring(records: &[Vec<u8>]) -> Result<(), String> {
    let wr = Dev::wronly().map_err(|e| format!("open O_WRONLY: {e}"))?;
    let rd = Dev::rdonly().map_err(|e| format!("open O_RDONLY: {e}"))?;
    let mut ring = IoUring::new(8).map_err(|e| format!("io_uring_setup(): {e}"))?;
    let want = records.concat();
    let mut got = Vec::with_capacity(want.len());
    let mut buf = vec![0u8; 512];
    let (mut next, mut writing, mut reading) = (0, false, false);
    while got.len() < want.len() {
        if !writing && next < records.len() {
            push(&mut ring, &write_sqe(wr.fd(), &records[next], WRITE))?;
            writing = true;
        }
        if !reading {
            push(&mut ring, &read_sqe(rd.fd(), &mut buf, READ))?;
            reading = true;
        }
        for (who, res) in complete(&mut ring)? {
            if who == WRITE {
                let len = records[next].len();
                if res != len as i32 {
                    return Err(format!(
                        "record {next}: expected a write CQE of {len}, got {res}"
                    ));
                }
                next += 1;
                writing = false;
            } else {
                if res <= 0 {
                    return Err(format!(
                        "expected data, got read CQE {res} after {} bytes",
                        got.len()
                    ));
                }
                got.extend_from_slice(&buf[..res as usize]);
                reading = false;
            }
        }
    }
    if got != want {
        return Err(format!("stream: {}", diff(&got, &want)));
    }
    Ok(())
}

// Records of 1 to 4096 bytes stream intact through blocking files by io_uring writes and reads on one ring.
fn iouring_streams_records_through_blocking_files(t: &mut T) -> TestResult {
    uring_available()?;
    let mut rng = Rng(0x0105_eed0_4096);
    let records: Vec<Vec<u8>> = (0..400u32)
        .map(|i| pattern(500 + i, 1 + rng.index(4096)))
        .collect();
    let bytes: usize = records.iter().map(Vec::len).sum();
    t.diag(format!("{} records, {bytes} bytes", records.len()));
    let mut c = spawn(|rep| {
        let msg = match stream_through_one_ring(&records) {
            Ok(()) => "ok".to_string(),
            Err(m) => m,
        };
        rep.send(msg.as_bytes());
        0
    })?;
    let got = text_of(
        &mut c,
        Duration::from_secs(30),
        "the stream through one ring stalled",
    )?;
    expect!(t, got == "ok", "the stream through one ring: {got}");
    Ok(())
}

// An io_uring read of the empty device returns from io_uring_enter() at once and completes when data arrives.
fn iouring_read_on_empty_device_completes_when_data_arrives(t: &mut T) -> TestResult {
    uring_available()?;
    let mut c = spawn(|rep| {
        let Ok(rd) = Dev::rdonly() else {
            return 2;
        };
        let Ok(mut ring) = IoUring::new(4) else {
            return 3;
        };
        let mut buf = [0u8; 64];
        if push(&mut ring, &read_sqe(rd.fd(), &mut buf, READ)).is_err() {
            return 4;
        }
        if ring.submit().is_err() {
            return 5;
        }
        rep.send(b"S");
        match complete(&mut ring) {
            Ok(done) => {
                let res = done.first().map_or(i32::MIN, |&(_, r)| r);
                rep.send(&res.to_le_bytes());
                if res > 0 {
                    rep.send(&buf[..res as usize]);
                }
                0
            }
            Err(_) => 6,
        }
    })?;
    ensure!(
        c.wait_for_output(1, SUBMIT),
        "io_uring_enter() did not return within {SUBMIT:?} for a read of the empty device ({})",
        task::describe(c.pid)
    );
    sys::sleep_ms(200);
    expect!(
        t,
        c.output().len() == 1,
        "the read completed on the empty device: {:?}",
        c.output()
    );
    Dev::wronly()
        .context("open O_WRONLY")?
        .write_all(b"hello")?;
    let exit = c
        .wait(WAKE)
        .map_err(|e| Failure::fail(format!("the read did not complete after a write: {e:?}")))?;
    ensure!(
        exit == Exit::Code(0) && c.output().len() >= 5,
        "the reading child ended with {exit:?} after reporting {} bytes",
        c.output().len()
    );
    let out = c.output();
    let res = i32::from_le_bytes([out[1], out[2], out[3], out[4]]);
    expect_eq!(t, res, 5, "CQE result of the read");
    expect_eq!(t, out[5..].to_vec(), b"hello".to_vec(), "the data read");
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(iouring_write_that_does_not_fit_returns_from_submit_at_once),
            test!(iouring_streams_records_through_blocking_files, 60),
            test!(iouring_read_on_empty_device_completes_when_data_arrives),
        ],
    )
}
