// SPDX-License-Identifier: GPL-2.0-only

//! Churn: records stream through the device while the control operations,
//! signals and `SIGKILL` hit it from every side.
//!
//! Writer processes store checksummed 64-byte records (see
//! [`mydevice_selftests::record`]) in atomic writes of one to four records;
//! reader processes read one record per call, blocking or after poll(2).
//! Meanwhile the parent, the only controller, issues `MYDEV_CLEAR`,
//! `MYDEV_RESIZE` (growing and shrinking, also below the bytes held),
//! `MYDEV_HANGUP`, `MYDEV_STATUS`, `MYDEV_STATS`, `FIONREAD` and reads of
//! /proc/mydevice, sends `SIGUSR1` (caught with and without `SA_RESTART`) and
//! `SIGKILL` to random workers and respawns the killed ones; an observer
//! process checks the statistics all along.
//!
//! # Accounting
//!
//! The workers keep their logs in memory shared with the parent, so a worker
//! killed at any moment loses nothing the parent cannot see:
//!
//! - A writer notes the write it is about to make, then logs each write that
//!   stored its records. The records of a killed writer's last, unlogged
//!   write may or may not have been stored.
//! - A reader reads straight into a shared slot, so a record read by a reader
//!   killed before logging it is recovered from the slot.
//!
//! Time is a shared ticket counter: a writer takes a ticket before and after
//! each write, and the controller before and after every operation that may
//! drop data (`CLEAR`, and a `RESIZE` below the current capacity). A record
//! `x` that was stored and never read is counted as dropped only if such an
//! operation can have dropped it, which the order of the FIFO pins down:
//!
//! - it ended after `x`'s write started, since it must find `x` stored;
//! - it started before the end of the write of every record `z` that was
//!   read and whose write started after `x`'s ended: `z` sits behind `x` in
//!   the FIFO, so an operation that dropped `x` after `z` was stored would
//!   have dropped `z` too (`CLEAR` drops all, a truncating `RESIZE` the
//!   newest bytes).
//!
//! Any other missing record is a failure (lost), as are a record read twice,
//! a record no writer wrote, and records of one writer read out of order by
//! one reader. The growth of `bytes_written` and `bytes_read` in
//! `MYDEV_STATS` must match the records stored and the bytes read, up to the
//! writes and reads cut short by `SIGKILL`.
//!
//! # Torn records
//!
//! Writes are whole records and the capacity never goes below the largest
//! write (256 bytes), so writes stay atomic and only a truncating `RESIZE`
//! can cut a record: it keeps the oldest bytes. A shrink to a multiple of
//! the record size cuts at a record boundary, since the buffer then holds
//! whole records. A shrink to any other size is followed at once by a
//! `CLEAR`, and the pair is bracketed by two shared counters (windows started
//! and finished), so a reader that reads a short or broken record checks
//! that such a window overlapped its read. Outside those windows a torn record, and a byte count
//! that is not a multiple of the record size, are failures.
//!
//! # The end
//!
//! The parent sets a shared stop flag and issues a last `MYDEV_HANGUP`;
//! every worker must then exit by itself. Any worker still alive after that
//! is reported with its state from /proc/<pid>/stat and fails the test.
//!
//! `MYDEVICE_SOAK_SECS` sets the streaming time (default 12 s).
//! `MYDEVICE_CHURN_LOG_WORDS` caps each worker's log, so that workers leave
//! with a full log and are respawned all the time; the test then also
//! requires that this happened.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use mydevice_abi::{MydevStats, MYDEV_BUFFER_MAX, MYDEV_FLAG_HUNG_UP};
use mydevice_selftests::record::{parse, record, RECORD};
use mydevice_selftests::{
    expect, expect_eq, proc_map, spawn, sys, task, Child, Context, Dev, Errno, Exit, Rng,
    TestResult, DEVICE_SUITE, T,
};

/// The largest write: four records. The capacity never goes below it.
const MAX_BATCH: usize = 4;
const MIN_CAPACITY: u32 = (MAX_BATCH * RECORD) as u32;

/// Shared words: the global ones, then one region per worker slot.
const G_CLOCK: usize = 0;
const G_TEAR_STARTED: usize = 2;
const G_TEAR_FINISHED: usize = 3;
const G_STOP: usize = 4;
const GLOBAL_WORDS: usize = 64;
const SLOT_WORDS: usize = 1 << 17;

/// Words of a slot's header.
const H_ID: usize = 0;
const H_COUNT: usize = 1;
const H_ERR: usize = 2;
const H_ERRS: usize = 3;
const H_EINTR: usize = 4;
const H_CALLS: usize = 5;
const H_BYTES: usize = 6;
const H_TORN_OK: usize = 7;
const H_REOPENS: usize = 8;
const H_ATTEMPT: usize = 9;
const H_ATTEMPT_AT: usize = 11;
const H_CAUGHT: usize = 10;
/// How many log words this incarnation may use (see [`log_limit`]).
const H_LOG_LIMIT: usize = 12;
/// A reader's read(2) buffer: one record.
const H_BUF: usize = 16;
const H_LOG: usize = 32;
const LOG_WORDS: usize = SLOT_WORDS - H_LOG;
/// Log words of one write: first seq and count, clock before and after.
const WRITE_LOG_WORDS: usize = 3;

