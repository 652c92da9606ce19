// SPDX-License-Identifier: GPL-2.0-only

//! Bad user buffers: NULL, kernel addresses, PROT_NONE pages and buffers
//! straddling into a fault give EFAULT or an exact count, and lose no data.

use std::collections::VecDeque;

use mydevice_selftests::{
    diff, expect, expect_eq, pattern, sys, test, Context, Dev, Errno, Failure, Rng, TestResult,
    DEVICE_SUITE, T,
};

/// An address in the kernel half on 64-bit machines.
const KERNEL_ADDR: usize = 0xffff_8000_0000_0000;

/// Two pages, the second PROT_NONE: buffers ending at `edge()` straddle a fault.
struct Straddle {
    map: sys::Mapping,
}

impl Straddle {
    fn new() -> Result<Self, Failure> {
        let map = sys::Mapping::new(2).context("mmap 2 pages")?;
        map.protect_none(1).context("mprotect page 2 PROT_NONE")?;
        Ok(Straddle { map })
    }

    /// The first inaccessible byte.
    fn edge(&self) -> usize {
        self.map.addr + sys::page_size()
    }

    /// The address `valid` bytes before the fault.
    fn at(&self, valid: usize) -> usize {
        self.edge() - valid
    }

    /// The accessible bytes from `valid` before the fault.
    fn bytes(&self, valid: usize, len: usize) -> Vec<u8> {
        self.map.bytes(sys::page_size() - valid, len)
    }

    fn fill(&self, valid: usize, data: &[u8]) {
        self.map.fill(sys::page_size() - valid, data)
    }
}

