// SPDX-License-Identifier: GPL-2.0-only

//! A structured fuzzer of the ABI, checked step by step against a model.
//!
//! The model knows the capacity, the exact bytes buffered, the hangup state
//! and every counter, so each ioctl, read and write has one right answer:
//! the known commands behave as docs/semantics.md says, every other command
//! gives `ENOTTY`, a bad pointer gives `EFAULT`, and a buffer that faults part
//! way moves an exact, checked prefix. Every descriptor is non-blocking, so a
//! step that hangs is a failure of the deadline. After each step, STATUS,
//! STATS, FIONREAD and /proc/mydevice must agree with the model and with
//! each other.
//!
//! The generator is a seeded xorshift. The seed is printed;
//! `MYDEVICE_FUZZ_SEED` replays a run and `MYDEVICE_FUZZ_ITERS` sets the
//! number of random steps.

use std::collections::VecDeque;
use std::time::Instant;

use mydevice_abi::{
    FIONREAD, MYDEV_BUFFER_MAX, MYDEV_CLEAR, MYDEV_HANGUP, MYDEV_RESIZE, MYDEV_STATS, MYDEV_STATUS,
};
use mydevice_selftests::{
    ensure, parse_proc, proc_text, sys, test, Context, Dev, Errno, Failure, Rng, TestResult,
    DEVICE_SUITE, T,
};

/// An address in the kernel half: never accessible from user space.
const KERNEL_ADDR: usize = 0xffff_8880_0000_0000;
/// Random steps by default: about twelve seconds under TCG emulation.
const DEFAULT_ITERS: u64 = 15000;
/// Magic numbers of ioctls that the VFS handles itself, before the driver.
const VFS_MAGICS: [u32; 6] = [0x00, 0x15, 0x54, 0x58, 0x66, 0x94];

fn ioc(dir: u32, magic: u32, nr: u32, size: u32) -> u32 {
    dir << 30 | (size & 0x3fff) << 16 | magic << 8 | nr
}

/// Which descriptor a step uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fd {
    Rw,
    Ro,
    Wo,
}

impl Fd {
    const ALL: [Fd; 3] = [Fd::Rw, Fd::Ro, Fd::Wo];

    fn readable(self) -> bool {
        self != Fd::Wo
    }

    fn writable(self) -> bool {
        self != Fd::Ro
    }
}

/// The bytes and counters the device must have.
struct Model {
    cap: usize,
    data: VecDeque<u8>,
    hung_up: bool,
    open: u32,
    reads: u64,
    writes: u64,
    bytes_read: u64,
    bytes_written: u64,
    reader_sleeps: u64,
    writer_sleeps: u64,
}

/// Four read-write pages, a PROT_NONE page after them, and an unmapped page.
struct Arena {
    map: sys::Mapping,
    ps: usize,
}

impl Arena {
    fn new() -> Result<Self, Failure> {
        let map = sys::Mapping::new(6).context("mmap 6 pages")?;
        let ps = sys::page_size();
        map.protect_none(4).context("mprotect")?;
        // SAFETY: The last page belongs to this mapping and nothing refers to it.
        let r = unsafe { libc::munmap((map.addr + 5 * ps) as *mut _, ps) };
        ensure!(r == 0, "munmap: {}", Errno::last());
        Ok(Arena { map, ps })
    }

    /// The first inaccessible byte.
    fn edge(&self) -> usize {
        self.map.addr + 4 * self.ps
    }

    /// How many bytes from `ptr` on can be accessed.
    fn valid(&self, ptr: usize) -> usize {
        if ptr >= self.map.addr && ptr < self.edge() {
            self.edge() - ptr
        } else {
            0
        }
    }

    fn fill(&self, ptr: usize, data: &[u8]) {
        let n = data.len().min(self.valid(ptr));
        if n == 0 {
            return;
        }
        self.map.fill(ptr - self.map.addr, &data[..n]);
    }

