// SPDX-License-Identifier: GPL-2.0-only

//! Stress: writer and reader processes exchange checksummed records under
//! signals while another process hammers the statistics.
//!
//! Every write is a whole number of 64-byte records of at most 512 bytes,
//! so it is atomic and the buffer only ever holds whole records. Every read
//! asks for exactly one record, so with any number of concurrent readers no
//! read can return part of a record. The parent then proves that every
//! record arrived exactly once, intact, and that each writer's records kept
//! their order within each reader.

use std::time::{Duration, Instant};

use mydevice_selftests::record::{parse, record, word, RECORD};
use mydevice_selftests::{
    expect, expect_eq, proc_map, spawn, sys, test, wait_all, Child, Context, Dev, Errno, Exit,
    Reporter, TestResult, DEVICE_SUITE, T,
};

const MAX_BATCH: usize = 8;

/// Message tags sent from the workers to the parent.
const TAG_RECORD: u32 = 0;
const TAG_ERROR: u32 = 1;
const TAG_SIGNALS: u32 = 2;
const TAG_CALLS: u32 = 3;

/// Error kinds.
const ERR_OPEN: u32 = 1;
const ERR_SHORT_READ: u32 = 2;
const ERR_CORRUPT: u32 = 3;
const ERR_WRITE: u32 = 4;
const ERR_READ: u32 = 5;
const ERR_STATUS: u32 = 6;
const ERR_STATS: u32 = 7;
const ERR_FIONREAD: u32 = 8;
const ERR_PROC: u32 = 9;

/// Batches the worker's messages into few pipe writes.
struct Out<'a> {
    rep: &'a mut Reporter,
    buf: Vec<u8>,
}

impl Out<'_> {
    fn msg(&mut self, tag: u32, a: u32, b: u32) {
        for v in [tag, a, b] {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        if self.buf.len() >= 4096 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.rep.send(&self.buf);
        self.buf.clear();
    }
}

/// Installs the SIGUSR1 handler, with SA_RESTART for even worker ids.
fn worker_signals(id: usize) {
    let _ = sys::catch_signal(libc::SIGUSR1, id % 2 == 0);
}

fn writer(rep: &mut Reporter, id: u32, records: u32) -> i32 {
    worker_signals(id as usize);
    let mut out = Out {
        rep,
        buf: Vec::new(),
    };
    let Ok(dev) = Dev::wronly() else {
        out.msg(TAG_ERROR, ERR_OPEN, 0);
        out.flush();
        return 1;
    };
    let (mut seq, mut eintr, mut calls) = (0u32, 0u32, 0u32);
    let mut rng = 0x2545_f491_u32 ^ id.wrapping_mul(0x9e37_79b9);
    while seq < records {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let n = (1 + rng as usize % MAX_BATCH).min((records - seq) as usize);
        let batch: Vec<u8> = (0..n as u32).flat_map(|i| record(id, seq + i)).collect();
        match dev.write(&batch) {
            Ok(k) if k == batch.len() => {
                seq += n as u32;
                calls += 1;
            }
            // An interrupted atomic write stored nothing: send it again.
            Err(Errno::EINTR) => eintr += 1,
            Ok(k) => {
                out.msg(TAG_ERROR, ERR_WRITE, k as u32);
                break;
            }
            Err(e) => {
                out.msg(TAG_ERROR, ERR_WRITE, e as u32);
                break;
            }
        }
    }
    out.msg(TAG_SIGNALS, eintr, sys::signal_count(libc::SIGUSR1) as u32);
    out.msg(TAG_CALLS, calls, 0);
    out.flush();
    i32::from(seq != records)
}

