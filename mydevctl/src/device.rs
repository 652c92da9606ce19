// SPDX-License-Identifier: GPL-2.0-only

//! An open file of the device and its ioctls.
//!
//! This is the only file with `unsafe`: one `ioctl(2)` call, whose argument is
//! either nothing or a pointer to a live value of exactly the type the
//! command number encodes.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use mydevice_abi::{
    MydevStats, MydevStatus, MYDEV_CLEAR, MYDEV_HANGUP, MYDEV_RESIZE, MYDEV_STATS, MYDEV_STATUS,
};

/// An `errno` value.
pub type Errno = i32;

/// An open file of `/dev/mydevice`, or of whatever node `--device` names.
#[derive(Debug)]
pub struct Device {
    file: File,
}

fn last_errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

impl Device {
    /// Opens `path` read-only, or read-write when `write` is set.
    ///
    /// The file is opened with `O_NONBLOCK` (and `O_CLOEXEC`, as std always
    /// does), so no later call on it can block.
    ///
    /// # Errors
    ///
    /// Returns the errno of `open(2)`, e.g. `ENOENT` when the module is not
    /// loaded or `EACCES` without permission.
    pub fn open(path: &Path, write: bool) -> Result<Self, Errno> {
        OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map(|file| Self { file })
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }

    /// Issues `ioctl(fd, cmd, arg)`, retrying on `EINTR`.
    ///
    /// # Safety
    ///
    /// `arg` must be null for a command without an argument, or point to a
    /// value that is valid for reads and writes of the size and direction
    /// that `cmd` encodes, for the duration of the call.
    unsafe fn ioctl(&self, cmd: u32, arg: *mut libc::c_void) -> Result<(), Errno> {
        loop {
            // SAFETY: The descriptor is open for as long as `self` lives, and
            // the caller guarantees that `arg` fits `cmd`.
            let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd as _, arg) };
            if rc >= 0 {
                return Ok(());
            }
            let errno = last_errno();
            if errno != libc::EINTR {
                return Err(errno);
            }
        }
    }

    /// Reads `MYDEV_STATUS`.
    ///
    /// # Errors
    ///
    /// Returns the errno of `ioctl(2)`, e.g. `ENOTTY` on a foreign node.
    pub fn status(&self) -> Result<MydevStatus, Errno> {
        let mut s = MydevStatus::default();
        // SAFETY: `MYDEV_STATUS` writes one `struct mydev_status`, which
        // `MydevStatus` mirrors; `s` lives across the call.
        unsafe { self.ioctl(MYDEV_STATUS, core::ptr::addr_of_mut!(s).cast())? };
        Ok(s)
    }

    /// Reads `MYDEV_STATS`.
    ///
    /// # Errors
    ///
    /// Returns the errno of `ioctl(2)`, e.g. `ENOTTY` from a module too old
    /// to know the command.
    pub fn stats(&self) -> Result<MydevStats, Errno> {
        let mut s = MydevStats::default();
        // SAFETY: `MYDEV_STATS` writes one `struct mydev_stats`, which
        // `MydevStats` mirrors; `s` lives across the call.
        unsafe { self.ioctl(MYDEV_STATS, core::ptr::addr_of_mut!(s).cast())? };
        Ok(s)
    }

    /// Discards the buffered data with `MYDEV_CLEAR`.
    ///
    /// # Errors
    ///
    /// Returns the errno of `ioctl(2)`, e.g. `EBADF` on a read-only file.
    pub fn clear(&self) -> Result<(), Errno> {
        // SAFETY: `MYDEV_CLEAR` takes no argument.
        unsafe { self.ioctl(MYDEV_CLEAR, core::ptr::null_mut()) }
    }

    /// Sets the capacity with `MYDEV_RESIZE`.
    ///
    /// # Errors
    ///
    /// Returns the errno of `ioctl(2)`: `EINVAL` outside 1..=1048576,
    /// `ENOMEM` when the new buffer cannot be allocated, `EBADF` on a
    /// read-only file.
    pub fn resize(&self, bytes: u32) -> Result<(), Errno> {
        let mut size = bytes;
        // SAFETY: `MYDEV_RESIZE` reads one `__u32`; `size` lives across the
        // call.
        unsafe { self.ioctl(MYDEV_RESIZE, core::ptr::addr_of_mut!(size).cast()) }
    }

    /// Hangs the device up with `MYDEV_HANGUP`.
    ///
    /// # Errors
    ///
    /// Returns the errno of `ioctl(2)`, e.g. `EBADF` on a read-only file.
    pub fn hangup(&self) -> Result<(), Errno> {
        // SAFETY: `MYDEV_HANGUP` takes no argument.
        unsafe { self.ioctl(MYDEV_HANGUP, core::ptr::null_mut()) }
    }
}
