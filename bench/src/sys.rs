// SPDX-License-Identifier: GPL-2.0-only

//! Processes, deadlines, clocks, pipes and `/proc` readers for the workloads.
//!
//! Nothing may hang. Every child runs under `alarm()` with the default
//! `SIGALRM` action, so a stuck child dies; it also dies with the parent
//! (`PR_SET_PDEATHSIG`). The parent arms a [`Deadline`] per run: its
//! `SIGALRM` handler is installed without `SA_RESTART`, so a blocked call
//! returns `EINTR`, which the I/O helpers here turn into a `TimedOut` error.
//! [`Children`] kills and reaps whatever is left when it is dropped.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use mydevice_abi::sys::{Errno, OFlag};
use nix::fcntl::{self, SpliceFFlags};
use nix::unistd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static ALARMED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_alarm(_signal: libc::c_int) {
    ALARMED.store(true, Ordering::SeqCst);
}

/// Installs the parent's `SIGALRM` handler and ignores `SIGPIPE`.
///
/// # Errors
///
/// Fails if `sigaction` does.
pub fn install_signal_handlers() -> io::Result<()> {
    // SAFETY: An all-zero `sigaction` is a valid value (empty mask, no flags).
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // No SA_RESTART: a blocked call must return EINTR when the deadline hits.
    act.sa_flags = 0;
    // SAFETY: `act` is initialised, the handler only stores to an atomic,
    // which is async-signal-safe, and a null old-action pointer is allowed.
    Errno::result(unsafe { libc::sigaction(libc::SIGALRM, &act, std::ptr::null_mut()) })?;
    // SAFETY: Ignoring SIGPIPE has no memory-safety requirement.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    Ok(())
}

/// A time limit on the parent's blocking calls, disarmed when dropped.
pub struct Deadline(());

impl Deadline {
    /// Arms `alarm(secs)`.
    pub fn arm(secs: u32) -> Self {
        ALARMED.store(false, Ordering::SeqCst);
        // SAFETY: `alarm` has no memory-safety requirement.
        unsafe { libc::alarm(secs.max(1)) };
        Deadline(())
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        // SAFETY: `alarm` has no memory-safety requirement.
        unsafe { libc::alarm(0) };
        ALARMED.store(false, Ordering::SeqCst);
    }
}

/// Whether the current [`Deadline`] has passed.
pub fn timed_out() -> bool {
    ALARMED.load(Ordering::SeqCst)
}

fn timeout_error(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what}: deadline passed"))
}

/// Runs `call` until it succeeds, fails with something other than `EINTR`,
/// or the deadline passes (its `SIGALRM` interrupts a blocked call).
///
/// # Errors
///
/// The call's errno, kept as an OS error so that callers can tell `EINVAL`
/// apart, or `TimedOut`.
fn until_deadline<T>(what: &str, mut call: impl FnMut() -> Result<T, Errno>) -> io::Result<T> {
    loop {
        match call() {
            Ok(v) => return Ok(v),
            Err(Errno::EINTR) if timed_out() => return Err(timeout_error(what)),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// One `read()`, retried on `EINTR` until the deadline.
///
/// # Errors
///
/// The `read` error, or `TimedOut`.
pub fn read_some(fd: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    until_deadline("read", || unistd::read(fd.as_fd(), buf))
}

/// Reads exactly `buf.len()` bytes.
///
/// # Errors
///
/// The `read` error, `TimedOut`, or `UnexpectedEof` at end of file.
pub fn read_exact(fd: impl AsFd, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match read_some(fd.as_fd(), &mut buf[done..])? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => done += n,
        }
    }
    Ok(())
}

/// One `write()`, retried on `EINTR` until the deadline.
///
/// # Errors
///
/// The `write` error, or `TimedOut`.
pub fn write_some(fd: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    until_deadline("write", || unistd::write(fd.as_fd(), buf))
}

/// Writes all of `buf`.
///
/// # Errors
///
/// The `write` error, `TimedOut`, or `WriteZero`.
pub fn write_all(fd: impl AsFd, buf: &[u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match write_some(fd.as_fd(), &buf[done..])? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => done += n,
        }
    }
    Ok(())
}

