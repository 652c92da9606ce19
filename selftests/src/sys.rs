// SPDX-License-Identifier: GPL-2.0-only

//! Thin wrappers around the system calls the tests make.
//!
//! Every wrapper returns the raw `errno` as an [`Errno`], so a test can say
//! exactly which error it expected. The `_retry` variants retry `EINTR` and
//! are for tests that do not study `EINTR` themselves.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use mydevice_abi::sys::Errno;

/// The result of a system call.
pub type SysResult<T> = Result<T, Errno>;

/// Calls `f` until it fails with something other than `EINTR`.
pub use mydevice_abi::sys::retry_eintr as retry;

/// `open(2)`.
pub fn open(path: &str, flags: i32) -> SysResult<i32> {
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    Errno::result(fd as libc::c_long).map(|fd| fd as i32)
}

/// `close(2)`.
pub fn close(fd: i32) -> SysResult<()> {
    // SAFETY: Closing a descriptor has no memory-safety requirements.
    Errno::result(unsafe { libc::close(fd) } as libc::c_long).map(|_| ())
}

/// `read(2)` into `buf`.
pub fn read(fd: i32, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(n as libc::c_long).map(|n| n as usize)
}

/// `write(2)` from `buf`.
pub fn write(fd: i32, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    Errno::result(n as libc::c_long).map(|n| n as usize)
}

/// `read(2)` into an arbitrary address, for the fault tests.
pub fn read_raw(fd: i32, addr: usize, len: usize) -> SysResult<usize> {
    // SAFETY: The kernel checks the address; a bad one gives EFAULT and
    // touches no memory of this process that the test did not hand over.
    let n = unsafe { libc::read(fd, addr as *mut libc::c_void, len) };
    Errno::result(n as libc::c_long).map(|n| n as usize)
}

/// `write(2)` from an arbitrary address, for the fault tests.
pub fn write_raw(fd: i32, addr: usize, len: usize) -> SysResult<usize> {
    // SAFETY: The kernel only reads from the address and checks it.
    let n = unsafe { libc::write(fd, addr as *const libc::c_void, len) };
    Errno::result(n as libc::c_long).map(|n| n as usize)
}

/// `ioctl(2)` with an arbitrary argument word.
pub fn ioctl_raw(fd: i32, cmd: u32, arg: usize) -> SysResult<i32> {
    // SAFETY: The argument is passed to the kernel as a plain word; the
    // kernel validates any pointer in it.
    let r = unsafe { libc::ioctl(fd, cmd as _, arg) };
    Errno::result(r as libc::c_long).map(|r| r as i32)
}

/// `fcntl(fd, F_GETFL)` and `F_SETFL` with `flags` added.
pub fn add_fl(fd: i32, flags: i32) -> SysResult<()> {
    // SAFETY: F_GETFL and F_SETFL take no pointers.
    let old = Errno::result(unsafe { libc::fcntl(fd, libc::F_GETFL) } as libc::c_long)? as i32;
    // SAFETY: As above.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFL, old | flags) } as libc::c_long)
        .map(|_| ())
}

/// `fcntl(fd, F_SETOWN, pid)`.
pub fn set_owner(fd: i32, pid: i32) -> SysResult<()> {
    // SAFETY: F_SETOWN takes no pointers.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETOWN, pid) } as libc::c_long).map(|_| ())
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
        Errno::result(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long)?;
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
    Errno::result(unsafe { libc::poll(&mut p, 1, timeout_ms) } as libc::c_long)?;
    Ok(p.revents)
}

/// Sends `sig` to `pid`.
pub fn kill(pid: i32, sig: i32) -> SysResult<()> {
    // SAFETY: kill() takes no pointers.
    Errno::result(unsafe { libc::kill(pid, sig) } as libc::c_long).map(|_| ())
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
    Errno::result(unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } as libc::c_long)
        .map(|_| ())
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
        Errno::result(unsafe {
            libc::mprotect((self.addr + index * ps) as *mut _, ps, libc::PROT_NONE)
        } as libc::c_long)
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

