// SPDX-License-Identifier: GPL-2.0-only

//! Pipe parity: the rules in which the device behaves as `fs/pipe.c` does.
//!
//! `RWF_NOWAIT` and `RWF_NOSIGNAL`, wakeups that carry their poll key past
//! `EPOLLEXCLUSIVE` watchers, hangup masks split by access mode (`POLLHUP`
//! for readers, `POLLERR` for writers), `SIGIO` after every transfer, the
//! `POLLOUT` mark of `min(4096, capacity)` free bytes, ioctl-only opens,
//! readiness and statistics that never wait for a copy in progress, and
//! writers that wake nobody unless they slept.

use std::time::Duration;

use mydevice_abi::{MYDEV_BUFFER_MAX, MYDEV_BUFFER_MIN, PROC_PATH};
use mydevice_selftests::record::fnv1a;
use mydevice_selftests::sys::Epoll;
use mydevice_selftests::uffd::FaultingPage;
use mydevice_selftests::{
    count, diff, ensure, expect, expect_eq, fill, pattern, spawn, spawn_op, sys, task, test,
    wait_sleeping, wait_waiters, Child, Context, Dev, Errno, Failure, Reporter, SysResult,
    TestResult, DEVICE_SUITE, SETTLE, T,
};

const WAKE: Duration = Duration::from_secs(5);
const IN: i16 = libc::POLLIN | libc::POLLRDNORM;
const OUT: i16 = libc::POLLOUT | libc::POLLWRNORM;
const ALL: i16 = IN | OUT | libc::POLLPRI;
const HUP: i16 = libc::POLLHUP;
const ERR: i16 = libc::POLLERR;

/// Names the bits of a poll mask, for messages.
fn names(m: i16) -> String {
    sys::poll_names(m as u16 as u32)
}

/// Waits for a child's report; if it does not come within [`WAKE`], fails
/// with `what` and where the child is stuck.
fn report_of(c: &mut Child, what: &str) -> Result<SysResult<Vec<u8>>, Failure> {
    c.finish(WAKE).map_err(|e| match e {
        Failure::Fail(m) => Failure::Fail(format!("{what}: {m}")),
        other => other,
    })
}

/// Like [`report_of`] for a child that reported a [`count`].
fn count_of(c: &mut Child, what: &str) -> Result<SysResult<usize>, Failure> {
    c.finish_count(WAKE).map_err(|e| match e {
        Failure::Fail(m) => Failure::Fail(format!("{what}: {m}")),
        other => other,
    })
}

fn u32_of(v: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&v[..4]);
    u32::from_le_bytes(b)
}

/// The poll mask of `dev` for `events`, at once.
fn revents(dev: &Dev, events: i16) -> Result<i16, Failure> {
    sys::poll_one(dev.fd(), events, 0).context("poll")
}

// preadv2(RWF_NOWAIT) on a blocking file gives EAGAIN when empty and the data when there is some.
fn preadv2_nowait_on_blocking_file_gives_eagain_when_empty(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open O_RDWR (blocking)")?;
    let fd = dev.fd();
    // In children, so that a call that wrongly sleeps is caught by the deadline.
    let mut c = spawn_op(move || sys::preadv2(fd, 16, sys::RWF_NOWAIT))?;
    let got = report_of(&mut c, "preadv2(RWF_NOWAIT) slept on the empty device")?;
    t.expect_errno(
        got,
        libc::EAGAIN,
        "preadv2(RWF_NOWAIT) of the empty device, blocking file",
    );
    dev.write_all(b"abc")?;
    let mut c = spawn_op(move || sys::preadv2(fd, 16, sys::RWF_NOWAIT))?;
    let got = report_of(&mut c, "preadv2(RWF_NOWAIT) with data did not return")?;
    expect_eq!(
        t,
        got,
        Ok(b"abc".to_vec()),
        "preadv2(RWF_NOWAIT) with 3 bytes buffered"
    );
    Ok(())
}