/// One `splice(fd_in, NULL, fd_out, NULL, len, 0)`, retried on `EINTR`
/// until the deadline. Returns the bytes moved, 0 at end of input.
///
/// # Errors
///
/// The `splice` error, e.g. `EINVAL` when either side does not support it,
/// or `TimedOut`.
pub fn splice_some(fd_in: impl AsFd, fd_out: impl AsFd, len: usize) -> io::Result<usize> {
    until_deadline("splice", || {
        fcntl::splice(
            fd_in.as_fd(),
            None,
            fd_out.as_fd(),
            None,
            len,
            SpliceFFlags::empty(),
        )
    })
}

/// One `vmsplice` of `buf` into the pipe `fd`, retried on `EINTR` until the
/// deadline. Returns the bytes taken, which may be fewer than `buf.len()`
/// when the pipe has too few free slots.
///
/// # Errors
///
/// The `vmsplice` error, or `TimedOut`.
///
/// # Safety
///
/// The pipe then refers to the pages of `buf` rather than holding a copy,
/// until a reader or a splice out of it consumes them: the caller must not
/// change the bytes of `buf` while any pipe may still refer to them.
pub unsafe fn vmsplice_some(fd: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    let iov = [io::IoSlice::new(buf)];
    until_deadline("vmsplice", || {
        // SAFETY: No `SPLICE_F_GIFT`, so the kernel only reads the pages;
        // the caller keeps their bytes unchanged while a pipe refers to them.
        unsafe { fcntl::vmsplice(fd.as_fd(), &iov, SpliceFFlags::empty()) }
    })
}

/// Reads `CLOCK_MONOTONIC` in nanoseconds; it is the same clock in every
/// process, so a stamp taken in one can be compared in another.
pub fn now_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always there");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// Creates a pipe, `(read end, write end)`, both close-on-exec.
///
/// # Errors
///
/// Fails if `pipe2` does.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(unistd::pipe2(OFlag::O_CLOEXEC)?)
}

/// Sets a pipe's capacity with `F_SETPIPE_SZ` and returns the size the
/// kernel chose: it rounds up to a power-of-two number of pages.
///
/// # Errors
///
/// Fails if `fcntl` does, e.g. `EPERM` above `pipe-max-size` without
/// `CAP_SYS_RESOURCE`.
pub fn set_pipe_size(fd: impl AsFd, size: usize) -> io::Result<usize> {
    let size =
        libc::c_int::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let got = fcntl::fcntl(fd.as_fd(), fcntl::FcntlArg::F_SETPIPE_SZ(size))?;
    Ok(got as usize)
}

/// Forked children that are killed and reaped when dropped.
#[derive(Default)]
pub struct Children {
    pids: Vec<libc::pid_t>,
}

impl Children {
    /// Creates an empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The children not reaped yet.
    pub fn pids(&self) -> &[libc::pid_t] {
        &self.pids
    }

    /// Forks a child that runs `f` and exits with its return value.
    ///
    /// The child dies by `SIGALRM` after `timeout_secs`, and by `SIGKILL`
    /// when the parent dies. A panic in `f` exits with 101. The child leaves
    /// with `_exit`, running no destructors.
    ///
    /// # Errors
    ///
    /// Fails if `fork` does.
    pub fn spawn<F: FnOnce() -> i32>(
        &mut self,
        timeout_secs: u32,
        f: F,
    ) -> io::Result<libc::pid_t> {
        use std::io::Write;
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        // SAFETY: This program is single-threaded, so the child may go on
        // running ordinary Rust code, allocation included.
        let pid = Errno::result(unsafe { libc::fork() })?;
        if pid == 0 {
            // SAFETY: Resetting a signal action, setting the parent-death
            // signal and arming an alarm have no memory-safety requirement.
            unsafe {
                libc::signal(libc::SIGALRM, libc::SIG_DFL);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                libc::alarm(timeout_secs.max(1));
            }
            let code = catch_unwind(AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: `_exit` ends the process without touching shared state.
            unsafe { libc::_exit(code) };
        }
        self.pids.push(pid);
        Ok(pid)
    }

    /// Waits for `pid` until `timeout`, then kills it.
    ///
    /// # Errors
    ///
    /// `TimedOut` when it had to be killed; `Other` when it exited non-zero
    /// or by a signal.
    pub fn wait(&mut self, pid: libc::pid_t, timeout: Duration) -> io::Result<()> {
        let end = Instant::now() + timeout;
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid int to write to.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if r < 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                self.pids.retain(|&p| p != pid);
                return Err(err);
            }
            if Instant::now() >= end {
                kill_and_reap(pid);
                self.pids.retain(|&p| p != pid);
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("child {pid} did not finish within {timeout:?}; killed"),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.pids.retain(|&p| p != pid);
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            Ok(())
        } else if libc::WIFEXITED(status) {
            Err(io::Error::other(format!(
                "child {pid} exited with status {}",
                libc::WEXITSTATUS(status)
            )))
        } else {
            Err(io::Error::other(format!(
                "child {pid} died by signal {}",
                libc::WTERMSIG(status)
            )))
        }
    }