/// `RWF_NOWAIT` of `preadv2(2)`/`pwritev2(2)`: fail with `EAGAIN` rather than wait.
pub const RWF_NOWAIT: i32 = 0x08;
/// `RWF_NOSIGNAL` of `pwritev2(2)`: `EPIPE` without `SIGPIPE`.
pub const RWF_NOSIGNAL: i32 = 0x100;

/// `preadv2(2)` of up to `n` bytes at the current position (offset -1) with `RWF_*` `flags`.
pub fn preadv2(fd: i32, n: usize, flags: i32) -> SysResult<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: n,
    };
    // SAFETY: `iov` describes `buf`, which is valid for writes of `n` bytes.
    let got = Errno::result(unsafe { libc::preadv2(fd, &iov, 1, -1, flags) } as libc::c_long)?;
    buf.truncate(got as usize);
    Ok(buf)
}

/// `pwritev2(2)` of `data` at the current position (offset -1) with `RWF_*` `flags`.
pub fn pwritev2(fd: i32, data: &[u8], flags: i32) -> SysResult<usize> {
    let iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: `iov` describes `data`, which the kernel only reads.
    let n = Errno::result(unsafe { libc::pwritev2(fd, &iov, 1, -1, flags) } as libc::c_long)?;
    Ok(n as usize)
}

/// `splice(2)` of up to `len` bytes from `fd_in` to `fd_out`, at the current positions.
pub fn splice(fd_in: i32, fd_out: i32, len: usize, flags: u32) -> SysResult<usize> {
    let null = std::ptr::null_mut();
    // SAFETY: Null offsets make the kernel use the files' own positions.
    let n = unsafe { libc::splice(fd_in, null, fd_out, null, len, flags) };
    Errno::result(n as libc::c_long).map(|n| n as usize)
}

/// `tee(2)` of up to `len` bytes from the pipe `fd_in` to the pipe `fd_out`.
pub fn tee(fd_in: i32, fd_out: i32, len: usize, flags: u32) -> SysResult<usize> {
    // SAFETY: tee() takes no pointers.
    let n = unsafe { libc::tee(fd_in, fd_out, len, flags) };
    Errno::result(n as libc::c_long).map(|n| n as usize)
}

/// `sendfile(2)` of up to `count` bytes from `in_fd` to `out_fd`, at the current positions.
pub fn sendfile(out_fd: i32, in_fd: i32, count: usize) -> SysResult<usize> {
    // SAFETY: A null offset makes the kernel use the input file's position.
    let n = unsafe { libc::sendfile(out_fd, in_fd, std::ptr::null_mut(), count) };
    Errno::result(n as libc::c_long).map(|n| n as usize)
}

fn sigset_of(sig: i32) -> libc::sigset_t {
    // SAFETY: An all-zero sigset_t is valid storage for sigemptyset().
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid; `sig` is a valid signal number for the callers.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
    }
    set
}

/// Blocks `sig` for the calling thread, so that it stays pending when raised.
pub fn block_signal(sig: i32) -> SysResult<()> {
    let set = sigset_of(sig);
    // SAFETY: `set` is a valid signal set; the old mask is not wanted.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(Errno::from_raw(r));
    }
    Ok(())
}

/// Whether `sig` is pending (raised while blocked) for the calling thread or its process.
pub fn signal_pending(sig: i32) -> SysResult<bool> {
    // SAFETY: An all-zero sigset_t is valid storage for sigpending().
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writes.
    Errno::result(unsafe { libc::sigpending(&mut set) } as libc::c_long)?;
    // SAFETY: `set` was filled in by sigpending().
    Ok(unsafe { libc::sigismember(&set, sig) } == 1)
}