fn reader(rep: &mut Reporter, id: usize) -> i32 {
    worker_signals(id);
    let mut out = Out {
        rep,
        buf: Vec::new(),
    };
    let Ok(dev) = Dev::rdonly() else {
        out.msg(TAG_ERROR, ERR_OPEN, 0);
        out.flush();
        return 1;
    };
    let (mut eintr, mut calls) = (0u32, 0u32);
    let mut buf = [0u8; RECORD];
    loop {
        match sys::read(dev.fd(), &mut buf) {
            Ok(0) => break,
            Ok(RECORD) => {
                calls += 1;
                match parse(&buf) {
                    Some((w, s)) => out.msg(TAG_RECORD, w, s),
                    None => out.msg(TAG_ERROR, ERR_CORRUPT, word(&buf, 4)),
                }
            }
            Ok(n) => {
                calls += 1;
                out.msg(TAG_ERROR, ERR_SHORT_READ, n as u32);
            }
            Err(Errno::EINTR) => eintr += 1,
            Err(e) => {
                out.msg(TAG_ERROR, ERR_READ, e as u32);
                break;
            }
        }
    }
    out.msg(TAG_SIGNALS, eintr, sys::signal_count(libc::SIGUSR1) as u32);
    out.msg(TAG_CALLS, calls, 0);
    out.flush();
    0
}

/// Hammers STATUS, STATS, FIONREAD and /proc/mydevice until SIGUSR2.
fn hammer(rep: &mut Reporter) -> i32 {
    let mut out = Out {
        rep,
        buf: Vec::new(),
    };
    let Ok(dev) = Dev::open(libc::O_RDONLY | libc::O_NONBLOCK) else {
        out.msg(TAG_ERROR, ERR_OPEN, 0);
        out.flush();
        return 1;
    };
    let mut rounds = 0u32;
    let mut errors = 0;
    let mut err = |out: &mut Out, kind: u32, v: u32| {
        errors += 1;
        if errors <= 5 {
            out.msg(TAG_ERROR, kind, v);
        }
    };
    while sys::signal_count(libc::SIGUSR2) == 0 {
        rounds += 1;
        match dev.status() {
            Ok(s) if s.buffer_size == 4096 && s.bytes_used <= 4096 && s._reserved == 0 => {
                // Only whole records are ever stored or removed.
                if s.bytes_used % RECORD as u32 != 0 {
                    err(&mut out, ERR_STATUS, s.bytes_used);
                }
            }
            Ok(s) => err(&mut out, ERR_STATUS, s.bytes_used),
            Err(Errno::EINTR) => {}
            Err(e) => err(&mut out, ERR_STATUS, e as u32),
        }
        match dev.stats() {
            Ok(s) if s.size == 72 && s.version == 1 && s.bytes_read <= s.bytes_written => {}
            Ok(s) => err(&mut out, ERR_STATS, s.size),
            Err(Errno::EINTR) => {}
            Err(e) => err(&mut out, ERR_STATS, e as u32),
        }
        match dev.fionread() {
            Ok(n) if (0..=4096).contains(&n) && n % RECORD as i32 == 0 => {}
            Ok(n) => err(&mut out, ERR_FIONREAD, n as u32),
            Err(Errno::EINTR) => {}
            Err(e) => err(&mut out, ERR_FIONREAD, e as u32),
        }
        if rounds % 4 == 0 {
            let ok = proc_map().is_ok_and(|m| {
                let n = |k: &str| m.get(k).and_then(|v| v.parse::<u64>().ok());
                m.len() == 10
                    && n("buffer_size") == Some(4096)
                    && n("bytes_used").is_some_and(|u| u <= 4096)
            });
            if !ok {
                err(&mut out, ERR_PROC, rounds);
            }
        }
    }
    out.msg(TAG_CALLS, rounds, 0);
    out.flush();
    i32::from(errors > 0)
}