/// Bad buffers that fault at their first byte.
fn bad_buffers(none: &sys::Mapping) -> [(usize, &'static str); 3] {
    [
        (0, "NULL"),
        (KERNEL_ADDR, "kernel address"),
        (none.addr, "PROT_NONE page"),
    ]
}

// read() into NULL, a kernel address or a PROT_NONE page gives EFAULT and consumes nothing.
fn read_into_bad_buffer_gives_efault_and_keeps_data(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let data = pattern(70, 100);
    dev.write_all(&data)?;
    let none = sys::Mapping::new(1).context("mmap")?;
    none.protect_none(0).context("mprotect")?;
    for (addr, what) in bad_buffers(&none) {
        for len in [1, 50, 4096] {
            t.expect_errno(
                sys::read_raw(dev.fd(), addr, len),
                libc::EFAULT,
                &format!("read of {len} into {what}"),
            );
            expect_eq!(
                t,
                dev.fionread(),
                Ok(100),
                "FIONREAD after reading into {what}"
            );
        }
    }
    let back = dev.read(4096).context("read back")?;
    expect!(
        t,
        back == data,
        "data after the faults: {}",
        diff(&back, &data)
    );
    Ok(())
}

// write() from NULL, a kernel address or a PROT_NONE page gives EFAULT and stores nothing.
fn write_from_bad_buffer_gives_efault_and_stores_nothing(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let data = pattern(71, 10);
    dev.write_all(&data)?;
    let none = sys::Mapping::new(1).context("mmap")?;
    none.protect_none(0).context("mprotect")?;
    for (addr, what) in bad_buffers(&none) {
        // Atomic and non-atomic sizes.
        for len in [1, 100, 4086, 8192] {
            t.expect_errno(
                sys::write_raw(dev.fd(), addr, len),
                libc::EFAULT,
                &format!("write of {len} from {what}"),
            );
            expect_eq!(
                t,
                dev.fionread(),
                Ok(10),
                "FIONREAD after writing from {what}"
            );
        }
    }
    let back = dev.read(4096).context("read back")?;
    expect!(
        t,
        back == data,
        "data after the faults: {}",
        diff(&back, &data)
    );
    Ok(())
}

/// Moves the empty ring's read position to `pos` (for wrap tests).
fn position(dev: &Dev, pos: usize) -> TestResult {
    if pos > 0 {
        dev.write_all(&vec![0u8; pos])?;
        dev.read_exact(pos).context("read")?;
    }
    Ok(())
}

// A read straddling a fault returns exactly the bytes delivered, or EFAULT consuming nothing.
fn read_straddling_fault_delivers_exact_count(t: &mut T) -> TestResult {
    let s = Straddle::new()?;
    // (ring position, accessible bytes): linear, then a wrap faulting in its second and first part.
    for (pos, valid) in [(0usize, 100usize), (4000, 150), (4000, 50)] {
        let dev = Dev::rw_nonblock().context("open")?;
        position(&dev, pos)?;
        let data = pattern(72 + valid as u32, 300);
        dev.write_all(&data)?;
        s.fill(valid, &vec![0xaa; valid]);
        let what = format!("(pos {pos}, {valid} accessible)");
        match sys::read_raw(dev.fd(), s.at(valid), 300) {
            Ok(k) => {
                t.diag(format!("straddling read {what} returned {k}"));
                expect!(
                    t,
                    k > 0 && k <= valid,
                    "straddling read {what}: count {k} not in 1..={valid}"
                );
                let k = k.min(valid);
                let got = s.bytes(valid, k);
                expect!(
                    t,
                    got == data[..k],
                    "delivered bytes {what}: {}",
                    diff(&got, &data[..k])
                );
                expect_eq!(
                    t,
                    dev.fionread(),
                    Ok(300 - k as i32),
                    "FIONREAD after the straddling read {what}"
                );
                let rest = dev.read(4096).context("read the rest")?;
                expect!(
                    t,
                    rest == data[k..],
                    "bytes left {what}: {}",
                    diff(&rest, &data[k..])
                );
            }
            Err(Errno::EFAULT) => {
                t.diag(format!("straddling read {what} gave EFAULT"));
                expect_eq!(t, dev.fionread(), Ok(300), "FIONREAD after EFAULT {what}");
                let rest = dev.read(4096).context("read back")?;
                expect!(
                    t,
                    rest == data,
                    "data after EFAULT {what}: {}",
                    diff(&rest, &data)
                );
            }
            Err(e) => t.fail(format!(
                "straddling read {what}: expected a count or EFAULT, got {e}"
            )),
        }
        dev.clear().context("MYDEV_CLEAR")?;
    }
    Ok(())
}

// A write straddling a fault stores exactly the count returned, or nothing with EFAULT.
fn write_straddling_fault_stores_exact_count(t: &mut T) -> TestResult {
    let s = Straddle::new()?;
    // (capacity, ring position, accessible bytes, length): linear, wrapped, and non-atomic.
    for (cap, pos, valid, len) in [
        (4096u32, 0usize, 100usize, 300usize),
        (4096, 4000, 150, 300),
        (16384, 0, 3000, 8192),
    ] {
        let dev = Dev::rw_nonblock().context("open")?;
        dev.resize(cap).context("RESIZE")?;
        position(&dev, pos)?;
        let prefix = pattern(80, 10);
        dev.write_all(&prefix)?;
        let src = pattern(81 + valid as u32, valid);
        let what = format!("(capacity {cap}, pos {pos}, {valid} of {len} accessible)");
        s.fill(valid, &src);
        let addr = s.at(valid);
        match sys::write_raw(dev.fd(), addr, len) {
            Ok(k) => {
                t.diag(format!("straddling write {what} returned {k}"));
                expect!(
                    t,
                    k > 0 && k <= valid,
                    "straddling write {what}: count {k} not in 1..={valid}"
                );
                let k = k.min(valid);
                expect_eq!(
                    t,
                    dev.fionread(),
                    Ok(10 + k as i32),
                    "FIONREAD after the straddling write {what}"
                );
                let back = dev.read(1 << 20).context("read back")?;
                let want = [&prefix[..], &src[..k]].concat();
                expect!(t, back == want, "stream {what}: {}", diff(&back, &want));
            }
            Err(Errno::EFAULT) => {
                t.diag(format!("straddling write {what} gave EFAULT"));
                expect_eq!(t, dev.fionread(), Ok(10), "FIONREAD after EFAULT {what}");
                let back = dev.read(1 << 20).context("read back")?;
                expect!(
                    t,
                    back == prefix,
                    "stream after EFAULT {what}: {}",
                    diff(&back, &prefix)
                );
            }
            Err(e) => t.fail(format!(
                "straddling write {what}: expected a count or EFAULT, got {e}"
            )),
        }
        dev.clear().context("MYDEV_CLEAR")?;
        dev.resize(4096).context("RESIZE")?;
    }
    Ok(())
}

// A random mix of good and faulting reads and writes keeps the byte stream exact.
fn stream_stays_intact_across_faults(t: &mut T) -> TestResult {
    let dev = Dev::rw_nonblock().context("open")?;
    let s = Straddle::new()?;
    let none = sys::Mapping::new(1).context("mmap")?;
    none.protect_none(0).context("mprotect")?;
    let mut model: VecDeque<u8> = VecDeque::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seed = 1000u32;
    let mut errors = 0;
    for step in 0..400 {
        let used = model.len();
        let op = rng.index(6);
        let len = 1 + rng.index(600);
        let r: Result<(), String> = match op {
            0 | 1 => {
                seed += 1;
                let data = pattern(seed, len);
                match dev.write(&data) {
                    Ok(n) if n == len => {
                        model.extend(&data);
                        Ok(())
                    }
                    Ok(n) => Err(format!("atomic write of {len} stored {n}")),
                    Err(e) if e == Errno::EAGAIN && used == 4096 => Ok(()),
                    Err(e) if e == Errno::EAGAIN && len > 4096 - used => Ok(()),
                    Err(e) => Err(format!("write of {len}: {e}")),
                }
            }
            2 => match dev.read(len) {
                Ok(got) => {
                    let want: Vec<u8> = model.drain(..got.len().min(model.len())).collect();
                    if got == want && !got.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("read of {len}: {}", diff(&got, &want)))
                    }
                }
                Err(e) if e == Errno::EAGAIN && used == 0 => Ok(()),
                Err(e) => Err(format!("read of {len} with {used} used: {e}")),
            },
            3 => {
                let (addr, what) = bad_buffers(&none)[rng.index(3)];
                match (
                    sys::read_raw(dev.fd(), addr, len),
                    sys::write_raw(dev.fd(), addr, len),
                ) {
                    (Err(a), Err(b)) if used == 0 && a == Errno::EAGAIN && b == Errno::EFAULT => {
                        Ok(())
                    }
                    (Err(a), Err(b)) if a == Errno::EFAULT && b == Errno::EFAULT => Ok(()),
                    (Err(a), Err(b))
                        if a == Errno::EFAULT && b == Errno::EAGAIN && len > 4096 - used =>
                    {
                        Ok(())
                    }
                    (a, b) => Err(format!(
                        "read and write of {len} with {what}: expected EFAULT, got {a:?} and {b:?}"
                    )),
                }
            }
            4 => {
                let valid = 1 + rng.index(len);
                match sys::read_raw(dev.fd(), s.at(valid), len) {
                    Ok(k) if k <= valid && k <= used && k > 0 => {
                        let want: Vec<u8> = model.drain(..k).collect();
                        let got = s.bytes(valid, k);
                        if got == want {
                            Ok(())
                        } else {
                            Err(format!("straddling read of {len}: {}", diff(&got, &want)))
                        }
                    }
                    Err(e) if e == Errno::EFAULT || (e == Errno::EAGAIN && used == 0) => Ok(()),
                    other => Err(format!(
                        "straddling read of {len} ({valid} accessible, {used} used): {other:?}"
                    )),
                }
            }
            _ => {
                let valid = 1 + rng.index(len);
                seed += 1;
                let src = pattern(seed, valid);
                s.fill(valid, &src);
                match sys::write_raw(dev.fd(), s.at(valid), len) {
                    Ok(k) if k <= valid && k > 0 && k <= 4096 - used => {
                        model.extend(&src[..k]);
                        Ok(())
                    }
                    Err(e) if e == Errno::EFAULT || (e == Errno::EAGAIN && len > 4096 - used) => {
                        Ok(())
                    }
                    other => Err(format!(
                        "straddling write of {len} ({valid} accessible, {used} used): {other:?}"
                    )),
                }
            }
        };
        if let Err(msg) = r {
            errors += 1;
            t.fail(format!("step {step}: {msg}"));
            if errors >= 5 {
                break;
            }
        }
        let n = dev.fionread().context("FIONREAD")?;
        if n as usize != model.len() {
            t.fail(format!(
                "step {step}: FIONREAD {n}, expected {}",
                model.len()
            ));
            break;
        }
    }
    let back = dev.read(4096).unwrap_or_default();
    let want: Vec<u8> = model.into_iter().collect();
    expect!(t, back == want, "final stream: {}", diff(&back, &want));
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(read_into_bad_buffer_gives_efault_and_keeps_data),
            test!(write_from_bad_buffer_gives_efault_and_stores_nothing),
            test!(read_straddling_fault_delivers_exact_count),
            test!(write_straddling_fault_stores_exact_count),
            test!(stream_stays_intact_across_faults),
        ],
    )
}