/// Takes a pending, blocked `sig` off the queue; returns whether there was one.
pub fn take_pending(sig: i32) -> bool {
    let set = sigset_of(sig);
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` and `zero` are valid; no siginfo is wanted.
    unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == sig }
}

/// `select(2)` on one descriptor, asking for readability and/or writability.
///
/// Returns (readable, writable); both false after `timeout_ms` without readiness.
pub fn select_one(fd: i32, read: bool, write: bool, timeout_ms: i64) -> SysResult<(bool, bool)> {
    // SAFETY: All-zero fd_sets are valid empty sets.
    let mut r: libc::fd_set = unsafe { std::mem::zeroed() };
    // SAFETY: As above.
    let mut w: libc::fd_set = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is below FD_SETSIZE in these small tests; the sets are valid.
    unsafe {
        if read {
            libc::FD_SET(fd, &mut r);
        }
        if write {
            libc::FD_SET(fd, &mut w);
        }
    }
    let mut tv = libc::timeval {
        tv_sec: timeout_ms / 1000,
        tv_usec: (timeout_ms % 1000) * 1000,
    };
    // SAFETY: The sets and the timeval are valid for the call.
    let n = unsafe { libc::select(fd + 1, &mut r, &mut w, std::ptr::null_mut(), &mut tv) };
    Errno::result(n as libc::c_long)?;
    // SAFETY: Reading the sets the kernel filled in.
    Ok(unsafe { (libc::FD_ISSET(fd, &r), libc::FD_ISSET(fd, &w)) })
}

/// Names the bits of a poll or epoll mask, such as `POLLIN|POLLHUP`, for messages.
pub fn poll_names(mask: u32) -> String {
    let names = [
        (libc::POLLIN, "POLLIN"),
        (libc::POLLPRI, "POLLPRI"),
        (libc::POLLOUT, "POLLOUT"),
        (libc::POLLERR, "POLLERR"),
        (libc::POLLHUP, "POLLHUP"),
        (libc::POLLNVAL, "POLLNVAL"),
        (libc::POLLRDNORM, "POLLRDNORM"),
        (libc::POLLRDBAND, "POLLRDBAND"),
        (libc::POLLWRNORM, "POLLWRNORM"),
        (libc::POLLWRBAND, "POLLWRBAND"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| mask & (*b as u16 as u32) != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

/// An epoll instance, closed on drop.
pub struct Epoll {
    /// The epoll descriptor.
    pub fd: i32,
}

impl Epoll {
    /// Creates an empty instance.
    pub fn new() -> SysResult<Self> {
        // SAFETY: epoll_create1() takes no pointers.
        let fd =
            Errno::result(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) } as libc::c_long)?;
        Ok(Epoll { fd: fd as i32 })
    }

    /// Creates an instance watching `target` for `events`.
    pub fn watching(target: i32, events: u32) -> SysResult<Self> {
        let ep = Self::new()?;
        ep.add(target, events)?;
        Ok(ep)
    }

    /// `EPOLL_CTL_ADD` of `target` for `events`.
    pub fn add(&self, target: i32, events: u32) -> SysResult<()> {
        let mut ev = libc::epoll_event {
            events,
            u64: target as u64,
        };
        // SAFETY: `ev` is a valid event for the call.
        let r = unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, target, &mut ev) };
        Errno::result(r as libc::c_long).map(|_| ())
    }

    /// The event masks reported within `timeout_ms`, retrying `EINTR`.
    pub fn wait(&self, timeout_ms: i32) -> SysResult<Vec<u32>> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
        let n = retry(|| {
            // SAFETY: `evs` has room for 4 events.
            let n = unsafe { libc::epoll_wait(self.fd, evs.as_mut_ptr(), 4, timeout_ms) };
            Errno::result(n as libc::c_long)
        })?;
        Ok(evs[..n as usize].iter().map(|e| e.events).collect())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        let _ = close(self.fd);
    }
}