/// Error kinds a worker reports (in the high half of `H_ERR`).
const ERR_OPEN: u64 = 1;
const ERR_WRITE: u64 = 2;
const ERR_PARTIAL_WRITE: u64 = 3;
const ERR_READ: u64 = 4;
const ERR_TORN: u64 = 5;
const ERR_STATUS: u64 = 6;
const ERR_STATS: u64 = 7;
const ERR_FIONREAD: u64 = 8;
const ERR_PROC: u64 = 9;
const ERR_UNALIGNED: u64 = 10;

fn error_name(kind: u64) -> &'static str {
    match kind {
        ERR_OPEN => "open failed (value = errno)",
        ERR_WRITE => "write failed (value = errno)",
        ERR_PARTIAL_WRITE => "an atomic write stored part of its records (value = count)",
        ERR_READ => "read failed (value = errno)",
        ERR_TORN => "torn or corrupt record outside a truncation window (value = bytes read)",
        ERR_STATUS => "MYDEV_STATUS inconsistent (value = bytes_used or errno)",
        ERR_STATS => "MYDEV_STATS inconsistent (value = size or errno)",
        ERR_FIONREAD => "FIONREAD out of range (value = count or errno)",
        ERR_PROC => "/proc/mydevice unreadable or inconsistent",
        ERR_UNALIGNED => "bytes held not a whole number of records outside a truncation window",
        _ => "unknown",
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Writer,
    Reader,
    PollReader,
    Observer,
}

/// The memory shared by the parent and the workers.
struct Shared {
    map: sys::Mapping,
}

impl Shared {
    fn g(&self, i: usize) -> &AtomicU64 {
        &self.map.words()[i]
    }

    fn slot(&self, slot: usize) -> Slot<'_> {
        let base = GLOBAL_WORDS + slot * SLOT_WORDS;
        Slot {
            w: &self.map.words()[base..base + SLOT_WORDS],
            buf_addr: self.map.addr + (base + H_BUF) * 8,
        }
    }

    /// Takes a ticket of the shared clock.
    fn tick(&self) -> u64 {
        self.g(G_CLOCK).fetch_add(1, SeqCst)
    }

    fn stopping(&self) -> bool {
        self.g(G_STOP).load(SeqCst) != 0
    }
}

/// One worker's region of the shared memory.
struct Slot<'a> {
    w: &'a [AtomicU64],
    buf_addr: usize,
}

impl Slot<'_> {
    fn get(&self, i: usize) -> u64 {
        self.w[i].load(SeqCst)
    }

    fn set(&self, i: usize, v: u64) {
        self.w[i].store(v, SeqCst)
    }

    fn add(&self, i: usize, v: u64) {
        self.w[i].fetch_add(v, SeqCst);
    }

    /// Records an error; the first one is kept with its value.
    fn error(&self, kind: u64, value: u64) {
        let _ =
            self.w[H_ERR].compare_exchange(0, kind << 32 | (value & 0xffff_ffff), SeqCst, SeqCst);
        self.add(H_ERRS, 1);
    }

    /// Whether the log has room for `words` more words. A worker checks
    /// before each read or write, and leaves (to be respawned with an empty
    /// log) when it has not: a record read or written that it could not log
    /// would count as lost.
    fn has_room(&self, words: usize) -> bool {
        self.get(H_COUNT) as usize + words <= self.get(H_LOG_LIMIT) as usize
    }

    /// Appends `words` to the log and publishes them. The caller made sure
    /// of the room with [`Slot::has_room`].
    fn log(&self, words: &[u64]) {
        let n = self.get(H_COUNT) as usize;
        assert!(self.has_room(words.len()), "worker log overflow");
        for (i, &v) in words.iter().enumerate() {
            self.w[H_LOG + n + i].store(v, SeqCst);
        }
        self.set(H_COUNT, (n + words.len()) as u64);
    }

    fn log_words(&self) -> Vec<u64> {
        let n = self.get(H_COUNT) as usize;
        self.w[H_LOG..H_LOG + n.min(LOG_WORDS)]
            .iter()
            .map(|w| w.load(SeqCst))
            .collect()
    }

    fn buf(&self) -> [u8; RECORD] {
        let mut b = [0u8; RECORD];
        for (i, chunk) in b.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&self.w[H_BUF + i].load(SeqCst).to_ne_bytes());
        }
        b
    }

    fn clear_buf(&self) {
        for i in 0..RECORD / 8 {
            self.set(H_BUF + i, 0);
        }
    }

    fn reset(&self, id: u32, log_limit: usize) {
        for i in 0..H_LOG {
            self.set(i, 0);
        }
        self.set(H_ID, u64::from(id));
        self.set(H_LOG_LIMIT, log_limit as u64);
    }
}

/// Whether /proc/mydevice says the device is hung up (`None` if unreadable).
fn proc_hung_up() -> Option<bool> {
    let text = std::fs::read_to_string(mydevice_abi::PROC_PATH).ok()?;
    let line = text.lines().find(|l| l.starts_with("hung_up:"))?;
    Some(line.trim_end().ends_with('1'))
}

