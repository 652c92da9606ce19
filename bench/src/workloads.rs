// SPDX-License-Identifier: GPL-2.0-only

//! The eight workloads, each one run on one channel: the device or a pipe.
//!
//! A run forks its children, lets them settle, measures, and reaps them.
//! Children wait on a separate "go" pipe so that fork costs stay outside the
//! timed part, and report results on a separate result pipe, never on the
//! channel under test.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use mydevice_abi::sys::{self as abi, Device, OFlag};
use mydevice_abi::DEVICE_PATH;
use mydevice_bench::json::Json;
use mydevice_bench::sys::{self, Children, Deadline};
use mydevice_bench::uring;

/// Which FIFO a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Device,
    Pipe,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Device => "device",
            Kind::Pipe => "pipe",
        }
    }
}

/// The open files of a channel.
enum Ends {
    /// One read-write file of the device serves both ends.
    Device(Device),
    /// A pipe's read and write ends.
    Pipe(OwnedFd, OwnedFd),
}

/// One FIFO under test: the two ends and the real capacity.
pub struct Chan {
    ends: Ends,
    /// The capacity in bytes, as the kernel reports it.
    pub capacity: usize,
}

impl Chan {
    /// Opens a channel of `capacity` bytes. The device is cleared and resized
    /// through `ctl` and opened afresh; the pipe is sized with
    /// `F_SETPIPE_SZ`, which rounds up to whole pages.
    pub fn open(kind: Kind, ctl: &Device, capacity: usize) -> io::Result<Self> {
        match kind {
            Kind::Device => {
                ctl.clear()?;
                let cap = u32::try_from(capacity).map_err(io::Error::other)?;
                ctl.resize(cap)?;
                let status = ctl.status()?;
                if status.buffer_size != cap || status.bytes_used != 0 {
                    return Err(io::Error::other(format!(
                        "device not reset: capacity {} (wanted {cap}), {} bytes buffered",
                        status.buffer_size, status.bytes_used
                    )));
                }
                Ok(Self {
                    ends: Ends::Device(open_device()?),
                    capacity: status.buffer_size as usize,
                })
            }
            Kind::Pipe => {
                let (r, w) = sys::pipe()?;
                let actual = sys::set_pipe_size(&w, capacity).map_err(|e| {
                    io::Error::new(e.kind(), format!("F_SETPIPE_SZ {capacity}: {e}"))
                })?;
                Ok(Self {
                    ends: Ends::Pipe(r, w),
                    capacity: actual,
                })
            }
        }
    }

    /// The end to read from.
    pub fn rd(&self) -> BorrowedFd<'_> {
        match &self.ends {
            Ends::Device(dev) => dev.as_fd(),
            Ends::Pipe(r, _) => r.as_fd(),
        }
    }

    /// The end to write to.
    pub fn wr(&self) -> BorrowedFd<'_> {
        match &self.ends {
            Ends::Device(dev) => dev.as_fd(),
            Ends::Pipe(_, w) => w.as_fd(),
        }
    }
}

/// Opens the device read-write.
///
/// # Errors
///
/// Fails if `open` does, e.g. `ENOENT` when the module is not loaded.
pub fn open_device() -> io::Result<Device> {
    Device::open(Path::new(DEVICE_PATH), OFlag::O_RDWR).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("open {DEVICE_PATH}: {e}"),
        )
    })
}

/// Limits shared by every run.
#[derive(Clone, Copy)]
pub struct Limits {
    /// Seconds a run may take before its children are killed.
    pub timeout_secs: u32,
}

impl Limits {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.into())
    }
}

/// Exit codes of the children, for the parent's error messages.
const EXIT_IO: i32 = 2;
const EXIT_TORN: i32 = 3;
const EXIT_SHORT: i32 = 4;

/// Blocks until the parent sends one "go" byte.
fn wait_go(go: BorrowedFd<'_>) -> io::Result<()> {
    sys::read_exact(go, &mut [0])
}

/// Runs a child body, mapping an I/O error to `EXIT_IO` with a message.
fn child(name: &str, body: impl FnOnce() -> io::Result<i32>) -> i32 {
    match body() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {e}");
            EXIT_IO
        }
    }
}

