// SPDX-License-Identifier: GPL-2.0-only

//! Forked child processes with a report pipe and a deadline.
//!
//! A child runs a closure and reports bytes back through a pipe. The parent
//! waits with a timeout; a child still running at the deadline is killed
//! with `SIGKILL` and the wait fails, so no test can hang forever.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::failure::Failure;
use crate::sys::{self, Errno, SysResult};

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// The write end of a child's report pipe.
pub struct Reporter {
    fd: i32,
}

impl Reporter {
    /// Sends `data` to the parent.
    pub fn send(&mut self, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() {
            match sys::retry(|| sys::write(self.fd, rest)) {
                Ok(n) => rest = &rest[n..],
                Err(_) => return,
            }
        }
    }
}

/// A forked child process.
pub struct Child {
    /// Its process id.
    pub pid: i32,
    out: i32,
    output: Vec<u8>,
    exit: Option<Exit>,
}

/// Forks a child that runs `f` and exits with the code `f` returns.
pub fn spawn(f: impl FnOnce(&mut Reporter) -> i32) -> Result<Child, Failure> {
    let pipe = sys::Pipe::new().map_err(|e| Failure::fail(format!("pipe: {e}")))?;
    let _ = std::io::stdout().flush();
    // SAFETY: The tests are single-threaded, so the child may run any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Failure::fail(format!("fork: {}", Errno::last())));
    }
    if pid == 0 {
        let _ = sys::close(pipe.rd);
        let mut rep = Reporter { fd: pipe.wr };
        let code =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut rep))).unwrap_or(101);
        let _ = std::io::stdout().flush();
        // SAFETY: _exit() ends the child without running the parent's
        // destructors twice.
        unsafe { libc::_exit(code) };
    }
    let _ = sys::close(pipe.wr);
    let _ = sys::add_fl(pipe.rd, libc::O_NONBLOCK);
    Ok(Child {
        pid,
        out: pipe.rd,
        output: Vec::new(),
        exit: None,
    })
}

/// Forks a child that runs one operation and reports its result.
pub fn spawn_op(f: impl FnOnce() -> SysResult<Vec<u8>>) -> Result<Child, Failure> {
    spawn(|rep| {
        let msg = encode(f());
        rep.send(&msg);
        0
    })
}

fn encode(r: SysResult<Vec<u8>>) -> Vec<u8> {
    match r {
        Ok(data) => {
            let mut v = vec![0u8];
            v.extend_from_slice(&data);
            v
        }
        Err(e) => {
            let mut v = vec![1u8];
            v.extend_from_slice(&(e as i32).to_le_bytes());
            v
        }
    }
}

/// Encodes a byte count as an operation result.
pub fn count(n: SysResult<usize>) -> SysResult<Vec<u8>> {
    n.map(|n| (n as u64).to_le_bytes().to_vec())
}

impl Child {
    /// Reads whatever the child has reported so far.
    pub fn pump(&mut self) {
        let mut buf = [0u8; 65536];
        while let Ok(n @ 1..) = sys::read(self.out, &mut buf) {
            self.output.extend_from_slice(&buf[..n]);
        }
    }