    fn bytes(&self, ptr: usize, len: usize) -> Vec<u8> {
        self.map.bytes(ptr - self.map.addr, len)
    }
}

/// Kinds of pointer that [`pointer_of`] makes.
const POINTER_KINDS: u64 = 10;

/// A pointer for a step, with a name for the log.
fn pointer(rng: &mut Rng, a: &Arena, len: usize) -> (usize, &'static str) {
    let kind = rng.below(POINTER_KINDS);
    pointer_of(rng, a, len, kind)
}

/// A pointer of kind `kind`: valid (four kinds in ten), NULL, kernel, unmapped,
/// PROT_NONE, straddling into PROT_NONE, or random in the kernel half.
fn pointer_of(rng: &mut Rng, a: &Arena, len: usize, kind: u64) -> (usize, &'static str) {
    let room = 4 * a.ps;
    match kind {
        0..=3 => {
            let off = rng.below((room - len.min(room) + 1) as u64) as usize;
            (a.map.addr + off, "valid")
        }
        4 => (0, "NULL"),
        5 => (KERNEL_ADDR + rng.below(1 << 30) as usize, "kernel"),
        6 => (
            a.edge() + a.ps + rng.below(a.ps as u64) as usize,
            "unmapped",
        ),
        7 => (a.edge() + rng.below(a.ps as u64) as usize, "PROT_NONE"),
        8 => (
            a.edge() - rng.below(len.clamp(1, room) as u64) as usize,
            "straddling",
        ),
        _ => ((rng.next_u64() as usize) | 1 << 63, "random kernel-half"),
    }
}

/// The device as the fuzzer holds it: three non-blocking descriptors.
struct Fuzz {
    rw: Option<Dev>,
    ro: Option<Dev>,
    wo: Option<Dev>,
    m: Model,
    a: Arena,
    ioctls: u64,
    rws: u64,
    reopens: u64,
}

