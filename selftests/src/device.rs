// SPDX-License-Identifier: GPL-2.0-only

//! An open file of `/dev/mydevice` and wrappers for every ioctl.

use std::collections::BTreeMap;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use mydevice_abi::sys::{self as abi, Device, OFlag};
use mydevice_abi::{
    MydevStats, MydevStatus, DEVICE_PATH, MYDEV_BUFFER_DEFAULT, MYDEV_FLAG_HUNG_UP, PROC_PATH,
};

use crate::failure::{Context, Failure};
use crate::sys::{self, Errno, SysResult};

/// An open file of the device, closed on drop.
pub struct Dev {
    dev: Device,
}

impl Dev {
    /// Opens the device with `flags` (`O_RDWR`, `O_RDONLY`, `O_WRONLY`, maybe `O_NONBLOCK`).
    pub fn open(flags: i32) -> SysResult<Self> {
        Device::open(Path::new(DEVICE_PATH), OFlag::from_bits_retain(flags)).map(|dev| Dev { dev })
    }

    /// Opens the device read-write and blocking.
    pub fn rw() -> SysResult<Self> {
        Self::open(libc::O_RDWR)
    }

    /// Opens the device read-write and non-blocking.
    pub fn rw_nonblock() -> SysResult<Self> {
        Self::open(libc::O_RDWR | libc::O_NONBLOCK)
    }

    /// Opens the device read-only and blocking.
    pub fn rdonly() -> SysResult<Self> {
        Self::open(libc::O_RDONLY)
    }

    /// Opens the device write-only and blocking.
    pub fn wronly() -> SysResult<Self> {
        Self::open(libc::O_WRONLY)
    }

    /// The descriptor.
    pub fn fd(&self) -> i32 {
        self.dev.as_raw_fd()
    }