    /// Waits for every child, sharing one `timeout`.
    ///
    /// # Errors
    ///
    /// The first failure of [`Children::wait`]; the rest are still reaped.
    pub fn wait_all(&mut self, timeout: Duration) -> io::Result<()> {
        let end = Instant::now() + timeout;
        let mut first = Ok(());
        while let Some(&pid) = self.pids.first() {
            let left = end.saturating_duration_since(Instant::now());
            let r = self.wait(pid, left);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// Kills every child with `SIGKILL` and reaps it.
    pub fn kill_all(&mut self) {
        for pid in self.pids.drain(..) {
            kill_and_reap(pid);
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Sends `SIGKILL` to `pid` and reaps it, giving up after 10 s (a task stuck
/// in an uninterruptible sleep cannot be reaped; that is reported).
fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: Signalling and reaping our own child touch no memory of ours.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid int to write to.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid || (r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)) {
            return;
        }
        if Instant::now() >= end {
            eprintln!("warning: child {pid} survived SIGKILL for 10 s (uninterruptible sleep?)");
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The fields of `/proc/<pid>/stat` after the command name, starting with
/// the state (field 3).
fn stat_fields(pid: libc::pid_t) -> io::Result<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: split after the last `)`.
    let rest = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ')' in stat"))?;
    Ok(rest.split_whitespace().map(str::to_string).collect())
}

/// The scheduler state of `pid`, e.g. `S` when asleep interruptibly.
///
/// # Errors
///
/// Fails if `/proc/<pid>/stat` cannot be read or parsed.
pub fn task_state(pid: libc::pid_t) -> io::Result<char> {
    stat_fields(pid)?
        .first()
        .and_then(|s| s.chars().next())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no state in stat"))
}

/// The CPU time of `pid`, `utime + stime`, in clock ticks.
///
/// # Errors
///
/// Fails if `/proc/<pid>/stat` cannot be read or parsed.
pub fn cpu_ticks(pid: libc::pid_t) -> io::Result<u64> {
    let f = stat_fields(pid)?;
    // Fields 14 and 15 of stat; index 0 here is field 3.
    let field = |i: usize| -> io::Result<u64> {
        f.get(i)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad utime/stime"))
    };
    Ok(field(11)? + field(12)?)
}

/// The context switches of `pid`: `(voluntary, nonvoluntary)` from
/// `/proc/<pid>/status`.
///
/// # Errors
///
/// Fails if the file cannot be read or lacks the two lines.
pub fn ctx_switches(pid: libc::pid_t) -> io::Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let get = |key: &str| -> io::Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("no {key} in status"))
            })
    };
    Ok((
        get("voluntary_ctxt_switches:")?,
        get("nonvoluntary_ctxt_switches:")?,
    ))
}

/// Waits until every task in `pids` is asleep (state `S`).
///
/// # Errors
///
/// `TimedOut` after `timeout`, naming a task that is still awake.
pub fn wait_asleep(pids: &[libc::pid_t], timeout: Duration) -> io::Result<()> {
    let end = Instant::now() + timeout;
    for &pid in pids {
        loop {
            let state = task_state(pid)?;
            if state == 'S' {
                break;
            }
            if Instant::now() >= end || timed_out() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("task {pid} still in state {state} after {timeout:?}"),
                ));
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    Ok(())
}

/// The kernel's `uname`: `(release, version, machine)`.
pub fn uname() -> (String, String, String) {
    // SAFETY: An all-zero `utsname` is valid; `uname` fills it with
    // NUL-terminated strings.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid `utsname` to write to.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Default::default();
    }
    let s = |field: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = field
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (s(&u.release), s(&u.version), s(&u.machine))
}