// pwritev2(RWF_NOWAIT) on a blocking file gives EAGAIN unless all of an atomic write fits.
fn pwritev2_nowait_gives_eagain_when_the_write_does_not_fit(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open O_RDWR (blocking)")?;
    // Drains without waiting, whatever the writes under test stored.
    let nb = Dev::rw_nonblock().context("open O_RDWR|O_NONBLOCK")?;
    let fd = dev.fd();
    let first = pattern(100, 4000);
    dev.write_all(&first)?;
    let mut c = spawn_op(move || count(sys::pwritev2(fd, &pattern(101, 200), sys::RWF_NOWAIT)))?;
    let got = count_of(&mut c, "pwritev2(RWF_NOWAIT) slept with 96 bytes free")?;
    t.expect_errno(
        got,
        libc::EAGAIN,
        "pwritev2(RWF_NOWAIT) of 200 bytes with 96 free, blocking file",
    );
    expect_eq!(
        t,
        dev.fionread().context("FIONREAD")?,
        4000,
        "FIONREAD after the refused write"
    );
    let tail = pattern(102, 96);
    let data = tail.clone();
    let mut c = spawn_op(move || count(sys::pwritev2(fd, &data, sys::RWF_NOWAIT)))?;
    let got = count_of(&mut c, "pwritev2(RWF_NOWAIT) that fits did not return")?;
    expect_eq!(
        t,
        got,
        Ok(96),
        "pwritev2(RWF_NOWAIT) of 96 bytes with 96 free"
    );
    let back = nb.read(8192).context("drain")?;
    let want = [first.clone(), tail].concat();
    expect!(t, back == want, "stream: {}", diff(&back, &want));
    // A write larger than 4096 is not atomic: it stores what fits.
    nb.clear().context("MYDEV_CLEAR")?;
    dev.write_all(&first)?;
    let big = pattern(103, 8192);
    let data = big.clone();
    let mut c = spawn_op(move || count(sys::pwritev2(fd, &data, sys::RWF_NOWAIT)))?;
    let got = count_of(&mut c, "pwritev2(RWF_NOWAIT) of 8192 bytes did not return")?;
    expect_eq!(
        t,
        got,
        Ok(96),
        "pwritev2(RWF_NOWAIT) of 8192 bytes with 96 free"
    );
    let back = nb.read(8192).context("drain")?;
    let want = [first, big[..96].to_vec()].concat();
    expect!(t, back == want, "stream: {}", diff(&back, &want));
    Ok(())
}

/// A child asleep in `epoll_wait` on `ep`, so that the instance has a waiter.
fn epoll_sleeper(ep: &Epoll) -> Result<Child, Failure> {
    let c = spawn(|_| match ep.wait(20_000) {
        Ok(_) => 0,
        Err(_) => 1,
    })?;
    wait_sleeping(c.pid)?;
    Ok(c)
}

// An EPOLLOUT|EPOLLEXCLUSIVE watcher of a read-write file does not take the wakeup a write owes a blocked reader.
fn epollout_exclusive_watcher_leaves_the_readers_wakeup(t: &mut T) -> TestResult {
    let a = Dev::rw_nonblock().context("open O_RDWR")?;
    // Registered first: on both queues, since the file is open read-write.
    let events = (libc::EPOLLOUT | libc::EPOLLEXCLUSIVE | libc::EPOLLET) as u32;
    let ep = Epoll::watching(a.fd(), events).context("epoll_ctl(ADD)")?;
    // The empty device is writable: take that edge, so that the watcher sleeps.
    let first = ep.wait(2000).context("epoll_wait")?;
    expect_eq!(
        t,
        first,
        vec![libc::EPOLLOUT as u32],
        "first events of the watcher"
    );
    let _watcher = epoll_sleeper(&ep)?;
    let mut reader = spawn_op(|| Dev::rdonly()?.read(64))?;
    wait_waiters(1, 0)?;
    wait_sleeping(reader.pid)?;
    Dev::wronly()
        .context("open O_WRONLY")?
        .write_all(b"0123456789")?;
    let got = report_of(
        &mut reader,
        "the reader queued behind an EPOLLOUT|EPOLLEXCLUSIVE entry was not woken by a write",
    )?;
    expect_eq!(
        t,
        got,
        Ok(b"0123456789".to_vec()),
        "the woken reader's data"
    );
    Ok(())
}

// An EPOLLIN|EPOLLEXCLUSIVE watcher of a read-write file does not take the wakeup a read owes a blocked writer.
fn epollin_exclusive_watcher_leaves_the_writers_wakeup(t: &mut T) -> TestResult {
    let a = Dev::rw_nonblock().context("open O_RDWR")?;
    fill(&a, 104)?;
    let events = (libc::EPOLLIN | libc::EPOLLEXCLUSIVE | libc::EPOLLET) as u32;
    let ep = Epoll::watching(a.fd(), events).context("epoll_ctl(ADD)")?;
    // The full device is readable: take that edge, so that the watcher sleeps.
    let first = ep.wait(2000).context("epoll_wait")?;
    expect_eq!(
        t,
        first,
        vec![libc::EPOLLIN as u32],
        "first events of the watcher"
    );
    let _watcher = epoll_sleeper(&ep)?;
    let mut writer = spawn_op(|| count(Dev::wronly()?.write_retry(b"0123456789")))?;
    wait_waiters(0, 1)?;
    wait_sleeping(writer.pid)?;
    let got = a.read(100).context("read 100")?;
    expect_eq!(t, got.len(), 100, "bytes read from the full device");
    let n = count_of(
        &mut writer,
        "the writer queued behind an EPOLLIN|EPOLLEXCLUSIVE entry was not woken by a read",
    )?;
    expect_eq!(t, n, Ok(10), "the woken writer's count");
    Ok(())
}