/// After a hangup: waits, without holding the device open, until the last
/// file is closed and the hangup clears. Returns false when stopping.
fn wait_restart(sh: &Shared) -> bool {
    loop {
        if sh.stopping() {
            return false;
        }
        if proc_hung_up() == Some(false) {
            return true;
        }
        sys::sleep_ms(2);
    }
}

/// Opens the device for a worker, once no hangup is pending. `None` when stopping.
fn reopen(sh: &Shared, s: &Slot<'_>, flags: i32) -> Option<Dev> {
    if !wait_restart(sh) {
        return None;
    }
    Dev::open(flags)
        .map_err(|e| s.error(ERR_OPEN, e as i32 as u64))
        .ok()
}

/// The start of a worker's round: publishes the signals caught so far,
/// reopens the device if the last round dropped it, and returns it; `None`
/// when stopping. Stopping is checked after the open, so that no operation
/// starts after the last hangup.
fn round_dev<'a>(
    sh: &Shared,
    s: &Slot<'_>,
    dev: &'a mut Option<Dev>,
    flags: i32,
) -> Option<&'a Dev> {
    s.set(H_CAUGHT, sys::signal_count(libc::SIGUSR1) as u64);
    if dev.is_none() {
        *dev = reopen(sh, s, flags);
    }
    dev.as_ref().filter(|_| !sh.stopping())
}

fn worker_signals(id: u32) {
    let _ = sys::catch_signal(libc::SIGUSR1, id % 2 == 0);
    let _ = sys::ignore_signal(libc::SIGPIPE);
}

fn writer(sh: &Shared, slot: usize) -> i32 {
    let s = sh.slot(slot);
    let id = s.get(H_ID) as u32;
    worker_signals(id);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(id).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let flags = libc::O_WRONLY | if id % 3 == 0 { libc::O_NONBLOCK } else { 0 };
    let mut dev: Option<Dev> = None;
    let mut seq = 0u32;
    loop {
        let Some(d) = round_dev(sh, &s, &mut dev, flags) else {
            return 0;
        };
        if !s.has_room(WRITE_LOG_WORDS) {
            return 0;
        }
        let n = 1 + rng.below(MAX_BATCH as u64) as u32;
        let batch: Vec<u8> = (seq..seq + n).flat_map(|q| record(id, q)).collect();
        let before = sh.tick();
        s.set(H_ATTEMPT_AT, before);
        s.set(H_ATTEMPT, u64::from(seq) << 32 | u64::from(n));
        match d.write(&batch) {
            Ok(k) if k == batch.len() => {
                let after = sh.tick();
                s.log(&[u64::from(seq) << 32 | u64::from(n), before, after]);
                s.add(H_CALLS, 1);
                s.add(H_BYTES, k as u64);
                seq += n;
                s.set(H_ATTEMPT, 0);
            }
            Ok(k) => {
                s.error(ERR_PARTIAL_WRITE, k as u64);
                return 1;
            }
            Err(Errno::EINTR) => s.add(H_EINTR, 1),
            Err(Errno::EAGAIN) => {
                let _ = sys::poll_one(d.fd(), libc::POLLOUT, 50);
            }
            Err(Errno::EPIPE) => {
                dev = None;
                s.add(H_REOPENS, 1);
            }
            Err(e) => {
                s.error(ERR_WRITE, e as i32 as u64);
                return 1;
            }
        }
    }
}

fn reader(sh: &Shared, slot: usize, poll: bool) -> i32 {
    let s = sh.slot(slot);
    let id = s.get(H_ID) as u32;
    worker_signals(id);
    let flags = libc::O_RDONLY | if poll { libc::O_NONBLOCK } else { 0 };
    let mut dev: Option<Dev> = None;
    loop {
        let Some(d) = round_dev(sh, &s, &mut dev, flags) else {
            return 0;
        };
        if !s.has_room(1) {
            return 0;
        }
        s.clear_buf();
        let before = sh.g(G_TEAR_FINISHED).load(SeqCst);
        let r = sys::read_raw(d.fd(), s.buf_addr, RECORD);
        let after = sh.g(G_TEAR_STARTED).load(SeqCst);
        match r {
            Ok(0) => {
                dev = None;
                s.add(H_REOPENS, 1);
                if sh.stopping() {
                    return 0;
                }
            }
            Ok(k) => {
                s.add(H_CALLS, 1);
                s.add(H_BYTES, k as u64);
                match (k == RECORD).then(|| parse(&s.buf())).flatten() {
                    Some((w, q)) => s.log(&[u64::from(w) << 32 | u64::from(q)]),
                    None if after > before => s.add(H_TORN_OK, 1),
                    None => s.error(ERR_TORN, k as u64),
                }
            }
            Err(Errno::EINTR) => s.add(H_EINTR, 1),
            Err(Errno::EAGAIN) if poll => {
                let _ = sys::poll_one(d.fd(), libc::POLLIN, 100);
            }
            Err(e) => {
                s.error(ERR_READ, e as i32 as u64);
                return 1;
            }
        }
    }
}

