// SPDX-License-Identifier: GPL-2.0

//! Thin wrappers around the system calls the tests make.
//!
//! Every wrapper returns the raw `errno` as an [`Errno`], so a test can say
//! exactly which error it expected. The `_retry` variants retry `EINTR` and
//! are for tests that do not study `EINTR` themselves.

use std::ffi::CString;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An `errno` value, printed by name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The `errno` of the last failed call of this thread.
    pub fn last() -> Self {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The symbolic name, such as `EAGAIN`.
    pub fn name(self) -> &'static str {
        match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::ESRCH => "ESRCH",
            libc::EINTR => "EINTR",
            libc::EIO => "EIO",
            libc::ENXIO => "ENXIO",
            libc::EBADF => "EBADF",
            libc::ECHILD => "ECHILD",
            libc::EAGAIN => "EAGAIN",
            libc::ENOMEM => "ENOMEM",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EEXIST => "EEXIST",
            libc::ENODEV => "ENODEV",
            libc::EINVAL => "EINVAL",
            libc::ENOTTY => "ENOTTY",
            libc::ENOSPC => "ENOSPC",
            libc::EPIPE => "EPIPE",
            libc::ENOSYS => "ENOSYS",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            libc::ENOEXEC => "ENOEXEC",
            512 => "ERESTARTSYS",
            _ => "errno",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The result of a system call.
pub type SysResult<T> = Result<T, Errno>;

/// Turns a `-1`-on-error return value into a [`SysResult`].
pub fn check(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Calls `f` until it fails with something other than `EINTR`.
pub fn retry<T>(mut f: impl FnMut() -> SysResult<T>) -> SysResult<T> {
    loop {
        match f() {
            Err(Errno(libc::EINTR)) => continue,
            other => return other,
        }
    }
}

/// `open(2)`.
pub fn open(path: &str, flags: i32) -> SysResult<i32> {
    let c = CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    check(fd as libc::c_long).map(|fd| fd as i32)
}

/// `close(2)`.
pub fn close(fd: i32) -> SysResult<()> {
    // SAFETY: Closing a descriptor has no memory-safety requirements.
    check(unsafe { libc::close(fd) } as libc::c_long).map(|_| ())
}

/// `read(2)` into `buf`.
pub fn read(fd: i32, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    check(n as libc::c_long).map(|n| n as usize)
}

/// `write(2)` from `buf`.
pub fn write(fd: i32, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    check(n as libc::c_long).map(|n| n as usize)
}

/// `read(2)` into an arbitrary address, for the fault tests.
pub fn read_raw(fd: i32, addr: usize, len: usize) -> SysResult<usize> {
    // SAFETY: The kernel checks the address; a bad one gives EFAULT and
    // touches no memory of this process that the test did not hand over.
    let n = unsafe { libc::read(fd, addr as *mut libc::c_void, len) };
    check(n as libc::c_long).map(|n| n as usize)
}

/// `write(2)` from an arbitrary address, for the fault tests.
pub fn write_raw(fd: i32, addr: usize, len: usize) -> SysResult<usize> {
    // SAFETY: The kernel only reads from the address and checks it.
    let n = unsafe { libc::write(fd, addr as *const libc::c_void, len) };
    check(n as libc::c_long).map(|n| n as usize)
}

/// `ioctl(2)` with an arbitrary argument word.
pub fn ioctl_raw(fd: i32, cmd: u32, arg: usize) -> SysResult<i32> {
    // SAFETY: The argument is passed to the kernel as a plain word; the
    // kernel validates any pointer in it.
    let r = unsafe { libc::ioctl(fd, cmd as _, arg) };
    check(r as libc::c_long).map(|r| r as i32)
}

/// `fcntl(fd, F_GETFL)` and `F_SETFL` with `flags` added.
pub fn add_fl(fd: i32, flags: i32) -> SysResult<()> {
    // SAFETY: F_GETFL and F_SETFL take no pointers.
    let old = check(unsafe { libc::fcntl(fd, libc::F_GETFL) } as libc::c_long)? as i32;
    // SAFETY: As above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, old | flags) } as libc::c_long).map(|_| ())
}

/// `fcntl(fd, F_SETOWN, pid)`.
pub fn set_owner(fd: i32, pid: i32) -> SysResult<()> {
    // SAFETY: F_SETOWN takes no pointers.
    check(unsafe { libc::fcntl(fd, libc::F_SETOWN, pid) } as libc::c_long).map(|_| ())
}

/// A pipe of two descriptors.
pub struct Pipe {
    /// The read end.
    pub rd: i32,
    /// The write end.
    pub wr: i32,
}

impl Pipe {
    /// Creates a close-on-exec pipe.
    pub fn new() -> SysResult<Self> {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for two descriptors.
        check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long)?;
        Ok(Pipe {
            rd: fds[0],
            wr: fds[1],
        })
    }
}

/// `poll(2)` on one descriptor; returns `revents`, or 0 on timeout.
pub fn poll_one(fd: i32, events: i16, timeout_ms: i32) -> SysResult<i16> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd.
    check(unsafe { libc::poll(&mut p, 1, timeout_ms) } as libc::c_long)?;
    Ok(p.revents)
}

