// SPDX-License-Identifier: GPL-2.0-only

//! The `/dev/mydevice` handle the workloads use.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use mydevice_abi::{
    MydevStats, //
    MydevStatus,
    DEVICE_PATH,
    FIONREAD,
    MYDEV_CLEAR,
    MYDEV_RESIZE,
    MYDEV_STATS,
    MYDEV_STATUS,
};

use crate::sys;

/// An open file of `/dev/mydevice`.
pub struct Device {
    fd: OwnedFd,
}

impl Device {
    /// Opens the device read-write.
    ///
    /// # Errors
    ///
    /// Fails if `open` does, e.g. `ENOENT` when the module is not loaded.
    pub fn open() -> io::Result<Self> {
        let path = CString::new(DEVICE_PATH).map_err(io::Error::other)?;
        // SAFETY: `path` is NUL-terminated.
        let fd = sys::cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })
            .map_err(|e| io::Error::new(e.kind(), format!("open {DEVICE_PATH}: {e}")))?;
        // SAFETY: `open` succeeded, so `fd` is a fresh descriptor we own.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The raw descriptor, for the workloads' `read` and `write`.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// `MYDEV_CLEAR`: discards all buffered data.
    ///
    /// # Errors
    ///
    /// Fails if the ioctl does.
    pub fn clear(&self) -> io::Result<()> {
        // SAFETY: `MYDEV_CLEAR` takes no argument.
        sys::cvt(unsafe { libc::ioctl(self.fd(), MYDEV_CLEAR as _, 0) }).map(drop)
    }

    /// `MYDEV_RESIZE`: sets the capacity to `capacity` bytes.
    ///
    /// # Errors
    ///
    /// Fails if the ioctl does, e.g. `EINVAL` above `MYDEV_BUFFER_MAX`.
    pub fn resize(&self, capacity: u32) -> io::Result<()> {
        let mut cap = capacity;
        // SAFETY: `MYDEV_RESIZE` reads one `u32`, which `cap` is.
        unsafe { sys::ioctl_ptr(self.fd(), MYDEV_RESIZE, &mut cap) }.map(drop)
    }

    /// `MYDEV_STATUS`.
    ///
    /// # Errors
    ///
    /// Fails if the ioctl does.
    pub fn status(&self) -> io::Result<MydevStatus> {
        let mut s = MydevStatus::default();
        // SAFETY: `MYDEV_STATUS` writes one `MydevStatus`, which `s` is.
        unsafe { sys::ioctl_ptr(self.fd(), MYDEV_STATUS, &mut s) }?;
        Ok(s)
    }

    /// `MYDEV_STATS`.
    ///
    /// # Errors
    ///
    /// Fails if the ioctl does.
    pub fn stats(&self) -> io::Result<MydevStats> {
        let mut s = MydevStats::default();
        // SAFETY: `MYDEV_STATS` writes one `MydevStats`, which `s` is.
        unsafe { sys::ioctl_ptr(self.fd(), MYDEV_STATS, &mut s) }?;
        Ok(s)
    }
}

/// `FIONREAD` on any descriptor: the bytes buffered.
///
/// # Errors
///
/// Fails if the ioctl does.
pub fn fionread(fd: RawFd) -> io::Result<libc::c_int> {
    let mut n: libc::c_int = 0;
    // SAFETY: `FIONREAD` writes one `int`, which `n` is.
    unsafe { sys::ioctl_ptr(fd, FIONREAD, &mut n) }?;
    Ok(n)
}