fn sys_ioctl(fd: i32, cmd: u64, arg: usize) -> Result<i64, Errno> {
    // SAFETY: The argument is a plain word the kernel validates; it only
    // writes to memory of the arena or to no memory at all (see `pointer`).
    let r = unsafe { libc::syscall(libc::SYS_ioctl, fd, cmd, arg) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(x)
}

fn want_err(got: Result<i64, Errno>, want: i32) -> Result<(), String> {
    match got {
        Err(e) if e as i32 == want => Ok(()),
        other => Err(format!("expected {}, got {other:?}", Errno::from_raw(want))),
    }
}

impl Fuzz {
    fn open() -> Result<Self, Failure> {
        let st = Dev::rdonly()
            .and_then(|d| d.stats())
            .context("MYDEV_STATS")?;
        let mut f = Fuzz {
            rw: None,
            ro: None,
            wo: None,
            m: Model {
                cap: 4096,
                data: VecDeque::new(),
                hung_up: false,
                open: 0,
                reads: st.reads,
                writes: st.writes,
                bytes_read: st.bytes_read,
                bytes_written: st.bytes_written,
                reader_sleeps: st.reader_sleeps,
                writer_sleeps: st.writer_sleeps,
            },
            a: Arena::new()?,
            ioctls: 0,
            rws: 0,
            reopens: 0,
        };
        f.reopen()?;
        Ok(f)
    }

    /// Closes and reopens every descriptor, which clears a hangup.
    fn reopen(&mut self) -> Result<(), Failure> {
        self.rw = None;
        self.ro = None;
        self.wo = None;
        self.m.open = 0;
        self.m.hung_up = false;
        let nb = libc::O_NONBLOCK;
        self.rw = Some(Dev::open(libc::O_RDWR | nb).context("open O_RDWR")?);
        self.ro = Some(Dev::open(libc::O_RDONLY | nb).context("open O_RDONLY")?);
        self.wo = Some(Dev::open(libc::O_WRONLY | nb).context("open O_WRONLY")?);
        self.m.open = 3;
        self.reopens += 1;
        Ok(())
    }

    fn fd(&self, which: Fd) -> i32 {
        match which {
            Fd::Rw => self.rw.as_ref(),
            Fd::Ro => self.ro.as_ref(),
            Fd::Wo => self.wo.as_ref(),
        }
        .map_or(-1, Dev::fd)
    }

    /// One ioctl, checked against the model.
    fn ioctl(&mut self, which: Fd, cmd64: u64, ptr: usize) -> Result<(), String> {
        let cmd = cmd64 as u32;
        let got = sys_ioctl(self.fd(which), cmd64, ptr);
        let valid = self.a.valid(ptr);
        let m = &mut self.m;
        match cmd {
            MYDEV_CLEAR | MYDEV_HANGUP | MYDEV_RESIZE if !which.writable() => {
                want_err(got, libc::EBADF)
            }
            MYDEV_CLEAR => {
                got.map_err(|e| format!("expected success, got {e}"))?;
                m.data.clear();
                Ok(())
            }
            MYDEV_HANGUP => {
                got.map_err(|e| format!("expected success, got {e}"))?;
                m.hung_up = true;
                Ok(())
            }
            MYDEV_RESIZE if valid < 4 => want_err(got, libc::EFAULT),
            MYDEV_RESIZE => {
                let size = le32(&self.a.bytes(ptr, 4), 0);
                if size == 0 || size > MYDEV_BUFFER_MAX {
                    return want_err(got, libc::EINVAL);
                }
                got.map_err(|e| format!("RESIZE {size}: expected success, got {e}"))?;
                m.cap = size as usize;
                m.data.truncate(m.cap);
                Ok(())
            }
            MYDEV_STATUS if valid < 24 => want_err(got, libc::EFAULT),
            MYDEV_STATUS => {
                got.map_err(|e| format!("expected success, got {e}"))?;
                let b = self.a.bytes(ptr, 24);
                let have: Vec<u32> = (0..6).map(|i| le32(&b, 4 * i)).collect();
                let want = [
                    m.cap as u32,
                    m.data.len() as u32,
                    m.open,
                    m.reads as u32,
                    m.writes as u32,
                    0,
                ];
                if have != want {
                    return Err(format!("STATUS fields {have:?}, model {want:?}"));
                }
                Ok(())
            }
            MYDEV_STATS if valid < 72 => want_err(got, libc::EFAULT),
            MYDEV_STATS => {
                got.map_err(|e| format!("expected success, got {e}"))?;
                let b = self.a.bytes(ptr, 72);
                let have = (
                    (le32(&b, 0), le32(&b, 4)),
                    [
                        le64(&b, 8),
                        le64(&b, 16),
                        le64(&b, 24),
                        le64(&b, 32),
                        le64(&b, 40),
                        le64(&b, 48),
                    ],
                    [le32(&b, 56), le32(&b, 60), le32(&b, 64), le32(&b, 68)],
                );
                let want = (
                    (72, 1),
                    [
                        m.bytes_read,
                        m.bytes_written,
                        m.reads,
                        m.writes,
                        m.reader_sleeps,
                        m.writer_sleeps,
                    ],
                    [0, 0, u32::from(m.hung_up), 0],
                );
                if have != want {
                    return Err(format!("STATS {have:?}, model {want:?}"));
                }
                Ok(())
            }
            FIONREAD if valid < 4 => want_err(got, libc::EFAULT),
            FIONREAD => {
                got.map_err(|e| format!("expected success, got {e}"))?;
                let n = le32(&self.a.bytes(ptr, 4), 0) as usize;
                if n != m.data.len() {
                    return Err(format!("FIONREAD {n}, model {}", m.data.len()));
                }
                Ok(())
            }
            _ => want_err(got, libc::ENOTTY),
        }
    }

    /// One non-blocking read, checked against the model.
    fn read(&mut self, which: Fd, ptr: usize, len: usize) -> Result<(), String> {
        let got = sys::read_raw(self.fd(which), ptr, len);
        self.rws += 1;
        let m = &mut self.m;
        if !which.readable() {
            return want_err(got.map(|n| n as i64), libc::EBADF);
        }
        if ptr >= 1 << 63 {
            return want_err(got.map(|n| n as i64), libc::EFAULT);
        }
        if len == 0 {
            return match got {
                Ok(0) => Ok(()),
                other => Err(format!("read of 0: expected 0, got {other:?}")),
            };
        }
        if m.data.is_empty() {
            return match (got, m.hung_up) {
                (Ok(0), true) => Ok(()),
                (Err(Errno::EAGAIN), false) => Ok(()),
                (other, hung_up) => Err(format!(
                    "read of an empty buffer (hung up {hung_up}): got {other:?}"
                )),
            };
        }
        let take = len.min(m.data.len());
        let valid = self.a.valid(ptr);
        let k = match got {
            Ok(k) if k == take && valid >= take => k,
            Ok(k) if valid < take && (1..=valid).contains(&k) => k,
            Err(Errno::EFAULT) if valid < take => 0,
            other => {
                return Err(format!(
                    "read of {len} with {} buffered and {valid} bytes accessible: got {other:?}",
                    m.data.len()
                ))
            }
        };
        if k > 0 {
            let want: Vec<u8> = m.data.drain(..k).collect();
            let have = self.a.bytes(ptr, k);
            if have != want {
                return Err(format!(
                    "read of {k} bytes returned other bytes than buffered"
                ));
            }
            m.reads += 1;
            m.bytes_read += k as u64;
        }
        Ok(())
    }

    /// One non-blocking write, checked against the model.
    fn write(&mut self, rng: &mut Rng, which: Fd, ptr: usize, len: usize) -> Result<(), String> {
        let src: Vec<u8> = (0..len.min(self.a.valid(ptr)))
            .map(|_| rng.next_u64() as u8)
            .collect();
        self.a.fill(ptr, &src);
        let got = sys::write_raw(self.fd(which), ptr, len);
        self.rws += 1;
        let m = &mut self.m;
        if !which.writable() {
            return want_err(got.map(|n| n as i64), libc::EBADF);
        }
        if ptr >= 1 << 63 {
            return want_err(got.map(|n| n as i64), libc::EFAULT);
        }
        if len == 0 {
            return match got {
                Ok(0) => Ok(()),
                other => Err(format!("write of 0: expected 0, got {other:?}")),
            };
        }
        if m.hung_up {
            return want_err(got.map(|n| n as i64), libc::EPIPE);
        }
        let need = if len <= m.cap.min(4096) { len } else { 1 };
        let free = m.cap - m.data.len();
        if free < need {
            return want_err(got.map(|n| n as i64), libc::EAGAIN);
        }
        let max = len.min(free);
        let valid = self.a.valid(ptr);
        let k = match got {
            Ok(k) if k == max && valid >= max => k,
            Ok(k) if valid < max && (1..=valid).contains(&k) => k,
            Err(Errno::EFAULT) if valid < max => 0,
            other => {
                return Err(format!(
                "write of {len} with {free} free of {} and {valid} bytes accessible: got {other:?}",
                m.cap
            ))
            }
        };
        if k > 0 {
            m.data.extend(&src[..k]);
            m.writes += 1;
            m.bytes_written += k as u64;
        }
        Ok(())
    }

    /// STATUS, STATS, FIONREAD and /proc/mydevice agree with the model.
    fn invariants(&mut self) -> Result<(), String> {
        let ptr = self.a.map.addr;
        for cmd in [MYDEV_STATUS, MYDEV_STATS, FIONREAD] {
            self.ioctl(Fd::Ro, u64::from(cmd), ptr)
                .map_err(|e| format!("invariant {cmd:#x}: {e}"))?;
        }
        let m = &self.m;
        if m.data.len() > m.cap {
            return Err(format!("model holds {} of {}", m.data.len(), m.cap));
        }
        let text = proc_text().map_err(|e| format!("{e:?}"))?;
        let kv = parse_proc(&text).map_err(|e| format!("{e:?}"))?;
        let have: Vec<(&str, u64)> = kv
            .iter()
            .map(|(k, v)| (k.as_str(), v.parse().unwrap_or(u64::MAX)))
            .collect();
        let want = [
            ("buffer_size", m.cap as u64),
            ("bytes_used", m.data.len() as u64),
            ("open_count", u64::from(m.open)),
            ("read_count", m.reads & 0xffff_ffff),
            ("write_count", m.writes & 0xffff_ffff),
            ("bytes_read", m.bytes_read),
            ("bytes_written", m.bytes_written),
            ("readers_waiting", 0),
            ("writers_waiting", 0),
            ("hung_up", u64::from(m.hung_up)),
        ];
        if have != want {
            return Err(format!("/proc/mydevice {have:?}, model {want:?}"));
        }
        Ok(())
    }
}

fn seed() -> u64 {
    std::env::var("MYDEVICE_FUZZ_SEED")
        .ok()
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        .max(1)
}

fn iters() -> u64 {
    std::env::var("MYDEVICE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERS)
}

/// Records a step's failure with the seed and the step; aborts after ten.
fn report(t: &mut T, fails: &mut u32, seed: u64, step: u64, what: &str, e: String) -> TestResult {
    *fails += 1;
    t.fail(format!("seed {seed:#x} step {step}: {what}: {e}"));
    ensure!(
        *fails < 10,
        "too many failures; replay with MYDEVICE_FUZZ_SEED={seed:#x}"
    );
    Ok(())
}

// Every ioctl number of magic 'M', in every direction, size and kind of pointer, and on every
// kind of descriptor, does what the model says: the known ones their job, the others ENOTTY.
fn every_magic_m_ioctl_matches_the_model(t: &mut T) -> TestResult {
    let seed = seed();
    t.diag(format!("seed {seed:#x} (MYDEVICE_FUZZ_SEED replays it)"));
    let mut rng = Rng(seed);
    let mut f = Fuzz::open()?;
    let mut fails = 0;
    let start = Instant::now();
    let mut step = 0u64;
    for nr in 0..=255u32 {
        for dir in 0..4u32 {
            let sizes = [0, 1, 4, 24, 72, 4096, rng.below(0x4000) as u32];
            for size in sizes {
                let cmd = ioc(dir, u32::from(b'M'), nr, size);
                for (which, pk) in Fd::ALL
                    .into_iter()
                    .flat_map(|w| (3..POINTER_KINDS).map(move |k| (w, k)))
                {
                    step += 1;
                    let (ptr, kind) = pointer_of(&mut rng, &f.a, 72, pk);
                    if cmd == MYDEV_RESIZE && f.a.valid(ptr) >= 4 {
                        // Mostly sizes that work, so that the rest of the sweep has room.
                        let v = rng.pick(&[0u32, 64, 4096, 4096, 65536, MYDEV_BUFFER_MAX + 1]);
                        f.a.fill(ptr, &v.to_ne_bytes());
                    }
                    f.ioctls += 1;
                    if let Err(e) = f.ioctl(which, u64::from(cmd), ptr) {
                        let what = format!("ioctl({which:?}, {cmd:#010x}, {kind} {ptr:#x})");
                        report(t, &mut fails, seed, step, &what, e)?;
                    }
                    if f.m.hung_up {
                        f.reopen()?;
                    }
                }
            }
        }
        if let Err(e) = f.invariants() {
            report(t, &mut fails, seed, step, &format!("after nr {nr}"), e)?;
        }
    }
    t.diag(format!(
        "{} ioctls in {:.1} s",
        f.ioctls,
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// A random length: edges of the capacity and the atomic limit, and anything.
fn length(rng: &mut Rng, cap: usize) -> usize {
    match rng.below(8) {
        0 => 0,
        1 => rng.pick(&[1, 63, 64, 4095, 4096, 4097]),
        2 => cap.saturating_sub(1).max(1),
        3 => cap,
        4 => cap + 1,
        5 => rng.below(64) as usize,
        _ => rng.below(20_000) as usize,
    }
}

// Random ioctls (of magic 'M' and foreign), reads and writes with random sizes and pointers keep
// the device equal to the model, with STATUS, STATS, FIONREAD and /proc in agreement after each.
fn random_steps_match_the_model(t: &mut T) -> TestResult {
    let seed = seed().wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let iters = iters();
    t.diag(format!(
        "seed {seed:#x}, {iters} steps (MYDEVICE_FUZZ_SEED and MYDEVICE_FUZZ_ITERS)"
    ));
    sys::ignore_signal(libc::SIGPIPE).context("ignore SIGPIPE")?;
    let mut rng = Rng(seed);
    let mut f = Fuzz::open()?;
    let mut fails = 0;
    let start = Instant::now();
    let known = [
        MYDEV_CLEAR,
        MYDEV_RESIZE,
        MYDEV_STATUS,
        MYDEV_HANGUP,
        MYDEV_STATS,
        FIONREAD,
    ];
    let mut foreign = 0u64;
    for step in 0..iters {
        let which = rng.pick(&Fd::ALL);
        let (what, r) = match rng.below(12) {
            0..=3 => {
                let len = length(&mut rng, f.m.cap);
                let (ptr, kind) = pointer(&mut rng, &f.a, len);
                (
                    format!("read({which:?}, {kind} {ptr:#x}, {len})"),
                    f.read(which, ptr, len),
                )
            }
            4..=7 => {
                let len = length(&mut rng, f.m.cap);
                let (ptr, kind) = pointer(&mut rng, &f.a, len);
                (
                    format!("write({which:?}, {kind} {ptr:#x}, {len})"),
                    f.write(&mut rng, which, ptr, len),
                )
            }
            _ => {
                let cmd: u64 = match rng.below(4) {
                    0 => u64::from(rng.pick(&known)),
                    // The kernel takes the command as a 32-bit number.
                    1 => u64::from(rng.pick(&known)) | rng.next_u64() << 32,
                    2 => u64::from(ioc(
                        rng.below(4) as u32,
                        u32::from(b'M'),
                        rng.below(256) as u32,
                        rng.below(0x4000) as u32,
                    )),
                    _ => loop {
                        let c = rng.next_u64() as u32;
                        if !VFS_MAGICS.contains(&(c >> 8 & 0xff)) && c >> 8 & 0xff != 0x4d {
                            foreign += 1;
                            break u64::from(c);
                        }
                    },
                };
                let (ptr, kind) = pointer(&mut rng, &f.a, 72);
                if cmd as u32 == MYDEV_RESIZE && f.a.valid(ptr) >= 4 {
                    let v = match rng.below(8) {
                        0 => 0,
                        1 => MYDEV_BUFFER_MAX + 1 + rng.below(1 << 20) as u32,
                        2 => MYDEV_BUFFER_MAX,
                        3 => 1 + rng.below(64) as u32,
                        _ => 1 + rng.below(16384) as u32,
                    };
                    f.a.fill(ptr, &v.to_ne_bytes());
                }
                f.ioctls += 1;
                (
                    format!("ioctl({which:?}, {cmd:#x}, {kind} {ptr:#x})"),
                    f.ioctl(which, cmd, ptr),
                )
            }
        };
        if let Err(e) = r {
            report(t, &mut fails, seed, step, &what, e)?;
        }
        if let Err(e) = f.invariants() {
            report(t, &mut fails, seed, step, &format!("after {what}"), e)?;
        }
        if f.m.hung_up && rng.below(4) == 0 {
            f.reopen()?;
        }
    }
    t.diag(format!(
        "{} ioctls ({foreign} foreign), {} reads and writes, {} reopens in {:.1} s",
        f.ioctls,
        f.rws,
        f.reopens,
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(every_magic_m_ioctl_matches_the_model, 120),
            test!(random_steps_match_the_model, 240),
        ],
    )
}