/// Streaming: one writer process sends `total` bytes in `wsize` writes, one
/// reader process receives them with `wsize` reads. Returns MiB/s.
pub fn stream(chan: &Chan, lim: Limits, wsize: usize, total: usize) -> io::Result<f64> {
    let (go_r, go_w) = sys::pipe()?;
    let (res_r, res_w) = sys::pipe()?;
    let (go, res) = (go_r.as_fd(), res_w.as_fd());
    let (rd, wr) = (chan.rd(), chan.wr());
    let mut kids = Children::new();
    kids.spawn(lim.timeout_secs, || {
        child("stream writer", || {
            let buf = vec![0x5a_u8; wsize];
            wait_go(go)?;
            let mut left = total;
            while left > 0 {
                let n = wsize.min(left);
                sys::write_all(wr, &buf[..n])?;
                left -= n;
            }
            Ok(0)
        })
    })?;
    kids.spawn(lim.timeout_secs, || {
        child("stream reader", || {
            let mut buf = vec![0_u8; wsize];
            wait_go(go)?;
            let mut got = 0;
            while got < total {
                let want = wsize.min(total - got);
                match sys::read_some(rd, &mut buf[..want])? {
                    0 => return Ok(EXIT_SHORT),
                    n => got += n,
                }
            }
            let end = sys::now_ns();
            sys::write_all(res, &end.to_ne_bytes())?;
            Ok(0)
        })
    })?;
    let _deadline = Deadline::arm(lim.timeout_secs);
    let start = sys::now_ns();
    sys::write_all(go_w.as_fd(), &[1, 1])?;
    let mut end = [0_u8; 8];
    sys::read_exact(res_r.as_fd(), &mut end)?;
    kids.wait_all(lim.timeout())?;
    let secs = (u64::from_ne_bytes(end).saturating_sub(start)) as f64 / 1e9;
    Ok(total as f64 / (1024.0 * 1024.0) / secs)
}

/// Waits for a run's end stamp from its reader child `reader`.
///
/// If the reader died, its exit status says more than the closed result
/// pipe, so that is the error.
fn end_stamp(
    kids: &mut Children,
    reader: libc::pid_t,
    res: BorrowedFd<'_>,
    lim: Limits,
) -> io::Result<u64> {
    let mut end = [0_u8; 8];
    if let Err(e) = sys::read_exact(res, &mut end) {
        kids.wait(reader, lim.timeout())?;
        return Err(e);
    }
    Ok(u64::from_ne_bytes(end))
}

/// Requests each io_uring side keeps in flight.
pub const URING_DEPTH: usize = 4;

/// Streaming through io_uring: as [`stream`], but the writer and the reader
/// each keep [`URING_DEPTH`] requests of `wsize` bytes queued on one ring of
/// their own, on the channel's blocking descriptors. Returns MiB/s.
pub fn uring_stream(chan: &Chan, lim: Limits, wsize: usize, total: usize) -> io::Result<f64> {
    uring::probe()?;
    let (go_r, go_w) = sys::pipe()?;
    let (res_r, res_w) = sys::pipe()?;
    let (go, res) = (go_r.as_fd(), res_w.as_fd());
    let (rd, wr) = (chan.rd(), chan.wr());
    let mut kids = Children::new();
    kids.spawn(lim.timeout_secs, || {
        child("io_uring writer", || {
            wait_go(go)?;
            uring::stream(wr.as_raw_fd(), uring::Op::Write, total, wsize, URING_DEPTH)?;
            Ok(0)
        })
    })?;
    let reader = kids.spawn(lim.timeout_secs, || {
        child("io_uring reader", || {
            wait_go(go)?;
            uring::stream(rd.as_raw_fd(), uring::Op::Read, total, wsize, URING_DEPTH)?;
            sys::write_all(res, &sys::now_ns().to_ne_bytes())?;
            Ok(0)
        })
    })?;
    drop(res_w);
    let _deadline = Deadline::arm(lim.timeout_secs);
    let start = sys::now_ns();
    sys::write_all(go_w.as_fd(), &[1, 1])?;
    let end = end_stamp(&mut kids, reader, res_r.as_fd(), lim)?;
    kids.wait_all(lim.timeout())?;
    let secs = end.saturating_sub(start) as f64 / 1e9;
    Ok(total as f64 / (1024.0 * 1024.0) / secs)
}