// After a hangup, files open for reading poll POLLIN|POLLRDNORM|POLLHUP and files open for writing POLLERR.
fn hangup_poll_masks_follow_access_mode(t: &mut T) -> TestResult {
    let rw = Dev::rw_nonblock().context("open O_RDWR")?;
    let ro = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY")?;
    let wo = Dev::open(libc::O_WRONLY | libc::O_NONBLOCK).context("open O_WRONLY")?;
    rw.write_all(b"abc")?;
    rw.hangup().context("MYDEV_HANGUP")?;
    let files = [
        ("O_RDWR", &rw, IN | HUP | ERR),
        ("O_RDONLY", &ro, IN | HUP),
        ("O_WRONLY", &wo, ERR),
    ];
    for state in ["with data", "drained"] {
        for (mode, dev, want) in files {
            let got = revents(dev, ALL)?;
            expect!(
                t,
                got == want,
                "poll of an {mode} file after hangup, {state}: expected {}, got {}",
                names(want),
                names(got)
            );
        }
        ro.read(16).context("drain")?;
    }
    Ok(())
}

// A writer blocked in select() on the full device is released by MYDEV_HANGUP, writable (POLLERR).
fn hangup_releases_writer_blocked_in_select(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    fill(&dev, 105)?;
    let mut c = spawn_op(|| {
        let d = Dev::wronly()?;
        let (r, w) = sys::retry(|| sys::select_one(d.fd(), false, true, 20_000))?;
        Ok(vec![u8::from(r), u8::from(w)])
    })?;
    wait_sleeping(c.pid)?;
    sys::sleep_ms(100);
    expect!(
        t,
        c.running(),
        "select() for writing returned on the full device"
    );
    dev.hangup().context("MYDEV_HANGUP")?;
    let got = report_of(
        &mut c,
        "the writer blocked in select() was not released by MYDEV_HANGUP",
    )?;
    expect_eq!(
        t,
        got,
        Ok(vec![0, 1]),
        "select (readable, writable) of the released writer"
    );
    Ok(())
}

/// How a hangup waiter waits.
#[derive(Clone, Copy)]
enum Wait {
    Poll,
    /// epoll with these flags added to the events.
    Epoll(u32),
}

/// A child that opens the device with `flags`, waits for `events` and reports the mask it got.
fn waiter(flags: i32, how: Wait, events: i16) -> Result<Child, Failure> {
    spawn_op(move || {
        let d = Dev::open(flags)?;
        let got = match how {
            Wait::Poll => sys::retry(|| sys::poll_one(d.fd(), events, 20_000))? as u16 as u32,
            Wait::Epoll(extra) => {
                let ep = Epoll::watching(d.fd(), events as u16 as u32 | extra)?;
                ep.wait(20_000)?.first().copied().unwrap_or(0)
            }
        };
        Ok(got.to_le_bytes().to_vec())
    })
}

/// Puts waiters of every kind to sleep on `files`, hangs up and checks what each woke with.
///
/// `files` are (name, open flags, expected mask); every waiter asks for `events`.
fn hangup_wakes_waiters(t: &mut T, files: &[(&str, i32, i16)], events: i16) -> TestResult {
    let ways = [
        ("poll", Wait::Poll),
        ("epoll", Wait::Epoll(0)),
        ("epoll EPOLLET", Wait::Epoll(libc::EPOLLET as u32)),
        (
            "epoll EPOLLEXCLUSIVE",
            Wait::Epoll(libc::EPOLLEXCLUSIVE as u32),
        ),
    ];
    let mut waiters = Vec::new();
    for &(mode, flags, want) in files {
        for (way, how) in ways {
            waiters.push((
                format!("{way} on {mode}"),
                want,
                waiter(flags, how, events)?,
            ));
        }
    }
    for (_, _, c) in waiters.iter() {
        wait_sleeping(c.pid)?;
    }
    sys::sleep_ms(100);
    for (what, _, c) in waiters.iter_mut() {
        expect!(t, c.running(), "{what} returned before the hangup");
    }
    Dev::rw()
        .context("open")?
        .hangup()
        .context("MYDEV_HANGUP")?;
    for (what, want, c) in waiters.iter_mut() {
        let got = report_of(c, &format!("{what} was not woken by MYDEV_HANGUP"))?
            .context(format!("{what} in the child"))?;
        let got = u32_of(&got);
        expect!(
            t,
            got == *want as u16 as u32,
            "{what} woken by the hangup: expected {}, got {}",
            names(*want),
            sys::poll_names(got)
        );
    }
    Ok(())
}

// MYDEV_HANGUP wakes poll and epoll (level, EPOLLET, EPOLLEXCLUSIVE) readers with POLLHUP, and POLLERR on read-write files.
fn hangup_wakes_read_side_waiters_with_pollhup(t: &mut T) -> TestResult {
    let files = [
        ("O_RDONLY", libc::O_RDONLY, libc::POLLIN | HUP),
        ("O_RDWR", libc::O_RDWR, libc::POLLIN | HUP | ERR),
    ];
    hangup_wakes_waiters(t, &files, libc::POLLIN)
}

