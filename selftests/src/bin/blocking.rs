// SPDX-License-Identifier: GPL-2.0-only

//! Blocking I/O: sleepers use no CPU, wake on the right event, and atomic
//! writes never interleave.

use std::time::Duration;

use mydevice_selftests::{
    ensure, expect, expect_eq, fill, pattern, spawn, spawn_op, sys, task, test, wait_sleeping,
    wait_waiters, Context, Dev, TestResult, DEVICE_SUITE, T,
};

const WAKE: Duration = Duration::from_secs(5);

/// Checks that task `pid` stays asleep in state S and uses no CPU for ~300 ms.
fn expect_idle_sleep(t: &mut T, pid: i32) -> TestResult {
    let ticks0 = task::cpu_ticks(pid)?;
    let (vol0, _) = task::ctxt_switches(pid)?;
    sys::sleep_ms(300);
    let ticks1 = task::cpu_ticks(pid)?;
    let (vol1, _) = task::ctxt_switches(pid)?;
    let state = task::state(pid)?;
    expect_eq!(t, state, 'S', "state of the sleeping task {pid}");
    // One tick of slack for accounting at the edges of the window.
    expect!(
        t,
        ticks1.wrapping_sub(ticks0) <= 1,
        "sleeping task used CPU: expected utime+stime to stay ~0 over 300 ms, it grew by {} ticks \
         (tick = 1/{} s)",
        ticks1.wrapping_sub(ticks0),
        task::ticks_per_second()
    );
    expect_eq!(
        t,
        vol1,
        vol0,
        "voluntary context switches of the sleeper over 300 ms (it must not wake to poll)"
    );
    Ok(())
}

// A reader of an empty device sleeps in state S and burns no CPU.
fn blocked_reader_sleeps_without_cpu(t: &mut T) -> TestResult {
    let mut child = spawn_op(|| Dev::rdonly()?.read(64))?;
    wait_waiters(1, 0)?;
    wait_sleeping(child.pid)?;
    expect_idle_sleep(t, child.pid)?;
    expect!(t, child.running(), "reader returned with no data written");
    Dev::rw().context("open")?.write_all(b"x")?;
    let got = child.finish(WAKE)?;
    expect_eq!(
        t,
        got,
        Ok(b"x".to_vec()),
        "the reader's read after the write"
    );
    Ok(())
}

// A blocked reader wakes on a write and returns exactly the written data.
fn blocked_reader_wakes_on_write(t: &mut T) -> TestResult {
    let mut child = spawn_op(|| Dev::rdonly()?.read(100))?;
    wait_waiters(1, 0)?;
    sys::sleep_ms(50);
    expect!(t, child.running(), "reader returned before any write");
    let dev = Dev::wronly().context("open O_WRONLY")?;
    dev.write_all(b"wake-up call")?;
    let got = child.finish(WAKE)?;
    expect_eq!(
        t,
        got,
        Ok(b"wake-up call".to_vec()),
        "the woken reader's data"
    );
    wait_waiters(0, 0)?;
    expect_eq!(
        t,
        dev.fionread().context("FIONREAD")?,
        0,
        "FIONREAD after the read"
    );
    Ok(())
}

// A writer to a full device sleeps without CPU and wakes when a read makes room.
fn blocked_writer_wakes_on_read(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    let filled = fill(&dev, 1)?;
    let mine = pattern(2, 100);
    let payload = mine.clone();
    let mut child = spawn_op(move || mydevice_selftests::count(Dev::wronly()?.write(&payload)))?;
    wait_waiters(0, 1)?;
    wait_sleeping(child.pid)?;
    expect_idle_sleep(t, child.pid)?;
    expect!(
        t,
        child.running(),
        "writer returned while the device was full"
    );
    let first = dev.read(100).context("read 100 bytes")?;
    expect_eq!(t, first, filled[..100].to_vec(), "the first 100 bytes read");
    let n = child.finish_count(WAKE)?;
    expect_eq!(t, n, Ok(100), "the woken writer's write count");
    let rest = dev.read_exact(4096).context("drain")?;
    let mut want = filled[100..].to_vec();
    want.extend_from_slice(&mine);
    expect!(
        t,
        rest == want,
        "stream after the wakeup: {}",
        mydevice_selftests::diff(&rest, &want)
    );
    Ok(())
}

// A writer woken without room for its atomic write passes the wakeup on to
// the next writer, which needs less and goes through; the first sleeps on.
fn woken_writer_without_room_wakes_a_smaller_writer(t: &mut T) -> TestResult {
    let dev = Dev::rw().context("open")?;
    let filled = fill(&dev, 1)?;
    let big = pattern(2, 4000);
    let small = pattern(3, 10);
    let payload = big.clone();
    let mut big_writer =
        spawn_op(move || mydevice_selftests::count(Dev::wronly()?.write(&payload)))?;
    wait_waiters(0, 1)?;
    wait_sleeping(big_writer.pid)?;
    let payload = small.clone();
    let mut small_writer =
        spawn_op(move || mydevice_selftests::count(Dev::wronly()?.write(&payload)))?;
    wait_waiters(0, 2)?;
    wait_sleeping(small_writer.pid)?;
    // One read, one wakeup: it goes to the first sleeper, which needs 4000
    // bytes and finds 100.
    let first = dev.read(100).context("read 100 bytes")?;
    expect_eq!(t, first, filled[..100].to_vec(), "the first 100 bytes read");
    let n = small_writer.finish_count(WAKE)?;
    expect_eq!(
        t,
        n,
        Ok(10),
        "the 10-byte writer's count after a read freed 100 bytes (the woken 4000-byte writer \
         must hand its wakeup to it)"
    );
    wait_waiters(0, 1)?;
    expect!(
        t,
        big_writer.running(),
        "the 4000-byte write returned with 90 bytes free"
    );
    let mut want = filled[100..].to_vec();
    want.extend_from_slice(&small);
    let rest = dev.read_exact(want.len()).context("drain")?;
    expect!(
        t,
        rest == want,
        "stream before the 4000-byte write: {}",
        mydevice_selftests::diff(&rest, &want)
    );
    let n = big_writer.finish_count(WAKE)?;
    expect_eq!(
        t,
        n,
        Ok(4000),
        "the 4000-byte writer's count once room was made"
    );
    let last = dev.read_exact(4000).context("read the 4000-byte write")?;
    expect!(
        t,
        last == big,
        "the 4000-byte write: {}",
        mydevice_selftests::diff(&last, &big)
    );
    Ok(())
}