/// Checks STATUS, STATS, FIONREAD and /proc/mydevice over and over.
fn observer(sh: &Shared, slot: usize) -> i32 {
    let s = sh.slot(slot);
    worker_signals(s.get(H_ID) as u32);
    let max = MYDEV_BUFFER_MAX;
    let mut dev: Option<Dev> = None;
    let mut round = 0u64;
    loop {
        let Some(d) = round_dev(sh, &s, &mut dev, libc::O_RDONLY | libc::O_NONBLOCK) else {
            return 0;
        };
        round += 1;
        let tf = sh.g(G_TEAR_FINISHED).load(SeqCst);
        let ts = sh.g(G_TEAR_STARTED).load(SeqCst);
        let status = d.status();
        let fion = d.fionread();
        // No truncation window was open or opened around the samples.
        let aligned = ts == tf && sh.g(G_TEAR_STARTED).load(SeqCst) == ts;
        match status {
            Ok(st)
                if st.bytes_used <= st.buffer_size
                    && (1..=max).contains(&st.buffer_size)
                    && st._reserved == 0 =>
            {
                if aligned && st.bytes_used % RECORD as u32 != 0 {
                    s.error(ERR_UNALIGNED, u64::from(st.bytes_used));
                }
            }
            Ok(st) => s.error(ERR_STATUS, u64::from(st.bytes_used)),
            Err(e) => s.error(ERR_STATUS, e as i32 as u64),
        }
        match fion {
            Ok(n) if (0..=max as i32).contains(&n) => {
                if aligned && n % RECORD as i32 != 0 {
                    s.error(ERR_UNALIGNED, n as u64);
                }
            }
            Ok(n) => s.error(ERR_FIONREAD, n as u64),
            Err(e) => s.error(ERR_FIONREAD, e as i32 as u64),
        }
        match d.stats() {
            Ok(st) if stats_sane(&st) => {
                if st.flags & MYDEV_FLAG_HUNG_UP != 0 {
                    // Close, so that the hangup can clear.
                    dev = None;
                    s.add(H_REOPENS, 1);
                }
            }
            Ok(st) => s.error(ERR_STATS, u64::from(st.size)),
            Err(e) => s.error(ERR_STATS, e as i32 as u64),
        }
        if round % 4 == 0 {
            let ok = proc_map().is_ok_and(|m| {
                let n = |k: &str| m.get(k).and_then(|v| v.parse::<u64>().ok());
                let cap = n("buffer_size").unwrap_or(0);
                m.len() == 10
                    && (1..=u64::from(max)).contains(&cap)
                    && n("bytes_used").is_some_and(|u| u <= cap)
                    && n("hung_up").is_some_and(|h| h <= 1)
            });
            if !ok {
                s.error(ERR_PROC, round);
            }
        }
        s.add(H_CALLS, 1);
    }
}

fn stats_sane(st: &MydevStats) -> bool {
    st.size == 72
        && st.version == 1
        && st._reserved == 0
        && st.bytes_read <= st.bytes_written
        && st.flags & !MYDEV_FLAG_HUNG_UP == 0
}

/// What the parent learned from one writer incarnation.
#[derive(Default)]
struct WriterLog {
    /// Per stored write: first seq, count, clock before and after.
    calls: Vec<(u32, u32, u64, u64)>,
    confirmed: u32,
    /// Records of an unlogged write cut short by SIGKILL: may or may not be stored.
    in_flight: u32,
    /// The clock before that write.
    in_flight_at: u64,
}

/// Totals over the whole run.
#[derive(Default)]
struct Totals {
    reads: Vec<(u32, u32)>,
    writers: HashMap<u32, WriterLog>,
    recovered: u64,
    torn_ok: u64,
    eintr: u64,
    caught: u64,
    reopens: u64,
    read_bytes: u64,
    read_calls: u64,
    write_calls: u64,
    observer_rounds: u64,
    killed_readers: u64,
    incarnations: u64,
    log_full_exits: u64,
}

struct Worker {
    kind: Kind,
    child: Option<Child>,
    killed: bool,
}

struct Churn<'a> {
    sh: &'a Shared,
    /// Log words per worker incarnation.
    log_limit: usize,
    workers: Vec<Worker>,
    next_id: u32,
    totals: Totals,
}

