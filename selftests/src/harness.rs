// SPDX-License-Identifier: GPL-2.0-only

//! A tiny kselftest harness printing KTAP.
//!
//! Each test is a function taking a [`T`] and returning a [`TestResult`].
//! `Err` aborts the test (kselftest's `ASSERT_*`); [`expect!`](crate::expect)
//! records a failure and carries on (`EXPECT_*`). Each test runs in its own
//! forked process and process group with a deadline, so a hung or crashed
//! test cannot take the program down, and its leftovers are killed.

use std::fmt::Display;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::failure::{Failure, TestResult};
use crate::sys::{self, Errno};

/// The state of one running test: the failures recorded so far.
pub struct T {
    name: &'static str,
    failures: usize,
}

impl T {
    /// Records a failure and continues.
    pub fn fail(&mut self, msg: impl Display) {
        self.failures += 1;
        println!("# {}: FAIL: {msg}", self.name);
    }

    /// Records a failure unless `ok`; returns `ok`.
    pub fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) -> bool {
        if !ok {
            self.fail(msg());
        }
        ok
    }

    /// Prints a diagnostic line.
    pub fn diag(&self, msg: impl Display) {
        println!("# {}: {msg}", self.name);
    }

    /// Records a failure unless a system call failed with `want`.
    pub fn expect_errno<V: std::fmt::Debug>(
        &mut self,
        got: Result<V, Errno>,
        want: i32,
        what: &str,
    ) -> bool {
        match got {
            Err(e) if e as i32 == want => true,
            Err(e) => {
                self.fail(format!(
                    "{what}: expected {}, got {e}",
                    Errno::from_raw(want)
                ));
                false
            }
            Ok(v) => {
                self.fail(format!(
                    "{what}: expected {}, got success {v:?}",
                    Errno::from_raw(want)
                ));
                false
            }
        }
    }
}

/// Records a failure with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! expect {
    ($t:expr, $cond:expr, $($fmt:tt)+) => {
        $t.check($cond, || format!($($fmt)+))
    };
}

/// Records "`what`: expected `want`, got `got`" unless they are equal.
#[macro_export]
macro_rules! expect_eq {
    ($t:expr, $got:expr, $want:expr, $($fmt:tt)+) => {{
        let (got, want) = (&$got, &$want);
        $t.check(got == want, || {
            format!("{}: expected {:?}, got {:?}", format!($($fmt)+), want, got)
        })
    }};
}

/// Aborts the test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::Failure::Fail(format!($($fmt)+)));
        }
    };
}

/// One test: a name, a body and a deadline.
pub struct Test {
    /// The behaviour tested, in snake case.
    pub name: &'static str,
    /// The body.
    pub func: fn(&mut T) -> TestResult,
    /// The test is killed and fails after this long.
    pub timeout: Duration,
}

/// The default deadline of a test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a [`Test`] from a function, named after it.
#[macro_export]
macro_rules! test {
    ($f:ident) => {
        $crate::Test {
            name: stringify!($f),
            func: $f,
            timeout: $crate::DEFAULT_TIMEOUT,
        }
    };
    ($f:ident, $secs:expr) => {
        $crate::Test {
            name: stringify!($f),
            func: $f,
            timeout: std::time::Duration::from_secs($secs),
        }
    };
}

/// What a program needs around its tests.
pub struct Suite {
    /// The reason no test can run here, if one cannot.
    pub unavailable: fn() -> Option<String>,
    /// Runs at the start of each test, in its process.
    pub setup: fn() -> TestResult,
    /// Runs after each test, in the parent, to tidy up.
    pub teardown: fn(),
}

/// A suite of device tests: skipped without `/dev/mydevice`; each test
/// starts with [`reset_device`](crate::reset_device).
pub const DEVICE_SUITE: Suite = Suite {
    unavailable: crate::device::unavailable,
    setup: crate::device::reset_device,
    teardown: device_teardown,
};

fn device_teardown() {
    let _ = crate::device::reset_device();
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    Skip,
}

