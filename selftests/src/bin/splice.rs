// SPDX-License-Identifier: GPL-2.0-only

//! splice, tee and sendfile in both directions. The device reads through
//! `copy_splice_read` and writes through `iter_file_splice_write`, so both
//! follow the rules of read and write: data stays intact, writes of up to
//! 4096 bytes are atomic, and the device's own `O_NONBLOCK` decides whether
//! its side waits (`SPLICE_F_NONBLOCK` only concerns the pipe). Like a
//! pipe, the device is a stream: sendfile out of it goes into a pipe, since
//! the kernel wants a seekable input when the output is not a pipe.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mydevice_selftests::{
    count, diff, ensure, expect, expect_eq, pattern, spawn_op, sys, test, wait_sleeping,
    wait_waiters, Child, Context, Dev, Failure, SysResult, TestResult, DEVICE_SUITE, T,
};

const WAKE: Duration = Duration::from_secs(5);

/// Runs `f` in a child with a deadline, so that a call that wrongly sleeps fails the test.
fn in_child(what: &str, f: impl FnOnce() -> SysResult<usize>) -> Result<SysResult<usize>, Failure> {
    let mut c = spawn_op(|| count(f()))?;
    finish(&mut c, what)
}

fn finish(c: &mut Child, what: &str) -> Result<SysResult<usize>, Failure> {
    c.finish_count(WAKE).map_err(|e| match e {
        Failure::Fail(m) => Failure::Fail(format!("{what} did not return: {m}")),
        other => other,
    })
}

/// Everything buffered in the pipe `fd` now (it is made non-blocking).
fn drain_pipe(fd: i32) -> Result<Vec<u8>, Failure> {
    sys::add_fl(fd, libc::O_NONBLOCK).context("fcntl(O_NONBLOCK) on the pipe")?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match sys::read(fd, &mut buf) {
            Ok(0) | Err(sys::Errno::EAGAIN) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Err(Failure::fail(format!("read of the pipe: {e}"))),
        }
    }
}

/// Reads `n` bytes from the non-blocking `dev`, waiting for each part up to [`WAKE`].
fn read_device(dev: &Dev, n: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.extend(dev.read_within(n - out.len(), WAKE)?);
    }
    Ok(out)
}

/// A regular file in the temporary directory, removed on drop.
struct TempFile {
    path: PathBuf,
    file: File,
}

impl TempFile {
    fn new(name: &str, data: &[u8]) -> Result<Self, Failure> {
        let path = std::env::temp_dir().join(format!("mydevice-{}-{name}", sys::getpid()));
        std::fs::write(&path, data).context(format!("write {}", path.display()))?;
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .context(format!("open {}", path.display()))?;
        Ok(TempFile { path, file })
    }

    fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    fn contents(&self) -> Result<Vec<u8>, Failure> {
        std::fs::read(&self.path).context(format!("read {}", self.path.display()))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// splice(2) moves the device's data into a pipe, intact.
fn splice_moves_device_data_into_a_pipe(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let data = pattern(600, 3000);
    dev.write_all(&data)?;
    let pipe = sys::Pipe::new().context("pipe")?;
    let (from, to) = (dev.fd(), pipe.wr);
    let n = in_child("splice from the device", || sys::splice(from, to, 4096, 0))?;
    expect_eq!(t, n, Ok(3000), "splice of up to 4096 bytes with 3000 held");
    let got = drain_pipe(pipe.rd)?;
    expect!(t, got == data, "the pipe's data: {}", diff(&got, &data));
    expect_eq!(t, dev.fionread(), Ok(0), "FIONREAD after the splice");
    Ok(())
}

// tee(2) duplicates what was spliced from the device into a second pipe.
fn tee_copies_what_was_spliced_from_the_device(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let data = pattern(601, 3000);
    dev.write_all(&data)?;
    let (p1, p2) = (
        sys::Pipe::new().context("pipe")?,
        sys::Pipe::new().context("pipe")?,
    );
    let (from, to) = (dev.fd(), p1.wr);
    let n = in_child("splice from the device", || sys::splice(from, to, 3000, 0))?;
    // Without the data tee would wait for it forever.
    ensure!(
        n == Ok(3000),
        "splice from the device: expected Ok(3000), got {n:?}"
    );
    let teed = sys::tee(p1.rd, p2.wr, 3000, 0);
    expect_eq!(t, teed, Ok(3000), "tee of the spliced data");
    let copy = drain_pipe(p2.rd)?;
    expect!(t, copy == data, "the teed copy: {}", diff(&copy, &data));
    let orig = drain_pipe(p1.rd)?;
    expect!(t, orig == data, "the original: {}", diff(&orig, &data));
    Ok(())
}

// splice(2) moves a pipe's data into the device, intact.
fn splice_moves_pipe_data_into_the_device(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let data = pattern(602, 3000);
    let pipe = sys::Pipe::new().context("pipe")?;
    expect_eq!(t, sys::write(pipe.wr, &data), Ok(3000), "write to the pipe");
    let (from, to) = (pipe.rd, dev.fd());
    let n = in_child("splice into the device", || sys::splice(from, to, 3000, 0))?;
    expect_eq!(t, n, Ok(3000), "splice of 3000 bytes into the empty device");
    let got = dev.read_exact(3000).context("read")?;
    expect!(t, got == data, "the device's data: {}", diff(&got, &data));
    Ok(())
}

// A splice of 200 bytes into a non-blocking device with 96 free gives EAGAIN and stores nothing.
fn splice_into_the_device_keeps_small_writes_atomic(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let held = pattern(603, 4000);
    dev.write_all(&held)?;
    let pipe = sys::Pipe::new().context("pipe")?;
    let record = pattern(604, 200);
    expect_eq!(
        t,
        sys::write(pipe.wr, &record),
        Ok(200),
        "write to the pipe"
    );
    let (from, to) = (pipe.rd, dev.fd());
    let n = in_child("splice into the device", || sys::splice(from, to, 200, 0))?;
    t.expect_errno(n, libc::EAGAIN, "splice of 200 bytes with 96 free");
    expect_eq!(
        t,
        dev.fionread(),
        Ok(4000),
        "FIONREAD after the refused splice"
    );
    let left = drain_pipe(pipe.rd)?;
    expect!(
        t,
        left == record,
        "the pipe after the refused splice: {}",
        diff(&left, &record)
    );
    Ok(())
}

// sendfile(2) copies a 20000-byte regular file into the device while a reader drains it.
fn sendfile_copies_a_file_into_the_device(t: &mut T) -> TestResult {
    let data = pattern(605, 20_000);
    let file = TempFile::new("sendfile-in", &data)?;
    let rd = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY")?;
    let (fd, len) = (file.fd(), data.len());
    let mut c = spawn_op(|| count(sys::sendfile(Dev::wronly()?.fd(), fd, len)))?;
    let started = Instant::now();
    let got = read_device(&rd, data.len())?;
    expect!(t, got == data, "the device's data: {}", diff(&got, &data));
    let n = finish(&mut c, "sendfile into the device")?;
    expect_eq!(t, n, Ok(20_000), "sendfile of the 20000-byte file");
    t.diag(format!("20000 bytes in {:?}", started.elapsed()));
    Ok(())
}

// sendfile(2) copies the device's data into a pipe and on into a regular file; straight into the file it gives EINVAL, as from a pipe.
fn sendfile_copies_device_data_through_a_pipe_into_a_file(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    let data = pattern(606, 3000);
    dev.write_all(&data)?;
    let file = TempFile::new("sendfile-out", b"")?;
    // The kernel wants a seekable input when the output is not a pipe, and
    // the device is a stream, as a pipe is.
    let (to, from) = (file.fd(), dev.fd());
    let n = in_child("sendfile from the device into a file", || {
        sys::sendfile(to, from, 3000)
    })?;
    t.expect_errno(
        n,
        libc::EINVAL,
        "sendfile from the device straight into a regular file",
    );
    let other = sys::Pipe::new().context("pipe")?;
    expect_eq!(t, sys::write(other.wr, b"abc"), Ok(3), "write to a pipe");
    t.expect_errno(
        sys::sendfile(to, other.rd, 3),
        libc::EINVAL,
        "sendfile from a pipe straight into a regular file, for reference",
    );
    expect_eq!(
        t,
        dev.fionread(),
        Ok(3000),
        "FIONREAD after the refused sendfile"
    );

    let pipe = sys::Pipe::new().context("pipe")?;
    let n = in_child("sendfile from the device into a pipe", || {
        sys::sendfile(pipe.wr, from, 3000)
    })?;
    ensure!(
        n == Ok(3000),
        "sendfile of 3000 bytes from the device into a pipe: expected Ok(3000), got {n:?}"
    );
    expect_eq!(t, dev.fionread(), Ok(0), "FIONREAD after the sendfile");
    let n = sys::splice(pipe.rd, to, 3000, 0);
    expect_eq!(t, n, Ok(3000), "splice of the pipe into the file");
    let got = file.contents()?;
    expect!(t, got == data, "the file's data: {}", diff(&got, &data));
    Ok(())
}

// A splice from the empty non-blocking device gives EAGAIN, with or without SPLICE_F_NONBLOCK.
fn splice_from_empty_nonblocking_device_gives_eagain(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open O_NONBLOCK")?;
    let pipe = sys::Pipe::new().context("pipe")?;
    let (from, to) = (dev.fd(), pipe.wr);
    for (flags, name) in [
        (libc::SPLICE_F_NONBLOCK, "SPLICE_F_NONBLOCK"),
        (0, "no flags"),
    ] {
        let n = in_child("splice from the empty device", || {
            sys::splice(from, to, 100, flags)
        })?;
        t.expect_errno(
            n,
            libc::EAGAIN,
            &format!("splice from the empty O_NONBLOCK device, {name}"),
        );
    }
    Ok(())
}

// SPLICE_F_NONBLOCK leaves the blocking device's side blocking: the splice waits for data.
fn splice_nonblock_flag_leaves_a_blocking_device_file_waiting(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open (blocking)")?;
    let pipe = sys::Pipe::new().context("pipe")?;
    let (from, to) = (dev.fd(), pipe.wr);
    let mut c = spawn_op(|| count(sys::splice(from, to, 100, libc::SPLICE_F_NONBLOCK)))?;
    let waiting = wait_waiters(1, 0);
    if !c.running() {
        let n = finish(&mut c, "the splice")?;
        return Err(Failure::fail(format!(
            "splice with SPLICE_F_NONBLOCK from the empty blocking device returned {n:?} \
             instead of waiting for data"
        )));
    }
    waiting?;
    wait_sleeping(c.pid)?;
    Dev::wronly().context("open O_WRONLY")?.write_all(b"data")?;
    let n = finish(&mut c, "the waiting splice after a write")?;
    expect_eq!(t, n, Ok(4), "the waiting splice's count");
    let got = drain_pipe(pipe.rd)?;
    expect_eq!(t, got, b"data".to_vec(), "the pipe's data");
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(splice_moves_device_data_into_a_pipe),
            test!(tee_copies_what_was_spliced_from_the_device),
            test!(splice_moves_pipe_data_into_the_device),
            test!(splice_into_the_device_keeps_small_writes_atomic),
            test!(sendfile_copies_a_file_into_the_device),
            test!(sendfile_copies_device_data_through_a_pipe_into_a_file),
            test!(splice_from_empty_nonblocking_device_gives_eagain),
            test!(splice_nonblock_flag_leaves_a_blocking_device_file_waiting),
        ],
    )
}
