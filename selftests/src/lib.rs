// SPDX-License-Identifier: GPL-2.0-only

//! The shared harness and helpers of the `/dev/mydevice` selftests.
//!
//! Each program in `src/bin/` tests one group of behaviours and prints KTAP.
//! This crate gives them a kselftest-style runner ([`run`]), wrappers for the
//! device and its ioctls ([`Dev`]), `/proc` readers, forked children with
//! deadlines ([`spawn`]), and a page whose first touch blocks until the test
//! lets it go ([`uffd::FaultingPage`]).

pub mod child;
pub mod device;
pub mod failure;
pub mod harness;
pub mod record;
pub mod rng;
pub mod sys;
pub mod task;
pub mod uffd;

use std::time::Duration;

pub use child::{count, spawn, spawn_op, wait_all, Child, Exit, Reporter};
pub use device::{diff, parse_proc, pattern, probe, proc_map, proc_text, reset_device, Dev};
pub use failure::{Context, Failure, TestResult};
pub use harness::{run, Suite, Test, DEFAULT_TIMEOUT, DEVICE_SUITE, T};
pub use rng::Rng;
pub use sys::{Errno, SysResult};

/// How long a helper waits for a child to reach an expected state.
pub const SETTLE: Duration = Duration::from_secs(10);

/// Waits until exactly `readers` readers and `writers` writers are asleep on the device.
pub fn wait_waiters(readers: u32, writers: u32) -> TestResult {
    let dev = probe()?;
    let mut last = (u32::MAX, u32::MAX);
    let ok = sys::wait_until(SETTLE, || match dev.stats() {
        Ok(s) => {
            last = (s.readers_waiting, s.writers_waiting);
            last == (readers, writers)
        }
        Err(_) => false,
    });
    ensure!(
        ok,
        "expected {readers} readers and {writers} writers waiting, MYDEV_STATS says {} and {}",
        last.0,
        last.1
    );
    Ok(())
}

/// Waits until task `pid` is asleep (state `S`).
pub fn wait_sleeping(pid: i32) -> TestResult {
    let mut last = '?';
    let ok = sys::wait_until(SETTLE, || {
        last = task::state(pid).unwrap_or('?');
        last == 'S'
    });
    ensure!(ok, "expected task {pid} in state S, it is in {last}");
    Ok(())
}

/// Fills the device to capacity through `dev` with `pattern(seed, cap)`.
pub fn fill(dev: &Dev, seed: u32) -> Result<Vec<u8>, Failure> {
    let cap = dev.status().context("MYDEV_STATUS")?.buffer_size as usize;
    let used = dev.fionread().context("FIONREAD")? as usize;
    let data = pattern(seed, cap - used);
    dev.write_all(&data)?;
    let now = dev.fionread().context("FIONREAD")?;
    ensure!(
        now as usize == cap,
        "after filling, expected FIONREAD {cap}, got {now}"
    );
    Ok(data)
}