/// Splice streaming: the writer `vmsplice`s up to `chunk` bytes of its
/// page-aligned buffer into a pipe of its own and `splice`s them from there
/// into the channel; the reader `splice`s up to `chunk` bytes from the
/// channel into a pipe of its own and from there to `/dev/null`. No byte is
/// copied through user space; on the device side the kernel copies between
/// the pipes' pages and the ring. Returns MiB/s.
pub fn splice_stream(chan: &Chan, lim: Limits, chunk: usize, total: usize) -> io::Result<f64> {
    const PAGE: usize = 4096;
    let (go_r, go_w) = sys::pipe()?;
    let (res_r, res_w) = sys::pipe()?;
    let (go, res) = (go_r.as_fd(), res_w.as_fd());
    let (rd, wr) = (chan.rd(), chan.wr());
    // A pipe that holds a whole chunk; `F_SETPIPE_SZ` may round up.
    let staging = || -> io::Result<(OwnedFd, OwnedFd)> {
        let (r, w) = sys::pipe()?;
        sys::set_pipe_size(w.as_fd(), chunk)
            .map_err(|e| io::Error::new(e.kind(), format!("F_SETPIPE_SZ {chunk}: {e}")))?;
        Ok((r, w))
    };
    let mut kids = Children::new();
    kids.spawn(lim.timeout_secs, || {
        child("splice writer", || {
            let (src_r, src_w) = staging()?;
            // Page-aligned, so a chunk is whole pages and fits the staging
            // pipe's slots in one `vmsplice`.
            let mem = vec![0x5a_u8; chunk + PAGE];
            let skip = mem.as_ptr().align_offset(PAGE).min(PAGE);
            let buf = &mem[skip..skip + chunk];
            wait_go(go)?;
            let mut left = total;
            while left > 0 {
                // The staging pipe is empty here, so this takes at least a page.
                // SAFETY: Nothing writes to `mem` after it is filled, so the
                // bytes a pipe refers to never change.
                let n = unsafe { sys::vmsplice_some(src_w.as_fd(), &buf[..chunk.min(left)]) }?;
                let mut staged = n;
                while staged > 0 {
                    match sys::splice_some(src_r.as_fd(), wr, staged)? {
                        0 => return Ok(EXIT_SHORT),
                        m => staged -= m,
                    }
                }
                left -= n;
            }
            Ok(0)
        })
    })?;
    let reader = kids.spawn(lim.timeout_secs, || {
        child("splice reader", || {
            let (dst_r, dst_w) = staging()?;
            let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
            wait_go(go)?;
            let mut got = 0;
            while got < total {
                let n = match sys::splice_some(rd, dst_w.as_fd(), chunk.min(total - got))? {
                    0 => return Ok(EXIT_SHORT),
                    n => n,
                };
                let mut staged = n;
                while staged > 0 {
                    match sys::splice_some(dst_r.as_fd(), null.as_fd(), staged)? {
                        0 => return Ok(EXIT_SHORT),
                        m => staged -= m,
                    }
                }
                got += n;
            }
            sys::write_all(res, &sys::now_ns().to_ne_bytes())?;
            Ok(0)
        })
    })?;
    drop(res_w);
    let _deadline = Deadline::arm(lim.timeout_secs);
    let start = sys::now_ns();
    sys::write_all(go_w.as_fd(), &[1, 1])?;
    let end = end_stamp(&mut kids, reader, res_r.as_fd(), lim)?;
    kids.wait_all(lim.timeout())?;
    let secs = end.saturating_sub(start) as f64 / 1e9;
    Ok(total as f64 / (1024.0 * 1024.0) / secs)
}

/// Wake latency: a reader asleep on the empty channel; the parent sleeps
/// `gap`, stamps `CLOCK_MONOTONIC` into a 16-byte message and writes it; the
/// reader takes the time when its read returns. Returns the `samples`
/// latencies in ns.
pub fn latency(chan: &Chan, lim: Limits, samples: usize, gap: Duration) -> io::Result<Vec<f64>> {
    let (res_r, res_w) = sys::pipe()?;
    let res = res_w.as_fd();
    let rd = chan.rd();
    let mut kids = Children::new();
    let pid = kids.spawn(lim.timeout_secs, || {
        child("latency reader", || {
            let mut deltas = Vec::with_capacity(samples);
            for _ in 0..samples {
                let mut msg = [0_u8; 16];
                sys::read_exact(rd, &mut msg)?;
                let now = sys::now_ns();
                let mut stamp = [0_u8; 8];
                stamp.copy_from_slice(&msg[..8]);
                deltas.push(now.saturating_sub(u64::from_ne_bytes(stamp)));
            }
            let bytes: Vec<u8> = deltas.iter().flat_map(|d| d.to_ne_bytes()).collect();
            sys::write_all(res, &bytes)?;
            Ok(0)
        })
    })?;
    drop(res_w);
    let _deadline = Deadline::arm(lim.timeout_secs);
    sys::wait_asleep(&[pid], lim.timeout())?;
    for i in 0..samples as u64 {
        std::thread::sleep(gap);
        let mut msg = [0_u8; 16];
        msg[8..].copy_from_slice(&i.to_ne_bytes());
        let stamp = sys::now_ns();
        msg[..8].copy_from_slice(&stamp.to_ne_bytes());
        sys::write_all(chan.wr(), &msg)?;
    }
    let mut bytes = vec![0_u8; samples * 8];
    sys::read_exact(res_r.as_fd(), &mut bytes)?;
    kids.wait_all(lim.timeout())?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0_u8; 8];
            b.copy_from_slice(c);
            u64::from_ne_bytes(b) as f64
        })
        .collect())
}