fn error_name(kind: u32) -> &'static str {
    match kind {
        ERR_OPEN => "open failed",
        ERR_SHORT_READ => "read returned part of a record (value = count)",
        ERR_CORRUPT => "corrupt or torn record (value = writer field)",
        ERR_WRITE => "write failed or was partial (value = count or errno)",
        ERR_READ => "read failed (value = errno)",
        ERR_STATUS => "MYDEV_STATUS inconsistent (value = bytes_used or errno)",
        ERR_STATS => "MYDEV_STATS inconsistent (value = size or errno)",
        ERR_FIONREAD => "FIONREAD inconsistent (value = count or errno)",
        ERR_PROC => "/proc/mydevice unreadable or inconsistent",
        _ => "unknown",
    }
}

/// Decodes a worker's messages.
fn messages(c: &Child) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
    c.output()
        .chunks_exact(12)
        .map(|m| (word(m, 0), word(m, 4), word(m, 8)))
}

/// Runs `writers` x `readers` exchanging `per_writer` records each.
fn exchange(t: &mut T, writers: u32, readers: usize, per_writer: u32) -> TestResult {
    let total = u64::from(writers) * u64::from(per_writer);
    // Installed before forking, so no signal can reach a worker unhandled.
    sys::catch_signal(libc::SIGUSR1, true).context("sigaction(SIGUSR1)")?;
    sys::catch_signal(libc::SIGUSR2, true).context("sigaction(SIGUSR2)")?;
    let ctl = Dev::wronly().context("open O_WRONLY")?;
    let s0 = ctl.stats().context("MYDEV_STATS")?;
    let start = Instant::now();
    let mut kids: Vec<Child> = Vec::new();
    for r in 0..readers {
        kids.push(spawn(move |rep| reader(rep, r))?);
    }
    for w in 0..writers {
        kids.push(spawn(move |rep| writer(rep, w, per_writer))?);
    }
    kids.push(spawn(hammer)?);
    let hammer_at = kids.len() - 1;
    let (mut hung_up, mut stopped) = (false, false);
    let mut last_signal = Instant::now();
    let mut signals_sent = 0u64;
    let mut tick_error = None;
    let res = wait_all(&mut kids, Duration::from_secs(150), |kids| {
        let writers_done = kids[readers..hammer_at].iter_mut().all(|c| !c.running());
        let readers_done = kids[..readers].iter_mut().all(|c| !c.running());
        // A fast run can end between two signal rounds. The readers stay
        // blocked until the hangup, so one round before it always lands.
        let first_round = writers_done && !hung_up && signals_sent == 0;
        if first_round || last_signal.elapsed() >= Duration::from_millis(10) {
            last_signal = Instant::now();
            for c in kids[..hammer_at].iter_mut() {
                if c.running() && sys::kill(c.pid, libc::SIGUSR1).is_ok() {
                    signals_sent += 1;
                }
            }
        }
        if writers_done && !hung_up {
            // No more data will come: readers drain what is left, then see EOF.
            if let Err(e) = ctl.hangup() {
                tick_error = Some(format!("MYDEV_HANGUP: {e}"));
            }
            hung_up = true;
        }
        if readers_done && !stopped {
            let _ = kids[hammer_at].signal(libc::SIGUSR2);
            stopped = true;
        }
    });
    let elapsed = start.elapsed();
    res?;
    if let Some(e) = tick_error {
        t.fail(e);
    }
    for (i, c) in kids.iter_mut().enumerate() {
        let who = if i < readers {
            format!("reader {i}")
        } else if i < hammer_at {
            format!("writer {}", i - readers)
        } else {
            "hammer".into()
        };
        let exit = c.try_wait();
        expect_eq!(t, exit, Some(Exit::Code(0)), "end of {who}");
    }
    let mut seen = vec![0u32; total as usize];
    let (mut eintr, mut caught, mut write_calls, mut read_calls) = (0u64, 0u64, 0u64, 0u64);
    let mut errors = 0;
    let mut per_reader = Vec::new();
    for (i, c) in kids.iter().enumerate() {
        let mut last = vec![None::<u32>; writers as usize];
        let mut got = 0u64;
        for (tag, a, b) in messages(c) {
            match tag {
                TAG_RECORD if a < writers && b < per_writer => {
                    got += 1;
                    seen[(a * per_writer + b) as usize] += 1;
                    let prev = last[a as usize].replace(b);
                    if prev.is_some_and(|p| p >= b) {
                        errors += 1;
                        if errors <= 5 {
                            t.fail(format!(
                                "reader {i}: writer {a}'s record {b} came after its record {}",
                                prev.unwrap_or_default()
                            ));
                        }
                    }
                }
                TAG_RECORD => t.fail(format!("reader {i}: impossible record ({a}, {b})")),
                TAG_ERROR => {
                    errors += 1;
                    if errors <= 10 {
                        t.fail(format!("worker {i}: {} ({a}: {b:#x})", error_name(a)));
                    }
                }
                TAG_SIGNALS => {
                    eintr += u64::from(a);
                    caught += u64::from(b);
                }
                TAG_CALLS if i < readers => read_calls += u64::from(a),
                TAG_CALLS if i < hammer_at => write_calls += u64::from(a),
                TAG_CALLS => t.diag(format!("hammer: {a} rounds of STATUS, STATS, FIONREAD")),
                _ => t.fail(format!("worker {i}: garbled message tag {tag}")),
            }
        }
        if i < readers {
            per_reader.push(got);
        }
    }
    let missing = seen.iter().filter(|&&n| n == 0).count();
    let dups = seen.iter().filter(|&&n| n > 1).count();
    expect_eq!(t, missing, 0, "records never received");
    expect_eq!(t, dups, 0, "records received more than once");
    let s1 = ctl.stats().context("MYDEV_STATS")?;
    let bytes = total * RECORD as u64;
    expect_eq!(
        t,
        s1.bytes_written.wrapping_sub(s0.bytes_written),
        bytes,
        "STATS bytes_written increase"
    );
    expect_eq!(
        t,
        s1.bytes_read.wrapping_sub(s0.bytes_read),
        bytes,
        "STATS bytes_read increase"
    );
    expect_eq!(
        t,
        s1.writes.wrapping_sub(s0.writes),
        write_calls,
        "STATS writes increase vs successful write calls"
    );
    expect_eq!(
        t,
        s1.reads.wrapping_sub(s0.reads),
        read_calls,
        "STATS reads increase vs successful read calls"
    );
    expect_eq!(
        t,
        (s1.readers_waiting, s1.writers_waiting),
        (0, 0),
        "waiters at the end"
    );
    expect_eq!(t, ctl.fionread(), Ok(0), "FIONREAD at the end");
    expect!(
        t,
        caught > 0,
        "no worker caught a signal ({signals_sent} sent): the test did not test signals"
    );
    t.diag(format!(
        "{writers}x{readers}: {total} records of {RECORD} bytes in {write_calls} writes and \
         {read_calls} reads, {:.1} s",
        elapsed.as_secs_f64()
    ));
    t.diag(format!("records per reader: {per_reader:?}"));
    t.diag(format!(
        "signals: {signals_sent} sent, {caught} caught, {eintr} EINTR retried"
    ));
    Ok(())
}

// 4 writers and 4 readers exchange 20000 records: each arrives once, intact, in per-writer order.
fn four_by_four_records_arrive_once_intact_and_in_order(t: &mut T) -> TestResult {
    exchange(t, 4, 4, 5000)
}

// 16 writers and 16 readers exchange 8000 records with the same guarantees.
fn sixteen_by_sixteen_records_arrive_once_intact_and_in_order(t: &mut T) -> TestResult {
    exchange(t, 16, 16, 500)
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(four_by_four_records_arrive_once_intact_and_in_order, 180),
            test!(
                sixteen_by_sixteen_records_arrive_once_intact_and_in_order,
                180
            ),
        ],
    )
}