    /// Reaps the child if it has ended.
    pub fn try_wait(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r == self.pid {
                self.exit = Some(if libc::WIFSIGNALED(status) {
                    Exit::Signal(libc::WTERMSIG(status))
                } else {
                    Exit::Code(libc::WEXITSTATUS(status))
                });
                self.pump();
            }
        }
        self.exit
    }

    /// Whether the child is still running (not yet reaped).
    pub fn running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Waits up to `timeout` for the child to end; kills it after that.
    pub fn wait(&mut self, timeout: Duration) -> Result<Exit, Failure> {
        let end = Instant::now() + timeout;
        loop {
            self.pump();
            if let Some(e) = self.try_wait() {
                return Ok(e);
            }
            if Instant::now() >= end {
                // Where it is stuck tells a lost wakeup (asleep in the
                // driver) from a slow machine (running).
                let whereabouts = crate::task::describe(self.pid);
                self.kill_and_reap();
                return Err(Failure::fail(format!(
                    "child {} still running after {:?} ({whereabouts}); killed it",
                    self.pid, timeout
                )));
            }
            let _ = sys::poll_one(self.out, libc::POLLIN, 5);
        }
    }

    /// Waits for the child to end and decodes the result of [`spawn_op`].
    pub fn finish(&mut self, timeout: Duration) -> Result<SysResult<Vec<u8>>, Failure> {
        let exit = self.wait(timeout)?;
        if exit != Exit::Code(0) {
            return Err(Failure::fail(format!(
                "child {} ended with {exit:?} before reporting",
                self.pid
            )));
        }
        match self.output.split_first() {
            Some((0, data)) => Ok(Ok(data.to_vec())),
            Some((1, e)) if e.len() == 4 => Ok(Err(Errno::from_raw(i32::from_le_bytes([
                e[0], e[1], e[2], e[3],
            ])))),
            _ => Err(Failure::fail(format!(
                "child {} sent a garbled report ({} bytes)",
                self.pid,
                self.output.len()
            ))),
        }
    }

    /// Like [`Child::finish`] for an operation that reported a [`count`].
    pub fn finish_count(&mut self, timeout: Duration) -> Result<SysResult<usize>, Failure> {
        Ok(match self.finish(timeout)? {
            Ok(v) if v.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&v);
                Ok(u64::from_le_bytes(b) as usize)
            }
            Ok(v) => {
                return Err(Failure::fail(format!(
                    "child {} sent a count of {} bytes",
                    self.pid,
                    v.len()
                )))
            }
            Err(e) => Err(e),
        })
    }

    /// Waits up to `timeout` until the child has reported at least `n` bytes.
    ///
    /// Returns whether it did; the child is left running either way.
    pub fn wait_for_output(&mut self, n: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            self.pump();
            if self.output.len() >= n {
                return true;
            }
            if self.try_wait().is_some() || Instant::now() >= end {
                return self.output.len() >= n;
            }
            let _ = sys::poll_one(self.out, libc::POLLIN, 5);
        }
    }

    /// Everything the child has reported.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Sends `sig` to the child.
    pub fn signal(&self, sig: i32) -> Result<(), Failure> {
        sys::kill(self.pid, sig)
            .map_err(|e| Failure::fail(format!("kill({}, {sig}): {e}", self.pid)))
    }

    fn kill_and_reap(&mut self) {
        if self.exit.is_none() {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
            self.exit = Some(Exit::Signal(libc::SIGKILL));
            self.pump();
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill_and_reap();
        let _ = sys::close(self.out);
    }
}

/// Waits for all `children` until `timeout`, calling `tick` every few
/// milliseconds meanwhile; kills the ones still running at the deadline.
pub fn wait_all(
    children: &mut [Child],
    timeout: Duration,
    mut tick: impl FnMut(&mut [Child]),
) -> Result<(), Failure> {
    let end = Instant::now() + timeout;
    loop {
        let mut fds: Vec<libc::pollfd> = children
            .iter()
            .map(|c| libc::pollfd {
                fd: c.out,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 2) };
        let mut all_done = true;
        for c in children.iter_mut() {
            c.pump();
            all_done &= c.try_wait().is_some();
        }
        if all_done {
            return Ok(());
        }
        if Instant::now() >= end {
            let stuck: Vec<String> = children
                .iter_mut()
                .filter_map(|c| {
                    c.running()
                        .then(|| format!("{} ({})", c.pid, crate::task::describe(c.pid)))
                })
                .collect();
            for c in children.iter_mut() {
                c.kill_and_reap();
            }
            return Err(Failure::fail(format!(
                "children {stuck:?} still running after {timeout:?}; killed them"
            )));
        }
        tick(children);
    }
}