impl Churn<'_> {
    fn start(&mut self, slot: usize) -> TestResult {
        let id = self.next_id;
        self.next_id += 1;
        self.sh.slot(slot).reset(id, self.log_limit);
        let kind = self.workers[slot].kind;
        let sh = self.sh;
        let child = spawn(move |_| match kind {
            Kind::Writer => writer(sh, slot),
            Kind::Reader => reader(sh, slot, false),
            Kind::PollReader => reader(sh, slot, true),
            Kind::Observer => observer(sh, slot),
        })?;
        self.workers[slot].child = Some(child);
        self.workers[slot].killed = false;
        self.totals.incarnations += 1;
        Ok(())
    }

    /// Takes in the log of a worker that has ended.
    fn harvest(&mut self, t: &mut T, slot: usize, exit: Exit) {
        let s = self.sh.slot(slot);
        let w = &self.workers[slot];
        let id = s.get(H_ID) as u32;
        let who = format!("{:?} {id} (slot {slot})", w.kind);
        match exit {
            Exit::Code(0) => {}
            Exit::Signal(libc::SIGKILL) if w.killed => {}
            other => t.fail(format!("{who} ended with {other:?}")),
        }
        let err = s.get(H_ERR);
        if err != 0 {
            t.fail(format!(
                "{who}: {} ({}: {}), {} errors",
                error_name(err >> 32),
                err >> 32,
                err & 0xffff_ffff,
                s.get(H_ERRS)
            ));
        }
        let tot = &mut self.totals;
        tot.eintr += s.get(H_EINTR);
        tot.caught += s.get(H_CAUGHT);
        tot.reopens += s.get(H_REOPENS);
        let log = s.log_words();
        match w.kind {
            Kind::Writer => {
                tot.write_calls += s.get(H_CALLS);
                let mut wl = WriterLog::default();
                for c in log.chunks_exact(3) {
                    let (first, n) = ((c[0] >> 32) as u32, c[0] as u32);
                    if first != wl.confirmed {
                        t.fail(format!(
                            "{who}: garbled log, write of seq {first} after {}",
                            wl.confirmed
                        ));
                    }
                    wl.calls.push((first, n, c[1], c[2]));
                    wl.confirmed = first + n;
                }
                let attempt = s.get(H_ATTEMPT);
                if attempt != 0 && (attempt >> 32) as u32 >= wl.confirmed {
                    wl.in_flight = attempt as u32;
                    wl.in_flight_at = s.get(H_ATTEMPT_AT);
                }
                tot.writers.insert(id, wl);
                if !s.has_room(WRITE_LOG_WORDS) && exit == Exit::Code(0) {
                    tot.log_full_exits += 1;
                }
            }
            Kind::Reader | Kind::PollReader => {
                tot.read_calls += s.get(H_CALLS);
                tot.read_bytes += s.get(H_BYTES);
                tot.torn_ok += s.get(H_TORN_OK);
                let mut recs: Vec<(u32, u32)> =
                    log.iter().map(|&v| ((v >> 32) as u32, v as u32)).collect();
                if w.killed {
                    tot.killed_readers += 1;
                    // A record read but not yet logged when SIGKILL came.
                    if let Some(r) = parse(&s.buf()) {
                        if recs.last() != Some(&r) {
                            recs.push(r);
                            tot.recovered += 1;
                        }
                    }
                }
                let mut last: HashMap<u32, u32> = HashMap::new();
                for &(wr, q) in &recs {
                    if let Some(p) = last.insert(wr, q) {
                        if p >= q {
                            t.fail(format!(
                                "{who}: writer {wr}'s record {q} came after its record {p}"
                            ));
                        }
                    }
                }
                tot.reads.extend(recs);
                if !s.has_room(1) && exit == Exit::Code(0) {
                    tot.log_full_exits += 1;
                }
            }
            Kind::Observer => tot.observer_rounds += s.get(H_CALLS),
        }
    }

    /// Reaps ended workers; respawns them unless stopping.
    fn reap(&mut self, t: &mut T, respawn: bool) -> TestResult {
        for slot in 0..self.workers.len() {
            let exit = match self.workers[slot].child.as_mut() {
                Some(c) => c.try_wait(),
                None => None,
            };
            if let Some(exit) = exit {
                self.harvest(t, slot, exit);
                self.workers[slot].child = None;
                if respawn {
                    self.start(slot)?;
                }
            }
        }
        Ok(())
    }

    fn live_pids(&mut self) -> Vec<(usize, i32)> {
        self.workers
            .iter_mut()
            .enumerate()
            .filter_map(|(i, w)| {
                let c = w.child.as_mut()?;
                c.running().then_some((i, c.pid))
            })
            .collect()
    }

    /// Records delivered so far, from the harvested logs and the live ones.
    fn delivered(&self) -> u64 {
        let live: u64 = (0..self.workers.len())
            .filter(|&i| matches!(self.workers[i].kind, Kind::Reader | Kind::PollReader))
            .filter(|&i| self.workers[i].child.is_some())
            .map(|i| self.sh.slot(i).get(H_COUNT))
            .sum();
        self.totals.reads.len() as u64 + live
    }
}

/// Counts of the controller's operations.
#[derive(Default, Debug)]
struct Ops {
    clear: u64,
    grow: u64,
    shrink: u64,
    shrink_cut: u64,
    hangup: u64,
    status: u64,
    stats: u64,
    fionread: u64,
    proc: u64,
    signals: u64,
    kills: u64,
}

/// Runs one control operation inside a drop (and maybe tear) window.
fn bracket(
    sh: &Shared,
    drops: &mut Vec<(u64, u64)>,
    tear: bool,
    op: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let start = sh.tick();
    if tear {
        sh.g(G_TEAR_STARTED).fetch_add(1, SeqCst);
    }
    let r = op();
    if tear {
        sh.g(G_TEAR_FINISHED).fetch_add(1, SeqCst);
    }
    drops.push((start, sh.tick()));
    r
}

fn ctl() -> Result<Dev, String> {
    Dev::open(libc::O_WRONLY | libc::O_NONBLOCK).map_err(|e| format!("open O_WRONLY: {e}"))
}

/// A new capacity: mostly small multiples of the record, some large, some odd.
fn pick_size(rng: &mut Rng) -> u32 {
    let rec = RECORD as u64;
    match rng.below(10) {
        0..=4 => (MIN_CAPACITY as u64 + rng.below(8192) / rec * rec) as u32,
        5 => MYDEV_BUFFER_MAX,
        6 => (8192 + rng.below(262_144) / rec * rec) as u32,
        _ => (MIN_CAPACITY as u64 + 1 + rng.below(8192)) as u32,
    }
}