// MYDEV_HANGUP wakes poll and epoll (level, EPOLLET, EPOLLEXCLUSIVE) writers on the full device with POLLERR.
fn hangup_wakes_write_side_waiters_with_pollerr(t: &mut T) -> TestResult {
    fill(&Dev::rw().context("open")?, 106)?;
    let files = [
        ("O_WRONLY", libc::O_WRONLY, ERR),
        ("O_RDWR", libc::O_RDWR, HUP | ERR),
    ];
    hangup_wakes_waiters(t, &files, libc::POLLOUT)
}

fn sigio_within(n: usize, timeout: Duration) -> bool {
    sys::wait_until(timeout, || sys::signal_count(libc::SIGIO) >= n)
}

/// Turns on O_ASYNC with this process as the owner.
fn make_async(dev: &Dev) -> Result<(), Errno> {
    sys::set_owner(dev.fd(), sys::getpid())?;
    sys::add_fl(dev.fd(), libc::O_ASYNC)
}

// Every write that stores data sends SIGIO to the readers' owners, not only the first into an empty device.
fn sigio_to_reader_after_every_write(t: &mut T) -> TestResult {
    sys::catch_signal(libc::SIGIO, true).context("sigaction(SIGIO)")?;
    let rd = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open O_RDONLY")?;
    make_async(&rd).context("F_SETOWN + O_ASYNC")?;
    let wr = Dev::wronly().context("open O_WRONLY")?;
    for n in 1..=3usize {
        wr.write_all(&[b'0' + n as u8])?;
        expect!(
            t,
            sigio_within(n, WAKE),
            "expected {n} SIGIOs after write {n} (onto {} bytes held), got {}",
            n - 1,
            sys::signal_count(libc::SIGIO)
        );
    }
    expect_eq!(t, rd.read(16), Ok(b"123".to_vec()), "the data");
    Ok(())
}

// A writer whose record got EAGAIN on a device that was not full gets SIGIO when a read makes room.
fn sigio_to_writer_stranded_by_eagain_when_a_read_makes_room(t: &mut T) -> TestResult {
    sys::catch_signal(libc::SIGIO, true).context("sigaction(SIGIO)")?;
    let wr = Dev::open(libc::O_WRONLY | libc::O_NONBLOCK).context("open O_WRONLY")?;
    wr.write_all(&pattern(107, 4000))?;
    make_async(&wr).context("F_SETOWN + O_ASYNC")?;
    let record = pattern(108, 200);
    t.expect_errno(
        wr.write(&record),
        libc::EAGAIN,
        "200-byte write with 96 bytes free",
    );
    sys::sleep_ms(50);
    expect_eq!(
        t,
        sys::signal_count(libc::SIGIO),
        0,
        "SIGIOs before any read"
    );
    let mut c = spawn_op(|| Dev::rdonly()?.read(200))?;
    let got = report_of(&mut c, "read in the child")?.context("read in the child")?;
    expect_eq!(t, got.len(), 200, "bytes read by the child");
    expect!(
        t,
        sigio_within(1, WAKE),
        "expected SIGIO after a read made room on a device that was not full, got none: \
         the writer waiting after EAGAIN is stranded"
    );
    expect_eq!(t, wr.write(&record), Ok(200), "the retried 200-byte write");
    Ok(())
}

// POLLOUT|POLLWRNORM shows only with room for a write of min(4096, capacity) bytes.
fn pollout_needs_room_for_an_atomic_write(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let check = |t: &mut T, want: i16, what: &str| -> TestResult {
        let got = revents(&dev, OUT)?;
        expect!(
            t,
            got == want,
            "poll for POLLOUT {what}: expected {}, got {}",
            names(want),
            names(got)
        );
        Ok(())
    };
    check(t, OUT, "when empty, capacity 4096")?;
    dev.write_all(b"x")?;
    check(t, 0, "with 1 of 4096 bytes held")?;
    dev.write_all(&pattern(109, 4094))?;
    check(t, 0, "with 4095 of 4096 bytes held")?;
    dev.read_exact(4095).context("drain")?;
    check(t, OUT, "when drained")?;

    dev.resize(8192).context("MYDEV_RESIZE to 8192")?;
    dev.write_all(&pattern(110, 4096))?;
    check(t, OUT, "with 4096 of 8192 bytes held")?;
    dev.write_all(b"y")?;
    check(t, 0, "with 4097 of 8192 bytes held")?;
    dev.read(1).context("read 1")?;
    check(t, OUT, "with 4096 of 8192 bytes held again")?;

    dev.clear().context("MYDEV_CLEAR")?;
    dev.resize(100).context("MYDEV_RESIZE to 100")?;
    check(t, OUT, "when empty, capacity 100")?;
    dev.write_all(b"z")?;
    check(t, 0, "with 1 of 100 bytes held")?;
    Ok(())
}