/// Block `seq` of writer `id`: `size` bytes tagged with both.
fn block(id: u8, seq: u16, size: usize) -> Vec<u8> {
    let mut b = pattern(u32::from(id) << 16 | u32::from(seq), size);
    b[0] = id;
    b[1..3].copy_from_slice(&seq.to_le_bytes());
    b
}

// Atomic writes (n <= min(4096, capacity)) from concurrent writers never interleave.
fn atomic_writes_never_interleave(t: &mut T) -> TestResult {
    const WRITERS: u8 = 4;
    for (size, count) in [(1500usize, 40u16), (4096, 15), (64, 200)] {
        let mut children = Vec::new();
        for id in 0..WRITERS {
            children.push(spawn(move |_| {
                let dev = match Dev::wronly() {
                    Ok(d) => d,
                    Err(_) => return 2,
                };
                for seq in 0..count {
                    let b = block(id, seq, size);
                    match dev.write_retry(&b) {
                        Ok(n) if n == size => {}
                        _ => return 3,
                    }
                }
                0
            })?);
        }
        let dev = Dev::rdonly().context("open O_RDONLY")?;
        let total = size * usize::from(WRITERS) * usize::from(count);
        let mut stream = Vec::with_capacity(total);
        // Odd-sized reads, so block boundaries fall inside reads.
        while stream.len() < total {
            let chunk = dev.read_within(997.min(total - stream.len()), WAKE)?;
            ensure!(
                !chunk.is_empty(),
                "unexpected EOF after {} bytes",
                stream.len()
            );
            stream.extend_from_slice(&chunk);
        }
        for c in &mut children {
            let e = c.wait(WAKE)?;
            expect_eq!(t, e, mydevice_selftests::Exit::Code(0), "writer exit");
        }
        let mut next = [0u16; WRITERS as usize];
        let mut bad = 0;
        for blk in stream.chunks(size) {
            let id = blk[0];
            let seq = u16::from_le_bytes([blk[1], blk[2]]);
            if id >= WRITERS || blk != block(id, seq, size).as_slice() {
                bad += 1;
                if bad <= 3 {
                    t.fail(format!(
                        "{size}-byte writes: a block is torn or interleaved (starts with id {id} seq {seq})"
                    ));
                }
                continue;
            }
            expect_eq!(
                t,
                seq,
                next[usize::from(id)],
                "{size}-byte writes: sequence of writer {id}"
            );
            next[usize::from(id)] = seq + 1;
        }
        expect_eq!(t, bad, 0, "{size}-byte writes: torn or interleaved blocks");
        expect!(
            t,
            next.iter().all(|&n| n == count),
            "{size}-byte writes: expected {count} blocks per writer, got {next:?}"
        );
        t.diag(format!(
            "{size}-byte writes: {} blocks from {WRITERS} writers intact",
            total / size
        ));
    }
    Ok(())
}

// A write larger than the buffer blocks, is drained in parts and completes in full.
fn large_write_blocks_then_completes(t: &mut T) -> TestResult {
    let data = pattern(7, 10_000);
    let payload = data.clone();
    let mut child = spawn_op(move || mydevice_selftests::count(Dev::wronly()?.write(&payload)))?;
    wait_waiters(0, 1)?;
    let dev = Dev::rdonly().context("open O_RDONLY")?;
    expect_eq!(
        t,
        dev.fionread().context("FIONREAD")?,
        4096,
        "bytes stored while the large writer sleeps"
    );
    expect!(t, child.running(), "the 10000-byte write returned early");
    let mut got = Vec::new();
    while got.len() < data.len() {
        let chunk = dev.read_within(1000, WAKE)?;
        ensure!(!chunk.is_empty(), "EOF after {} bytes", got.len());
        got.extend_from_slice(&chunk);
    }
    let n = child.finish_count(WAKE)?;
    expect_eq!(t, n, Ok(10_000), "the large write's return value");
    expect!(
        t,
        got == data,
        "the large write's data: {}",
        mydevice_selftests::diff(&got, &data)
    );
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(blocked_reader_sleeps_without_cpu),
            test!(blocked_reader_wakes_on_write),
            test!(blocked_writer_wakes_on_read),
            test!(woken_writer_without_room_wakes_a_smaller_writer),
            test!(atomic_writes_never_interleave, 120),
            test!(large_write_blocks_then_completes),
        ],
    )
}