/// Runs `tests`, prints KTAP and exits 0 (pass), 1 (fail) or 4 (all skipped).
pub fn run(suite: &Suite, tests: &[Test]) -> ! {
    println!("TAP version 13");
    println!("1..{}", tests.len());
    let skip_all = (suite.unavailable)();
    let (mut pass, mut fail, mut skip) = (0usize, 0usize, 0usize);
    for (i, test) in tests.iter().enumerate() {
        let n = i + 1;
        let (verdict, reason) = match &skip_all {
            Some(r) => (Verdict::Skip, r.clone()),
            None => {
                let r = run_one(suite, test);
                (suite.teardown)();
                r
            }
        };
        match verdict {
            Verdict::Pass => {
                pass += 1;
                println!("ok {n} {}", test.name);
            }
            Verdict::Fail => {
                fail += 1;
                println!("not ok {n} {}", test.name);
            }
            Verdict::Skip => {
                skip += 1;
                println!("ok {n} {} # SKIP {reason}", test.name);
            }
        }
    }
    println!("# Totals: pass:{pass} fail:{fail} xfail:0 xpass:0 skip:{skip} error:0");
    println!("# {pass} passed, {fail} failed");
    let _ = std::io::stdout().flush();
    let code = if fail > 0 {
        1
    } else if pass == 0 && skip > 0 {
        4
    } else {
        0
    };
    std::process::exit(code)
}

/// Runs one test in a child process group, with its deadline.
fn run_one(suite: &Suite, test: &Test) -> (Verdict, String) {
    let pipe = match sys::Pipe::new() {
        Ok(p) => p,
        Err(e) => {
            println!("# {}: FAIL: pipe: {e}", test.name);
            return (Verdict::Fail, String::new());
        }
    };
    let _ = std::io::stdout().flush();
    // SAFETY: The harness is single-threaded.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        println!("# {}: FAIL: fork: {}", test.name, Errno::last());
        return (Verdict::Fail, String::new());
    }
    if pid == 0 {
        // SAFETY: setpgid() takes no pointers.
        unsafe { libc::setpgid(0, 0) };
        let _ = sys::close(pipe.rd);
        let code = test_body(suite, test, pipe.wr);
        let _ = std::io::stdout().flush();
        // SAFETY: Ends the test process without unwinding into the harness.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: As above; both sides set the group to close the race.
    unsafe { libc::setpgid(pid, pid) };
    let _ = sys::close(pipe.wr);
    let start = Instant::now();
    let mut status = 0;
    let finished = loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break true;
        }
        if start.elapsed() >= test.timeout {
            break false;
        }
        sys::sleep_ms(5);
    };
    // Kill the whole group: the test process if it overran, and any
    // children it left behind either way.
    let _ = sys::kill(-pid, libc::SIGKILL);
    if !finished {
        // SAFETY: `status` is a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    let mut reason = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n @ 1..) = sys::read(pipe.rd, &mut buf) {
        reason.extend_from_slice(&buf[..n]);
    }
    let _ = sys::close(pipe.rd);
    let reason = String::from_utf8_lossy(&reason).into_owned();
    if !finished {
        println!(
            "# {}: FAIL: timed out after {:?}; killed",
            test.name, test.timeout
        );
        return (Verdict::Fail, reason);
    }
    if libc::WIFSIGNALED(status) {
        println!(
            "# {}: FAIL: test process killed by signal {}",
            test.name,
            libc::WTERMSIG(status)
        );
        return (Verdict::Fail, reason);
    }
    match libc::WEXITSTATUS(status) {
        0 => (Verdict::Pass, reason),
        4 => (Verdict::Skip, reason),
        _ => (Verdict::Fail, reason),
    }
}

/// The test process: setup, body, verdict as the exit code.
fn test_body(suite: &Suite, test: &Test, reason_fd: i32) -> i32 {
    let mut t = T {
        name: test.name,
        failures: 0,
    };
    let result = (suite.setup)().and_then(|()| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (test.func)(&mut t)))
            .unwrap_or_else(|_| Err(Failure::Fail("the test panicked".into())))
    });
    match result {
        Err(Failure::Skip(_)) if t.failures > 0 => 1,
        Err(Failure::Skip(r)) => {
            let _ = sys::write(reason_fd, r.as_bytes());
            4
        }
        Err(Failure::Fail(msg)) => {
            t.fail(msg);
            1
        }
        Ok(()) if t.failures > 0 => 1,
        Ok(()) => 0,
    }
}