// A poll for POLLOUT on the full device sleeps through a small read and wakes when reads reach the mark.
fn pollout_poller_sleeps_until_reads_reach_the_mark(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    fill(&dev, 111)?;
    let mut c = spawn_op(|| {
        let d = Dev::wronly()?;
        let r = sys::retry(|| sys::poll_one(d.fd(), libc::POLLOUT, 20_000))?;
        Ok(r.to_le_bytes().to_vec())
    })?;
    wait_sleeping(c.pid)?;
    dev.read(100).context("read 100")?;
    sys::sleep_ms(200);
    expect!(
        t,
        c.running(),
        "poll for POLLOUT returned with 100 of 4096 bytes free, too few for a 4096-byte write"
    );
    dev.read_exact(3996).context("drain")?;
    let got = report_of(&mut c, "poll for POLLOUT was not woken by the drain")?;
    expect_eq!(
        t,
        got.map(|v| names(i16::from_le_bytes([v[0], v[1]]))),
        Ok(names(libc::POLLOUT)),
        "revents of the woken poll"
    );
    Ok(())
}

// A level-triggered writer of 200-byte records (poll for POLLOUT, then write) against a slow reader almost never gets EAGAIN.
fn level_triggered_record_writer_rarely_gets_eagain(t: &mut T) -> TestResult {
    const RECORDS: usize = 300;
    const LEN: usize = 200;
    let stream: Vec<u8> = (0..RECORDS)
        .flat_map(|i| pattern(200 + i as u32, LEN))
        .collect();
    let total = stream.len();
    let mut reader = spawn_op(move || {
        let d = Dev::rdonly()?;
        let mut got = Vec::with_capacity(total);
        while got.len() < total {
            got.extend(d.read_retry(100.min(total - got.len()))?);
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(fnv1a(&got).to_le_bytes().to_vec())
    })?;
    let wr = Dev::open(libc::O_WRONLY | libc::O_NONBLOCK).context("open O_WRONLY")?;
    let mut eagain = 0usize;
    for (i, rec) in stream.chunks(LEN).enumerate() {
        loop {
            let ready = sys::retry(|| sys::poll_one(wr.fd(), libc::POLLOUT, 10_000))
                .context("poll for POLLOUT")?;
            ensure_ready(ready, i)?;
            match wr.write(rec) {
                Ok(n) if n == LEN => break,
                Ok(n) => {
                    return Err(Failure::fail(format!(
                        "record {i}: expected a {LEN}-byte atomic write, got {n}"
                    )))
                }
                Err(Errno::EAGAIN) => eagain += 1,
                Err(e) => return Err(Failure::fail(format!("record {i}: write: {e}"))),
            }
        }
    }
    t.diag(format!(
        "{eagain} EAGAINs for {RECORDS} records of {LEN} bytes"
    ));
    expect!(
        t,
        eagain <= RECORDS / 4,
        "a writer that polls for POLLOUT before each {LEN}-byte record got EAGAIN {eagain} times \
         for {RECORDS} records (at most {} expected): POLLOUT promised room that was not there",
        RECORDS / 4
    );
    let got = reader.finish(SETTLE)?.context("the reader in the child")?;
    expect_eq!(
        t,
        u64::from_le_bytes(got[..8].try_into().unwrap_or_default()),
        fnv1a(&stream),
        "FNV-1a of the stream the reader got"
    );
    Ok(())
}

fn ensure_ready(revents: i16, record: usize) -> TestResult {
    if revents & libc::POLLOUT == 0 {
        return Err(Failure::fail(format!(
            "record {record}: poll for POLLOUT gave {} within 10 s",
            names(revents)
        )));
    }
    Ok(())
}

// pwritev2(RWF_NOSIGNAL) after a hangup fails with EPIPE and raises no SIGPIPE; without the flag SIGPIPE is raised.
fn rwf_nosignal_write_after_hangup_raises_no_sigpipe(t: &mut T) -> TestResult {
    sys::block_signal(libc::SIGPIPE).context("block SIGPIPE")?;
    let dev = Dev::rw().context("open")?;
    dev.hangup().context("MYDEV_HANGUP")?;
    t.expect_errno(
        sys::pwritev2(dev.fd(), b"x", sys::RWF_NOSIGNAL),
        libc::EPIPE,
        "pwritev2(RWF_NOSIGNAL) after hangup",
    );
    let pending = sys::signal_pending(libc::SIGPIPE).context("sigpending")?;
    expect!(
        t,
        !pending,
        "pwritev2(RWF_NOSIGNAL) after hangup raised SIGPIPE"
    );
    sys::take_pending(libc::SIGPIPE);
    t.expect_errno(
        sys::pwritev2(dev.fd(), b"x", 0),
        libc::EPIPE,
        "pwritev2 without flags after hangup",
    );
    let pending = sys::signal_pending(libc::SIGPIPE).context("sigpending")?;
    expect!(
        t,
        pending,
        "pwritev2 without RWF_NOSIGNAL after hangup raised no SIGPIPE"
    );
    Ok(())
}

// A blocking write larger than the capacity that a hangup cuts short returns its count and raises SIGPIPE.
fn hangup_cutting_a_write_short_returns_the_count_and_raises_sigpipe(t: &mut T) -> TestResult {
    let big = pattern(112, 8192);
    let mut c = spawn_op(|| {
        sys::block_signal(libc::SIGPIPE)?;
        let n = Dev::wronly()?.write(&big)?;
        let pending = sys::signal_pending(libc::SIGPIPE)?;
        Ok([(n as u64).to_le_bytes().to_vec(), vec![u8::from(pending)]].concat())
    })?;
    wait_waiters(0, 1)?;
    wait_sleeping(c.pid)?;
    let dev = Dev::rw_nonblock().context("open")?;
    dev.hangup().context("MYDEV_HANGUP")?;
    let got = report_of(&mut c, "the writer was not released by MYDEV_HANGUP")?
        .context("8192-byte write in the child")?;
    ensure!(got.len() == 9, "child sent {} bytes", got.len());
    let n = u64::from_le_bytes(got[..8].try_into().unwrap_or_default());
    expect_eq!(t, n, 4096, "count of the 8192-byte write cut short");
    expect!(
        t,
        got[8] == 1,
        "the write cut short by the hangup returned {n} but raised no SIGPIPE"
    );
    let back = dev.read_exact(4096).context("drain")?;
    expect!(
        t,
        back == big[..4096],
        "stored part: {}",
        diff(&back, &big[..4096])
    );
    Ok(())
}

/// Opens the device with an access mode of 3: ioctls only.
fn ioctl_only() -> Result<Dev, Failure> {
    Dev::open(libc::O_ACCMODE).context("open with O_ACCMODE 3 (ioctl only)")
}

// A file opened with O_ACCMODE 3 (neither read nor write) polls as 0: empty, with data and hung up.
fn ioctl_only_file_polls_as_zero(t: &mut T) -> TestResult {
    let io = ioctl_only()?;
    let rw = Dev::rw_nonblock().context("open O_RDWR")?;
    let check = |t: &mut T, what: &str| -> TestResult {
        let got = revents(&io, ALL)?;
        expect!(
            t,
            got == 0,
            "poll of the ioctl-only file {what}: expected 0, got {}",
            names(got)
        );
        Ok(())
    };
    check(t, "when empty")?;
    rw.write_all(b"abc")?;
    check(t, "with data")?;
    rw.hangup().context("MYDEV_HANGUP")?;
    check(t, "after a hangup")?;
    Ok(())
}

// A file opened with O_ACCMODE 3 keeps every ioctl, control ones included, and read/write give EBADF.
fn ioctl_only_file_keeps_its_ioctls_but_not_read_or_write(t: &mut T) -> TestResult {
    let io = ioctl_only()?;
    let rw = Dev::rw_nonblock().context("open O_RDWR")?;
    rw.write_all(b"abc")?;
    t.expect_errno(io.read(16), libc::EBADF, "read of the ioctl-only file");
    t.expect_errno(io.write(b"x"), libc::EBADF, "write to the ioctl-only file");
    match io.status() {
        Ok(st) => {
            expect_eq!(t, st.open_count, 2, "MYDEV_STATUS open_count");
            expect_eq!(t, st.bytes_used, 3, "MYDEV_STATUS bytes_used");
        }
        Err(e) => t.fail(format!("MYDEV_STATUS on the ioctl-only file: {e}")),
    }
    if let Err(e) = io.stats() {
        t.fail(format!("MYDEV_STATS on the ioctl-only file: {e}"));
    }
    expect_eq!(t, io.fionread(), Ok(3), "FIONREAD on the ioctl-only file");
    expect_eq!(t, io.clear(), Ok(()), "MYDEV_CLEAR on the ioctl-only file");
    expect_eq!(t, rw.fionread(), Ok(0), "FIONREAD after MYDEV_CLEAR");
    expect_eq!(
        t,
        io.resize(8192),
        Ok(()),
        "MYDEV_RESIZE on the ioctl-only file"
    );
    let size = rw.status().context("MYDEV_STATUS")?.buffer_size;
    expect_eq!(t, size, 8192, "capacity after MYDEV_RESIZE");
    expect_eq!(
        t,
        io.hangup(),
        Ok(()),
        "MYDEV_HANGUP on the ioctl-only file"
    );
    t.expect_errno(rw.write(b"x"), libc::EPIPE, "write after that hangup");
    Ok(())
}

/// The stuck reader's side of [`readiness_and_statistics_do_not_wait_for_a_stuck_reader`].
///
/// Reads `n` bytes into a userfaultfd page from a second thread, reports
/// `F` once that thread is stuck in the fault, waits for a byte on `go`,
/// resolves the fault and reports `D` and the bytes read. `S` or `E` and a
/// message report a skip or an error.
fn stuck_reader(rep: &mut Reporter, go: i32, n: usize) -> i32 {
    let page = match FaultingPage::new() {
        Ok(p) => p,
        Err(Failure::Skip(r)) => {
            rep.send(format!("S{r}").as_bytes());
            return 0;
        }
        Err(Failure::Fail(m)) => {
            rep.send(format!("E{m}").as_bytes());
            return 0;
        }
    };
    let dev = match Dev::rdonly() {
        Ok(d) => d,
        Err(e) => {
            rep.send(format!("Eopen O_RDONLY: {e}").as_bytes());
            return 0;
        }
    };
    let (fd, addr) = (dev.fd(), page.addr());
    let reader = std::thread::spawn(move || sys::read_raw(fd, addr, n));
    if let Err(Failure::Fail(m) | Failure::Skip(m)) = page.wait_fault(SETTLE) {
        rep.send(format!("Ethe read never faulted on the page: {m}").as_bytes());
        return 0;
    }
    rep.send(b"F");
    let mut b = [0u8; 1];
    let _ = sys::retry(|| sys::read(go, &mut b));
    if let Err(e) = page.resolve() {
        rep.send(format!("EUFFDIO_COPY: {e}").as_bytes());
        return 0;
    }
    match reader.join() {
        Ok(Ok(k)) => {
            rep.send(b"D");
            rep.send(&page.bytes(k));
        }
        Ok(Err(e)) => rep.send(format!("Ethe stuck read: {e}").as_bytes()),
        Err(_) => rep.send(b"Ethe reader thread panicked"),
    }
    0
}

// poll, epoll, MYDEV_STATUS, MYDEV_STATS, FIONREAD and /proc/mydevice answer while a reader is stuck in its copy.
fn readiness_and_statistics_do_not_wait_for_a_stuck_reader(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let data = pattern(113, 300);
    dev.write_all(&data)?;
    // Opened before the reader gets stuck: only the calls below are tested.
    let probe = Dev::rw_nonblock().context("open the probing file")?;
    let go = sys::Pipe::new().context("pipe")?;
    let mut reader = spawn(|rep| stuck_reader(rep, go.rd, 100))?;
    let _ = sys::close(go.rd);
    let reported = reader.wait_for_output(1, SETTLE);
    match reader.output().first() {
        Some(b'F') => {}
        Some(b'S') => {
            let _ = sys::close(go.wr);
            return Err(Failure::Skip(
                String::from_utf8_lossy(&reader.output()[1..]).into_owned(),
            ));
        }
        _ => {
            let _ = sys::close(go.wr);
            return Err(Failure::fail(format!(
                "the reader did not get stuck in its copy (reported {reported}): {}",
                String::from_utf8_lossy(reader.output())
            )));
        }
    }

    let (fd, probe) = (probe.fd(), &probe);
    let mut calls: Vec<(&str, Child)> = vec![
        (
            "poll",
            spawn_op(move || sys::poll_one(fd, ALL, 0).map(|r| r.to_le_bytes().to_vec()))?,
        ),
        (
            "epoll_ctl(ADD) and epoll_wait",
            spawn_op(move || {
                let ep = Epoll::watching(fd, (libc::EPOLLIN | libc::EPOLLOUT) as u32)?;
                ep.wait(0).map(|v| v.len().to_le_bytes().to_vec())
            })?,
        ),
        (
            "MYDEV_STATUS",
            spawn_op(move || probe.status().map(|s| s.bytes_used.to_le_bytes().to_vec()))?,
        ),
        (
            "MYDEV_STATS",
            spawn_op(move || probe.stats().map(|s| s.flags.to_le_bytes().to_vec()))?,
        ),
        (
            "FIONREAD",
            spawn_op(move || probe.fionread().map(|n| n.to_le_bytes().to_vec()))?,
        ),
        (
            "reading /proc/mydevice",
            spawn_op(|| {
                std::fs::read(PROC_PATH)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
            })?,
        ),
    ];
    sys::wait_until(Duration::from_secs(2), || {
        calls.iter_mut().all(|(_, c)| !c.running())
    });
    for (what, c) in calls.iter_mut() {
        if c.running() {
            t.fail(format!(
                "{what} did not return within 2 s while a reader was stuck copying out ({})",
                task::describe(c.pid)
            ));
        } else if let Err(e) = c.finish(WAKE)? {
            t.fail(format!("{what} while a reader was stuck: {e}"));
        }
    }

    // Let the reader go; the probes still running finish after it.
    let _ = sys::write(go.wr, b"g");
    let _ = sys::close(go.wr);
    reader.wait(WAKE)?;
    let out = reader.output();
    ensure!(
        out.len() > 1 && out[1] == b'D',
        "the released reader: {}",
        String::from_utf8_lossy(&out[1..])
    );
    let got = &out[2..];
    expect!(
        t,
        got == &data[..100],
        "the released reader's bytes: {}",
        diff(got, &data[..100])
    );
    for (what, c) in calls.iter_mut() {
        c.wait(WAKE)
            .map_err(|e| Failure::fail(format!("{what} after the reader went on: {e:?}")))?;
    }
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(
        t,
        st.bytes_used,
        200,
        "bytes left after the reader took 100"
    );
    expect!(
        t,
        (MYDEV_BUFFER_MIN..=MYDEV_BUFFER_MAX).contains(&st.buffer_size),
        "capacity {} out of range",
        st.buffer_size
    );
    Ok(())
}

// A writer that never slept wakes no other writer: an atomic writer waiting for room sleeps through small writes.
fn writer_that_never_slept_wakes_no_other_writer(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    dev.resize(8192).context("MYDEV_RESIZE to 8192")?;
    let held = pattern(114, 5000);
    dev.write_all(&held)?;
    // 4096 bytes are atomic and need 4096 free; 3192 are.
    let big = pattern(115, 4096);
    let mut w2 = spawn_op(|| count(Dev::wronly()?.write_retry(&big)))?;
    wait_waiters(0, 1)?;
    wait_sleeping(w2.pid)?;
    let (before, _) = task::ctxt_switches(w2.pid)?;
    let w1 = Dev::open(libc::O_WRONLY | libc::O_NONBLOCK).context("open O_WRONLY")?;
    let mut small = Vec::new();
    for i in 0..100u32 {
        let rec = pattern(300 + i, 10);
        match w1.write(&rec) {
            Ok(10) => {}
            other => {
                return Err(Failure::fail(format!(
                    "small write {i} with room for it: expected Ok(10), got {other:?}"
                )))
            }
        }
        small.extend_from_slice(&rec);
        // Time for a woken writer to run, so that each wakeup shows.
        sys::sleep_ms(2);
    }
    let (after, _) = task::ctxt_switches(w2.pid)?;
    let woken = after.saturating_sub(before);
    t.diag(format!(
        "the waiting writer switched {woken} times during 100 small writes"
    ));
    expect!(
        t,
        woken <= 3,
        "the 4096-byte writer was woken {woken} times by 100 writes that never slept \
         (voluntary_ctxt_switches {before} -> {after}); expected at most 3"
    );
    expect!(
        t,
        w2.running(),
        "the 4096-byte writer returned with 2192 bytes free"
    );
    // Reading 2000 bytes leaves 4192 free: the writer fits now.
    let got = dev.read_exact(2000).context("read 2000")?;
    expect!(
        t,
        got == held[..2000],
        "first bytes: {}",
        diff(&got, &held[..2000])
    );
    let n = count_of(
        &mut w2,
        "the writer was not woken when room for it freed up",
    )?;
    expect_eq!(t, n, Ok(4096), "the 4096-byte writer's count");
    let rest = Dev::rw_nonblock()
        .context("open O_NONBLOCK")?
        .read(16384)
        .context("drain")?;
    let want = [held[2000..].to_vec(), small, big.clone()].concat();
    expect!(t, rest == want, "stream: {}", diff(&rest, &want));
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(preadv2_nowait_on_blocking_file_gives_eagain_when_empty),
            test!(pwritev2_nowait_gives_eagain_when_the_write_does_not_fit),
            test!(epollout_exclusive_watcher_leaves_the_readers_wakeup),
            test!(epollin_exclusive_watcher_leaves_the_writers_wakeup),
            test!(hangup_poll_masks_follow_access_mode),
            test!(hangup_releases_writer_blocked_in_select),
            test!(hangup_wakes_read_side_waiters_with_pollhup),
            test!(hangup_wakes_write_side_waiters_with_pollerr),
            test!(sigio_to_reader_after_every_write),
            test!(sigio_to_writer_stranded_by_eagain_when_a_read_makes_room),
            test!(pollout_needs_room_for_an_atomic_write),
            test!(pollout_poller_sleeps_until_reads_reach_the_mark),
            test!(level_triggered_record_writer_rarely_gets_eagain, 120),
            test!(rwf_nosignal_write_after_hangup_raises_no_sigpipe),
            test!(hangup_cutting_a_write_short_returns_the_count_and_raises_sigpipe),
            test!(ioctl_only_file_polls_as_zero),
            test!(ioctl_only_file_keeps_its_ioctls_but_not_read_or_write),
            test!(readiness_and_statistics_do_not_wait_for_a_stuck_reader, 60),
            test!(writer_that_never_slept_wakes_no_other_writer),
        ],
    )
}
