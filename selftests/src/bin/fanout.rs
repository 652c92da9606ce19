// SPDX-License-Identifier: GPL-2.0-only

//! Wake fan-out: sleepers are exclusive, so a write wakes only as many
//! readers as it feeds, and the others do not even run.

use std::time::Duration;

use mydevice_selftests::{
    expect, expect_eq, probe, spawn_op, sys, task, test, wait_sleeping, wait_waiters, Child,
    Context, Dev, Failure, TestResult, DEVICE_SUITE, T,
};

const READERS: usize = 6;
const WAKE: Duration = Duration::from_secs(5);

/// Starts `READERS` readers of one byte each and waits until all sleep.
fn sleeping_readers() -> Result<Vec<Child>, Failure> {
    let mut v = Vec::new();
    for _ in 0..READERS {
        v.push(spawn_op(|| Dev::rdonly()?.read(1))?);
    }
    wait_waiters(READERS as u32, 0)?;
    for c in &v {
        wait_sleeping(c.pid)?;
    }
    Ok(v)
}

/// Writes `n` bytes and checks that exactly `n` readers return, each with
/// one byte, while the others stay asleep without a single context switch.
fn expect_exact_wakeups(t: &mut T, n: usize) -> TestResult {
    let mut readers = sleeping_readers()?;
    let stats = probe()?.stats().context("MYDEV_STATS")?;
    expect_eq!(
        t,
        stats.readers_waiting,
        READERS as u32,
        "readers_waiting before the write"
    );
    let before: Vec<(u64, u64)> = readers
        .iter()
        .map(|c| task::ctxt_switches(c.pid))
        .collect::<Result<_, _>>()?;
    let dev = Dev::wronly().context("open O_WRONLY")?;
    let data: Vec<u8> = (b'a'..).take(n).collect();
    dev.write_all(&data)?;
    // Let the woken readers finish, and any wrongly woken ones run.
    let done = sys::wait_until(WAKE, || {
        readers
            .iter_mut()
            .map(|c| !c.running())
            .filter(|&done| done)
            .count()
            >= n
    });
    expect!(
        t,
        done,
        "fewer than {n} readers returned after a {n}-byte write"
    );
    sys::sleep_ms(200);
    let mut got = Vec::new();
    for (i, c) in readers.iter_mut().enumerate() {
        if c.running() {
            let now = task::ctxt_switches(c.pid)?;
            let state = task::state(c.pid)?;
            expect_eq!(t, state, 'S', "state of unfed reader {i}");
            expect_eq!(
                t,
                now,
                before[i],
                "(voluntary, nonvoluntary) context switches of unfed reader {i}: it was woken"
            );
        } else {
            match c.finish(WAKE)? {
                Ok(b) => got.extend(b),
                Err(e) => t.fail(format!("reader {i}: expected 1 byte, got {e}")),
            }
        }
    }
    got.sort_unstable();
    expect_eq!(t, got, data, "bytes received by the returned readers");
    let left = probe()?.stats().context("MYDEV_STATS")?.readers_waiting;
    expect_eq!(
        t,
        left,
        (READERS - n) as u32,
        "readers_waiting after the write"
    );
    // Release the rest: a hangup gives them EOF.
    dev.hangup().context("MYDEV_HANGUP")?;
    for (i, c) in readers.iter_mut().enumerate() {
        if c.running() {
            expect_eq!(
                t,
                c.finish(WAKE)?,
                Ok(vec![]),
                "reader {i} after the hangup"
            );
        }
    }
    wait_waiters(0, 0)?;
    Ok(())
}

// With 6 readers asleep, a 1-byte write returns exactly one; the other five do not run.
fn one_byte_write_wakes_exactly_one_of_six_readers(t: &mut T) -> TestResult {
    expect_exact_wakeups(t, 1)
}

// A 3-byte write feeds three of six 1-byte readers by passing the wakeup on; the rest do not run.
fn wakeup_passes_to_next_reader_while_data_is_left(t: &mut T) -> TestResult {
    expect_exact_wakeups(t, 3)
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(one_byte_write_wakes_exactly_one_of_six_readers),
            test!(wakeup_passes_to_next_reader_while_data_is_left),
        ],
    )
}