/// Sends `sig` to `pid`.
pub fn kill(pid: i32, sig: i32) -> SysResult<()> {
    // SAFETY: kill() takes no pointers.
    check(unsafe { libc::kill(pid, sig) } as libc::c_long).map(|_| ())
}

/// The calling process's id.
pub fn getpid() -> i32 {
    // SAFETY: getpid() cannot fail.
    unsafe { libc::getpid() }
}

/// How many times [`counting_handler`] has run, per signal number.
static SIGNAL_COUNTS: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];

extern "C" fn counting_handler(sig: i32) {
    if let Some(c) = SIGNAL_COUNTS.get(sig as usize) {
        c.fetch_add(1, Ordering::SeqCst);
    }
}

/// How many times `sig` has been caught by a handler from [`catch_signal`].
pub fn signal_count(sig: i32) -> usize {
    SIGNAL_COUNTS[sig as usize].load(Ordering::SeqCst)
}

/// Installs a counting handler for `sig`, with or without `SA_RESTART`.
pub fn catch_signal(sig: i32, restart: bool) -> SysResult<()> {
    let handler: extern "C" fn(i32) = counting_handler;
    set_action(
        sig,
        handler as usize,
        if restart { libc::SA_RESTART } else { 0 },
    )
}

/// Sets `sig` to `SIG_IGN`.
pub fn ignore_signal(sig: i32) -> SysResult<()> {
    set_action(sig, libc::SIG_IGN, 0)
}

/// Sets `sig` to `SIG_DFL`.
pub fn default_signal(sig: i32) -> SysResult<()> {
    set_action(sig, libc::SIG_DFL, 0)
}

fn set_action(sig: i32, handler: usize, flags: i32) -> SysResult<()> {
    // SAFETY: An all-zero sigaction is a valid value (empty mask, no flags).
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler;
    sa.sa_flags = flags;
    // SAFETY: `sa` is initialised; the handler, if any, is async-signal-safe
    // (it only touches atomics).
    check(unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } as libc::c_long).map(|_| ())
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sleeps for `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// An anonymous mapping, unmapped on drop.
pub struct Mapping {
    /// The first byte.
    pub addr: usize,
    /// The length in bytes.
    pub len: usize,
}

impl Mapping {
    /// Maps `pages` readable and writable pages.
    pub fn new(pages: usize) -> SysResult<Self> {
        Self::anonymous(pages, libc::MAP_PRIVATE)
    }

    /// Maps `pages` readable and writable pages shared with forked children.
    pub fn shared(pages: usize) -> SysResult<Self> {
        Self::anonymous(pages, libc::MAP_SHARED)
    }

    /// Maps `pages` anonymous readable and writable pages, `MAP_PRIVATE` or
    /// `MAP_SHARED` as `sharing` says.
    fn anonymous(pages: usize, sharing: i32) -> SysResult<Self> {
        let len = pages * page_size();
        // SAFETY: An anonymous mapping at a kernel-chosen address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                sharing | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        Ok(Mapping {
            addr: p as usize,
            len,
        })
    }

    /// The mapping as 64-bit atomic words, for counters shared across `fork()`.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: The mapping is page-aligned, readable and writable, lives
        // as long as `self`, and is only ever accessed through atomics (or by
        // the kernel, as a read(2) buffer, which the atomics then observe).
        unsafe { std::slice::from_raw_parts(self.addr as *const AtomicU64, self.len / 8) }
    }

    /// Makes page `index` inaccessible.
    pub fn protect_none(&self, index: usize) -> SysResult<()> {
        let ps = page_size();
        // SAFETY: The page lies inside this mapping; nothing in Rust holds a
        // reference to it.
        check(
            unsafe { libc::mprotect((self.addr + index * ps) as *mut _, ps, libc::PROT_NONE) }
                as libc::c_long,
        )
        .map(|_| ())
    }

    /// Copies `data` into the mapping at byte `offset`.
    pub fn fill(&self, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= self.len);
        // SAFETY: The range is inside the mapping, which the caller keeps
        // accessible there.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                (self.addr + offset) as *mut u8,
                data.len(),
            )
        };
    }

    /// Copies `len` bytes out of the mapping at byte `offset`.
    pub fn bytes(&self, offset: usize, len: usize) -> Vec<u8> {
        assert!(offset + len <= self.len);
        let mut v = vec![0u8; len];
        // SAFETY: The range is inside the mapping and accessible.
        unsafe {
            std::ptr::copy_nonoverlapping((self.addr + offset) as *const u8, v.as_mut_ptr(), len)
        };
        v
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: This mapping was created by mmap with this length.
        unsafe { libc::munmap(self.addr as *mut _, self.len) };
    }
}

/// The page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf() takes no pointers.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}