fn control(
    sh: &Shared,
    rng: &mut Rng,
    cap: &mut u32,
    ops: &mut Ops,
    drops: &mut Vec<(u64, u64)>,
    last_hangup: &mut Instant,
) -> Result<(), String> {
    let op = rng.below(16);
    match op {
        0..=2 => {
            let d = ctl()?;
            bracket(sh, drops, false, || {
                d.clear().map_err(|e| format!("MYDEV_CLEAR: {e}"))
            })?;
            ops.clear += 1;
        }
        3..=6 => {
            let size = pick_size(rng);
            let d = ctl()?;
            let resize = || {
                d.resize(size)
                    .map_err(|e| format!("MYDEV_RESIZE {size}: {e}"))
            };
            if size >= *cap {
                // Nothing can be dropped: no window.
                resize()?;
                ops.grow += 1;
            } else if size % RECORD as u32 == 0 {
                bracket(sh, drops, false, resize)?;
                ops.shrink += 1;
            } else {
                // May cut a record: clear the torn tail within the window.
                bracket(sh, drops, true, || {
                    resize()?;
                    d.clear()
                        .map_err(|e| format!("MYDEV_CLEAR after a cut: {e}"))
                })?;
                ops.shrink_cut += 1;
            }
            *cap = size;
        }
        7 if last_hangup.elapsed() >= Duration::from_millis(1500) => {
            ctl()?.hangup().map_err(|e| format!("MYDEV_HANGUP: {e}"))?;
            *last_hangup = Instant::now();
            ops.hangup += 1;
        }
        7..=9 => {
            let st = ctl()?.status().map_err(|e| format!("MYDEV_STATUS: {e}"))?;
            if st.buffer_size != *cap || st.bytes_used > *cap || st._reserved != 0 {
                return Err(format!("MYDEV_STATUS {st:?} with capacity {cap}"));
            }
            ops.status += 1;
        }
        10..=11 => {
            let st = ctl()?.stats().map_err(|e| format!("MYDEV_STATS: {e}"))?;
            if !stats_sane(&st) {
                return Err(format!("MYDEV_STATS {st:?}"));
            }
            ops.stats += 1;
        }
        12..=13 => {
            let n = ctl()?.fionread().map_err(|e| format!("FIONREAD: {e}"))?;
            if !(0..=*cap as i32).contains(&n) {
                return Err(format!("FIONREAD {n} with capacity {cap}"));
            }
            ops.fionread += 1;
        }
        _ => {
            let m = proc_map().map_err(|e| format!("{e:?}"))?;
            let v = |k: &str| m.get(k).and_then(|v| v.parse::<u32>().ok());
            if v("buffer_size") != Some(*cap) || !matches!(v("bytes_used"), Some(u) if u <= *cap) {
                return Err(format!("/proc/mydevice {m:?} with capacity {cap}"));
            }
            ops.proc += 1;
        }
    }
    Ok(())
}