    /// One `read(2)` of up to `n` bytes.
    pub fn read(&self, n: usize) -> SysResult<Vec<u8>> {
        let mut buf = vec![0u8; n];
        let got = sys::read(self.fd(), &mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// One `read(2)` of up to `n` bytes, retrying `EINTR`.
    pub fn read_retry(&self, n: usize) -> SysResult<Vec<u8>> {
        sys::retry(|| self.read(n))
    }

    /// Reads exactly `n` bytes, in as many calls as it takes; EOF is `EPIPE`.
    pub fn read_exact(&self, n: usize) -> SysResult<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let chunk = self.read_retry(n - out.len())?;
            if chunk.is_empty() {
                return Err(Errno::EPIPE);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// One `read(2)` of up to `n` bytes once data is ready, failing after `timeout`.
    pub fn read_within(&self, n: usize, timeout: std::time::Duration) -> Result<Vec<u8>, Failure> {
        let ms = timeout.as_millis() as i32;
        let ready = sys::retry(|| sys::poll_one(self.fd(), libc::POLLIN, ms)).context("poll")?;
        if ready == 0 {
            return Err(Failure::fail(format!("no data to read within {timeout:?}")));
        }
        self.read_retry(n).context(format!("read of {n} bytes"))
    }

    /// One `write(2)`.
    pub fn write(&self, data: &[u8]) -> SysResult<usize> {
        sys::write(self.fd(), data)
    }

    /// One `write(2)`, retrying `EINTR`.
    pub fn write_retry(&self, data: &[u8]) -> SysResult<usize> {
        sys::retry(|| self.write(data))
    }

    /// Writes all of `data`, failing unless a single call stores all of it.
    pub fn write_all(&self, data: &[u8]) -> Result<(), Failure> {
        let n = self
            .write_retry(data)
            .context(format!("write of {} bytes", data.len()))?;
        if n != data.len() {
            return Err(Failure::fail(format!(
                "write of {} bytes: expected {}, got {n}",
                data.len(),
                data.len()
            )));
        }
        Ok(())
    }

    /// `MYDEV_CLEAR`.
    pub fn clear(&self) -> SysResult<()> {
        self.dev.clear()
    }

    /// `MYDEV_RESIZE` to `size` bytes.
    pub fn resize(&self, size: u32) -> SysResult<()> {
        self.dev.resize(size)
    }

    /// `MYDEV_HANGUP`.
    pub fn hangup(&self) -> SysResult<()> {
        self.dev.hangup()
    }

    /// `MYDEV_STATUS`, with the reserved field poisoned first, so that a
    /// kernel that leaves it alone shows up as a non-zero value.
    pub fn status(&self) -> SysResult<MydevStatus> {
        let mut s = MydevStatus {
            _reserved: 0xdead_beef,
            ..Default::default()
        };
        abi::status_into(self, &mut s)?;
        Ok(s)
    }

    /// `MYDEV_STATS`, with the reserved field poisoned first.
    pub fn stats(&self) -> SysResult<MydevStats> {
        let mut s = MydevStats {
            _reserved: 0xdead_beef,
            ..Default::default()
        };
        abi::stats_into(self, &mut s)?;
        Ok(s)
    }

    /// `FIONREAD`: the bytes buffered.
    pub fn fionread(&self) -> SysResult<i32> {
        self.dev.fionread()
    }

    /// `ioctl(2)` with an arbitrary command and argument word.
    pub fn ioctl(&self, cmd: u32, arg: usize) -> SysResult<i32> {
        sys::ioctl_raw(self.fd(), cmd, arg)
    }
}

impl AsFd for Dev {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dev.as_fd()
    }
}

/// Opens the device for the statistics only (no effect on the stream).
pub fn probe() -> Result<Dev, Failure> {
    Dev::open(libc::O_RDONLY | libc::O_NONBLOCK).context("open /dev/mydevice read-only")
}

/// The reason the device cannot be tested, if it cannot.
pub fn unavailable() -> Option<String> {
    match std::fs::metadata(DEVICE_PATH) {
        Err(e) => Some(format!(
            "{DEVICE_PATH} is missing ({e}); is the mydevice module loaded?"
        )),
        Ok(_) => match Dev::rw() {
            Err(e) => Some(format!("cannot open {DEVICE_PATH} read-write: {e}")),
            Ok(_) => None,
        },
    }
}

/// Brings the device to its resting state: empty, capacity 4096, not hung up.
///
/// Every test starts with this. It fails if some other file of the device is
/// still open (a leak from an earlier test), since the tests rely on being
/// the only users.
pub fn reset_device() -> Result<(), Failure> {
    // A straggler of the last test may take a moment to die and close.
    let quiet = sys::wait_until(std::time::Duration::from_secs(3), || {
        Dev::rw()
            .and_then(|d| d.status())
            .map(|s| s.open_count == 1)
            .unwrap_or(false)
    });
    let dev = Dev::rw().context("reset: open /dev/mydevice read-write")?;
    let st = dev.status().context("reset: MYDEV_STATUS")?;
    if !quiet || st.open_count != 1 {
        return Err(Failure::fail(format!(
            "reset: expected the device to be closed by everyone else, open_count is {}",
            st.open_count
        )));
    }
    let stats = dev.stats().context("reset: MYDEV_STATS")?;
    if stats.flags & MYDEV_FLAG_HUNG_UP != 0 {
        return Err(Failure::fail(
            "reset: device still hung up with only one file open".into(),
        ));
    }
    dev.clear().context("reset: MYDEV_CLEAR")?;
    dev.resize(MYDEV_BUFFER_DEFAULT)
        .context("reset: MYDEV_RESIZE to 4096")?;
    let st = dev.status().context("reset: MYDEV_STATUS")?;
    if st.buffer_size != MYDEV_BUFFER_DEFAULT || st.bytes_used != 0 {
        return Err(Failure::fail(format!(
            "reset: expected an empty 4096-byte buffer, got {} of {} used",
            st.bytes_used, st.buffer_size
        )));
    }
    Ok(())
}

/// The text of `/proc/mydevice`.
pub fn proc_text() -> Result<String, Failure> {
    std::fs::read_to_string(PROC_PATH).context("read /proc/mydevice")
}

/// Parses `key: value` lines, keeping their order.
pub fn parse_proc(text: &str) -> Result<Vec<(String, String)>, Failure> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| {
                    Failure::fail(format!("/proc/mydevice: line {l:?} is not `key: value`"))
                })
        })
        .collect()
}

/// `/proc/mydevice` as a key -> value map.
pub fn proc_map() -> Result<BTreeMap<String, String>, Failure> {
    Ok(parse_proc(&proc_text()?)?.into_iter().collect())
}

/// A deterministic byte pattern: byte `i` of stream `seed`.
pub fn pattern(seed: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let x = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            (x >> 13) as u8 ^ (i as u8)
        })
        .collect()
}

/// Describes where two byte strings first differ.
pub fn diff(got: &[u8], want: &[u8]) -> String {
    if got.len() != want.len() {
        return format!("expected {} bytes, got {}", want.len(), got.len());
    }
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => format!(
            "byte {i} differs: expected {:#04x}, got {:#04x}",
            want[i], got[i]
        ),
        None => "equal".into(),
    }
}