/// The outcome of one wakeups-per-event run.
pub struct Wakeups {
    /// Context switches of all readers per byte delivered.
    pub per_byte: f64,
    /// Voluntary switches only, per byte.
    pub voluntary_per_byte: f64,
    /// Bytes each reader received.
    pub bytes_per_reader: Vec<u64>,
}

/// Wakeups per event: `readers` children asleep on the empty channel; the
/// parent writes one byte at a time and, before the next, waits for the
/// byte's reader to acknowledge it and for every reader to be asleep again.
pub fn wakeups(chan: &Chan, lim: Limits, readers: usize, bytes: usize) -> io::Result<Wakeups> {
    let (ack_r, ack_w) = sys::pipe()?;
    let ack = ack_w.as_fd();
    let rd = chan.rd();
    let mut kids = Children::new();
    for id in 0..readers {
        kids.spawn(lim.timeout_secs, || {
            child("wakeup reader", || loop {
                let mut b = [0_u8];
                sys::read_exact(rd, &mut b)?;
                sys::write_all(ack, &[id as u8])?;
            })
        })?;
    }
    let _deadline = Deadline::arm(lim.timeout_secs);
    let pids = kids.pids().to_vec();
    let count = |pids: &[libc::pid_t]| -> io::Result<(u64, u64)> {
        pids.iter().try_fold((0, 0), |(v, n), &pid| {
            let (dv, dn) = sys::ctx_switches(pid)?;
            Ok((v + dv, n + dn))
        })
    };
    sys::wait_asleep(&pids, lim.timeout())?;
    let before = count(&pids)?;
    let mut per_reader = vec![0_u64; readers];
    for _ in 0..bytes {
        sys::write_all(chan.wr(), b"x")?;
        let mut who = [0_u8];
        sys::read_exact(ack_r.as_fd(), &mut who)?;
        per_reader[usize::from(who[0]).min(readers - 1)] += 1;
        sys::wait_asleep(&pids, lim.timeout())?;
    }
    let after = count(&pids)?;
    kids.kill_all();
    let vol = (after.0 - before.0) as f64;
    let all = vol + (after.1 - before.1) as f64;
    Ok(Wakeups {
        per_byte: all / bytes as f64,
        voluntary_per_byte: vol / bytes as f64,
        bytes_per_reader: per_reader,
    })
}

/// Contended throughput: `writers` processes each send `records` records of
/// `rec` bytes, each in one atomic write; `readers` processes read a record
/// per call and check that none is torn. Returns MiB/s of records.
pub fn contended(
    chan: &Chan,
    lim: Limits,
    writers: usize,
    readers: usize,
    rec: usize,
    records: usize,
) -> io::Result<f64> {
    // A record is `[writer, seq]` as two u32 at the head and the tail, and a
    // fill byte between; the stop record has writer `u32::MAX`.
    const STOP: u32 = u32::MAX;
    fn record(buf: &mut [u8], writer: u32, seq: u32) {
        let len = buf.len();
        buf.fill((writer ^ seq) as u8);
        buf[..4].copy_from_slice(&writer.to_ne_bytes());
        buf[4..8].copy_from_slice(&seq.to_ne_bytes());
        buf[len - 8..len - 4].copy_from_slice(&writer.to_ne_bytes());
        buf[len - 4..].copy_from_slice(&seq.to_ne_bytes());
    }
    fn intact(buf: &[u8]) -> bool {
        let len = buf.len();
        buf[..8] == buf[len - 8..] && buf[8..len - 8].iter().all(|&b| b == buf[len / 2])
    }

    let (go_r, go_w) = sys::pipe()?;
    let go = go_r.as_fd();
    let (rd, wr) = (chan.rd(), chan.wr());
    let mut kids = Children::new();
    let mut reader_pids = Vec::new();
    for _ in 0..readers {
        reader_pids.push(kids.spawn(lim.timeout_secs, || {
            child("contended reader", || {
                let mut buf = vec![0_u8; rec];
                wait_go(go)?;
                loop {
                    sys::read_exact(rd, &mut buf)?;
                    if !intact(&buf) {
                        return Ok(EXIT_TORN);
                    }
                    if buf[..4] == STOP.to_ne_bytes() {
                        return Ok(0);
                    }
                }
            })
        })?);
    }
    let mut writer_pids = Vec::new();
    for w in 0..writers as u32 {
        writer_pids.push(kids.spawn(lim.timeout_secs, || {
            child("contended writer", || {
                let mut buf = vec![0_u8; rec];
                wait_go(go)?;
                for seq in 0..records as u32 {
                    record(&mut buf, w, seq);
                    if sys::write_some(wr, &buf)? != rec {
                        return Ok(EXIT_SHORT);
                    }
                }
                Ok(0)
            })
        })?);
    }
    let _deadline = Deadline::arm(lim.timeout_secs);
    let start = sys::now_ns();
    sys::write_all(go_w.as_fd(), &vec![1; readers + writers])?;
    for pid in writer_pids {
        kids.wait(pid, lim.timeout())
            .map_err(|e| io::Error::new(e.kind(), format!("writer: {e} (4 = short write)")))?;
    }
    let mut stop = vec![0_u8; rec];
    record(&mut stop, STOP, 0);
    for _ in 0..readers {
        sys::write_all(wr, &stop)?;
    }
    for pid in reader_pids {
        kids.wait(pid, lim.timeout())
            .map_err(|e| io::Error::new(e.kind(), format!("reader: {e} (3 = torn record)")))?;
    }
    let secs = (sys::now_ns() - start) as f64 / 1e9;
    Ok((writers * records * rec) as f64 / (1024.0 * 1024.0) / secs)
}