/// Log words a worker incarnation may fill before it leaves and is
/// respawned: `MYDEVICE_CHURN_LOG_WORDS` (at least 64), or all of its slot.
/// A small limit makes workers leave on a full log all the time, which tests
/// that no record goes unaccounted then.
fn log_limit() -> Option<usize> {
    std::env::var("MYDEVICE_CHURN_LOG_WORDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.clamp(64, LOG_WORDS))
}

fn soak_secs() -> u64 {
    std::env::var("MYDEVICE_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

fn churn(t: &mut T, writers: usize, readers: usize, secs: u64) -> TestResult {
    // Installed before forking, so no signal reaches a worker unhandled.
    sys::catch_signal(libc::SIGUSR1, true).context("sigaction(SIGUSR1)")?;
    sys::ignore_signal(libc::SIGPIPE).context("ignore SIGPIPE")?;
    let mut kinds = vec![Kind::Writer; writers];
    kinds.extend((0..readers).map(|i| {
        if i == 0 {
            Kind::PollReader
        } else {
            Kind::Reader
        }
    }));
    kinds.push(Kind::Observer);
    let bytes = (GLOBAL_WORDS + kinds.len() * SLOT_WORDS) * 8;
    let map = sys::Mapping::shared(bytes.div_ceil(sys::page_size())).context("mmap shared")?;
    let sh = Shared { map };
    let s0 = Dev::rdonly()
        .and_then(|d| d.stats())
        .context("MYDEV_STATS")?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    t.diag(format!(
        "{writers} writers, {readers} readers, {secs} s, seed {seed:#x}"
    ));
    let mut rng = Rng(seed);
    let limit = log_limit();
    let mut c = Churn {
        sh: &sh,
        log_limit: limit.unwrap_or(LOG_WORDS),
        workers: kinds
            .iter()
            .map(|&kind| Worker {
                kind,
                child: None,
                killed: false,
            })
            .collect(),
        next_id: 1,
        totals: Totals::default(),
    };
    for slot in 0..kinds.len() {
        c.start(slot)?;
    }
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut cap = 4096u32;
    let mut ops = Ops::default();
    let mut drops: Vec<(u64, u64)> = Vec::new();
    let mut last_hangup = Instant::now();
    let (mut next_ctl, mut next_sig, mut next_kill) =
        (start, start, start + Duration::from_millis(300));
    let (mut progress, mut progress_at) = (0u64, Instant::now());
    let mut ctl_errors = 0;
    while Instant::now() < end {
        c.reap(t, true)?;
        let now = Instant::now();
        if now >= next_ctl {
            next_ctl = now + Duration::from_millis(10);
            if let Err(e) = control(
                &sh,
                &mut rng,
                &mut cap,
                &mut ops,
                &mut drops,
                &mut last_hangup,
            ) {
                ctl_errors += 1;
                if ctl_errors <= 5 {
                    t.fail(format!("controller: {e}"));
                }
            }
        }
        if now >= next_sig {
            next_sig = now + Duration::from_millis(3);
            let pids = c.live_pids();
            if !pids.is_empty() {
                let (_, pid) = pids[rng.below(pids.len() as u64) as usize];
                if sys::kill(pid, libc::SIGUSR1).is_ok() {
                    ops.signals += 1;
                }
            }
        }
        if now >= next_kill {
            next_kill = now + Duration::from_millis(200 + rng.below(200));
            let pids = c.live_pids();
            if !pids.is_empty() {
                let (slot, pid) = pids[rng.below(pids.len() as u64) as usize];
                c.workers[slot].killed = true;
                if sys::kill(pid, libc::SIGKILL).is_ok() {
                    ops.kills += 1;
                }
            }
        }
        let d = c.delivered();
        if d != progress {
            (progress, progress_at) = (d, now);
        } else if progress_at.elapsed() > Duration::from_secs(30) {
            let st = Dev::rdonly().and_then(|d| d.stats());
            let states: Vec<String> = c
                .live_pids()
                .iter()
                .map(|&(i, pid)| format!("{:?}/{pid}: {:?}", kinds[i], task::state(pid).ok()))
                .collect();
            t.fail(format!(
                "no record delivered for 30 s; STATS {st:?}; workers {states:?}"
            ));
            break;
        }
        sys::sleep_ms(1);
    }
    let streamed = start.elapsed();

    // The end: stop, one last hangup, and every worker must leave by itself.
    sh.g(G_STOP).store(1, SeqCst);
    ctl()
        .and_then(|d| d.hangup().map_err(|e| format!("{e}")))
        .map_err(|e| mydevice_selftests::Failure::fail(format!("final MYDEV_HANGUP: {e}")))?;
    ops.hangup += 1;
    let ok = sys::wait_until(Duration::from_secs(30), || {
        let _ = c.reap(t, false);
        c.workers.iter().all(|w| w.child.is_none())
    });
    if !ok {
        for (slot, pid) in c.live_pids() {
            let state = task::state(pid)
                .map(String::from)
                .unwrap_or_else(|_| "?".into());
            let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
            t.fail(format!(
                "{:?} (pid {pid}) still alive 30 s after the final hangup, state {state}, wchan {wchan}",
                kinds[slot]
            ));
        }
        for w in c.workers.iter_mut() {
            w.killed = true;
        }
        for w in c.workers.iter_mut() {
            w.child = None;
        }
    }

    // Whatever is left in the buffer was stored and must be accounted for.
    let drain = Dev::rw_nonblock().context("open for the final drain")?;
    let mut left = 0u64;
    loop {
        match drain.read(RECORD) {
            Ok(b) if b.is_empty() => break,
            Ok(b) => match parse(&b) {
                Some(r) => {
                    c.totals.reads.push(r);
                    c.totals.read_bytes += b.len() as u64;
                    left += 1;
                }
                None => t.fail(format!("final drain: torn record of {} bytes", b.len())),
            },
            Err(Errno::EAGAIN) => break,
            Err(e) => {
                t.fail(format!("final drain: {e}"));
                break;
            }
        }
    }
    let s1 = drain.stats().context("MYDEV_STATS")?;
    expect_eq!(
        t,
        (s1.readers_waiting, s1.writers_waiting, s1.flags),
        (0, 0, 0),
        "waiters and flags at the end"
    );
    drop(drain);

    // The model check.
    let tot = &c.totals;
    let mut seen: HashMap<u32, Vec<u8>> = tot
        .writers
        .iter()
        .map(|(&id, w)| (id, vec![0u8; (w.confirmed + w.in_flight) as usize]))
        .collect();
    let (mut phantom, mut dups) = (0u64, 0u64);
    for &(w, q) in &tot.reads {
        match seen.get_mut(&w).and_then(|v| v.get_mut(q as usize)) {
            Some(n) => {
                *n += 1;
                if *n == 2 {
                    dups += 1;
                    if dups <= 5 {
                        t.fail(format!("writer {w}'s record {q} was read twice"));
                    }
                }
            }
            None => {
                phantom += 1;
                if phantom <= 5 {
                    t.fail(format!("record ({w}, {q}) read but never written"));
                }
            }
        }
    }
    // The clock around the write of each record that was read, ordered by
    // the start of the write, with the earliest end of any later write.
    let mut stored: Vec<(u64, u64)> = Vec::new();
    for (&id, wl) in &tot.writers {
        let got = &seen[&id];
        for &(first, n, before, after) in &wl.calls {
            for q in first..first + n {
                if got[q as usize] > 0 {
                    stored.push((before, after));
                }
            }
        }
        for q in wl.confirmed..wl.confirmed + wl.in_flight {
            if got[q as usize] > 0 {
                stored.push((wl.in_flight_at, u64::MAX));
            }
        }
    }
    stored.sort_unstable();
    let mut later_end = vec![u64::MAX; stored.len() + 1];
    for i in (0..stored.len()).rev() {
        later_end[i] = later_end[i + 1].min(stored[i].1);
    }
    let (mut confirmed, mut in_flight, mut dropped, mut lost) = (0u64, 0u64, 0u64, 0u64);
    let mut in_flight_read = 0u64;
    for (&id, wl) in &tot.writers {
        let got = &seen[&id];
        confirmed += u64::from(wl.confirmed);
        in_flight += u64::from(wl.in_flight);
        in_flight_read += got[wl.confirmed as usize..]
            .iter()
            .filter(|&&n| n > 0)
            .count() as u64;
        for &(first, n, before, after) in &wl.calls {
            for q in first..first + n {
                if got[q as usize] > 0 {
                    continue;
                }
                // A drop must start before the end of every later write
                // whose record was read, and end after this write began.
                let bound = later_end[stored.partition_point(|&(b, _)| b <= after)];
                let k = drops.partition_point(|&(s, _)| s < bound);
                if k > 0 && drops[k - 1].1 > before {
                    dropped += 1;
                } else {
                    lost += 1;
                    if lost <= 5 {
                        t.fail(format!(
                            "writer {id}'s record {q} (written at ticks {before}..{after}) was \
                             stored and never read, and no CLEAR or truncating RESIZE can have \
                             dropped it (reads of records written later bound the drop to \
                             before tick {bound})"
                        ));
                    }
                }
            }
        }
    }
    expect_eq!(
        t,
        lost,
        0,
        "records lost without a CLEAR or truncating RESIZE"
    );
    expect_eq!(t, dups, 0, "records read twice");
    expect_eq!(t, phantom, 0, "records never written");
    let written = s1.bytes_written.wrapping_sub(s0.bytes_written);
    let rec = RECORD as u64;
    expect!(
        t,
        written >= confirmed * rec && written <= (confirmed + in_flight) * rec,
        "STATS bytes_written grew by {written}, expected {} to {} ({confirmed} records stored, \
         {in_flight} in flight at a SIGKILL)",
        confirmed * rec,
        (confirmed + in_flight) * rec
    );
    let read = s1.bytes_read.wrapping_sub(s0.bytes_read);
    expect!(
        t,
        read >= tot.read_bytes && read <= tot.read_bytes + tot.killed_readers * rec,
        "STATS bytes_read grew by {read}, the readers counted {} (+ up to {rec} per killed reader, {} killed)",
        tot.read_bytes,
        tot.killed_readers
    );
    expect!(
        t,
        tot.caught > 0,
        "no worker caught a signal ({} sent)",
        ops.signals
    );
    expect!(t, ops.kills > 0, "no worker was killed");
    if let Some(limit) = limit {
        expect!(
            t,
            tot.log_full_exits > 0,
            "no worker filled its log of {limit} words (MYDEVICE_CHURN_LOG_WORDS)"
        );
    }
    let delivered = tot.reads.len() as u64;
    t.diag(format!(
        "records: {confirmed} stored, {delivered} read intact ({} recovered from killed readers, \
         {left} left at the end), {dropped} dropped by CLEAR/RESIZE, {} torn reads in truncation \
         windows, {in_flight} in flight at a SIGKILL ({in_flight_read} of them read)",
        tot.recovered, tot.torn_ok
    ));
    t.diag(format!(
        "throughput: {:.0} records/s over {:.1} s; {} writes, {} reads",
        delivered as f64 / streamed.as_secs_f64(),
        streamed.as_secs_f64(),
        tot.write_calls,
        tot.read_calls
    ));
    t.diag(format!(
        "control ops: {} CLEAR, {} RESIZE up, {} RESIZE down, {} RESIZE down to an odd size, {} \
         HANGUP, {} STATUS, {} STATS, {} FIONREAD, {} /proc reads; observer {} rounds",
        ops.clear,
        ops.grow,
        ops.shrink,
        ops.shrink_cut,
        ops.hangup,
        ops.status,
        ops.stats,
        ops.fionread,
        ops.proc,
        tot.observer_rounds
    ));
    t.diag(format!(
        "signals: {} SIGUSR1 sent, {} caught, {} EINTR retried; {} SIGKILL; {} workers started \
         ({} after filling their log); {} reopens after a hangup",
        ops.signals,
        tot.caught,
        tot.eintr,
        ops.kills,
        tot.incarnations,
        tot.log_full_exits,
        tot.reopens
    ));
    Ok(())
}

// Records survive CLEAR, RESIZE, HANGUP, signals and SIGKILL: none lost unaccounted, none torn,
// duplicated or reordered, and every worker exits after the final hangup.
fn churn_keeps_every_record_accounted(t: &mut T) -> TestResult {
    churn(t, 3, 3, soak_secs())
}

fn main() {
    let secs = soak_secs();
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[mydevice_selftests::Test {
            name: "churn_keeps_every_record_accounted",
            func: churn_keeps_every_record_accounted,
            timeout: Duration::from_secs(secs + 120),
        }],
    )
}