/// The control path: `calls` calls of `op`, returning ns per call.
pub fn control(calls: usize, mut op: impl FnMut() -> io::Result<()>) -> io::Result<f64> {
    let start = sys::now_ns();
    for _ in 0..calls {
        op()?;
    }
    Ok((sys::now_ns() - start) as f64 / calls as f64)
}

/// The cost of a call without contention or sleep: one task writes `size`
/// bytes and reads them back, `pairs` times. Returns ns per write and read.
pub fn roundtrip(chan: &Chan, size: usize, pairs: usize) -> io::Result<f64> {
    let out = vec![0x5a_u8; size];
    let mut back = vec![0_u8; size];
    let (rd, wr) = (chan.rd(), chan.wr());
    let start = sys::now_ns();
    for _ in 0..pairs {
        sys::write_all(wr, &out)?;
        sys::read_exact(rd, &mut back)?;
    }
    Ok((sys::now_ns() - start) as f64 / pairs as f64)
}

/// `MYDEV_STATUS` on the device.
pub fn status_call(fd: BorrowedFd<'_>) -> io::Result<()> {
    std::hint::black_box(abi::status(fd)?);
    Ok(())
}

/// `FIONREAD` on any descriptor.
pub fn fionread_call(fd: BorrowedFd<'_>) -> io::Result<()> {
    std::hint::black_box(abi::fionread(fd)?);
    Ok(())
}

/// The outcome of one idle run.
pub struct Idle {
    /// `utime + stime` ticks the readers consumed while asleep.
    pub ticks: u64,
    /// Context switches of the readers meanwhile.
    pub ctx_switches: u64,
}

/// Idle cost: `readers` children asleep on the empty channel for `secs`.
pub fn idle(chan: &Chan, lim: Limits, readers: usize, secs: f64) -> io::Result<Idle> {
    let rd = chan.rd();
    let mut kids = Children::new();
    for _ in 0..readers {
        kids.spawn(lim.timeout_secs, || {
            child("idle reader", || {
                sys::read_exact(rd, &mut [0])?;
                Ok(0)
            })
        })?;
    }
    let _deadline = Deadline::arm(lim.timeout_secs);
    let pids = kids.pids().to_vec();
    sys::wait_asleep(&pids, lim.timeout())?;
    let sample = || -> io::Result<(u64, u64)> {
        pids.iter().try_fold((0, 0), |(t, c), &pid| {
            let (v, n) = sys::ctx_switches(pid)?;
            Ok((t + sys::cpu_ticks(pid)?, c + v + n))
        })
    };
    let before = sample()?;
    std::thread::sleep(Duration::from_secs_f64(secs));
    let after = sample()?;
    kids.kill_all();
    Ok(Idle {
        ticks: after.0 - before.0,
        ctx_switches: after.1 - before.1,
    })
}

/// The raw figures of a run, for the JSON file.
pub fn wakeups_json(w: &Wakeups) -> Json {
    Json::obj([
        ("per_byte", Json::Num(w.per_byte)),
        ("voluntary_per_byte", Json::Num(w.voluntary_per_byte)),
        (
            "bytes_per_reader",
            Json::Arr(w.bytes_per_reader.iter().map(|&b| Json::from(b)).collect()),
        ),
    ])
}
