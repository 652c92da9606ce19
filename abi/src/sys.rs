// SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note

//! The device's ioctls as typed calls, and `errno`, for userspace programs.
//!
//! This is the `std` feature of the crate, the one system-call layer that
//! mydevctl, the benchmarks and the selftests share. It is built on `nix`:
//! its [`Errno`] is an enum, so callers match `Err(Errno::EAGAIN)` and print
//! the symbolic name, and its `ioctl_*_bad!` wrappers take the command
//! numbers of this crate, which its tests check against the C header.
//!
//! Why nix and not rustix, the other well-kept choice: nix's `Errno` knows
//! the symbolic names, which the selftests' KTAP diagnostics and mydevctl's
//! JSON `name` print, so neither keeps a table of its own any more; rustix's
//! is an opaque number. nix builds on libc, which every program here links
//! already (io-uring too), where rustix's own backend would add
//! linux-raw-sys; and Debian packages it (`librust-nix-dev`). The cost: an
//! errno nix does not know, such as a leaked `ERESTARTSYS` (512), becomes
//! `UnknownErrno`, which still fails any test that expected another.
//!
//! The calls do not retry `EINTR`: a caller that studies interruption sees
//! it. Wrap a call in [`retry_eintr`] where an interruption means nothing.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

pub use nix::errno::Errno;
pub use nix::fcntl::OFlag;

use crate::{
    MydevStats, MydevStatus, FIONREAD, MYDEV_CLEAR, MYDEV_HANGUP, MYDEV_RESIZE, MYDEV_STATS,
    MYDEV_STATUS,
};

/// The result of a system call.
pub type Result<T> = core::result::Result<T, Errno>;

mod raw {
    use super::{MydevStats, MydevStatus};

    nix::ioctl_none_bad!(clear, super::MYDEV_CLEAR);
    nix::ioctl_write_ptr_bad!(resize, super::MYDEV_RESIZE, u32);
    nix::ioctl_read_bad!(status, super::MYDEV_STATUS, MydevStatus);
    nix::ioctl_none_bad!(hangup, super::MYDEV_HANGUP);
    nix::ioctl_read_bad!(stats, super::MYDEV_STATS, MydevStats);
    nix::ioctl_read_bad!(fionread, super::FIONREAD, nix::libc::c_int);
}

/// Calls `f` again for as long as it fails with `EINTR`.
pub fn retry_eintr<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// `MYDEV_CLEAR`: discards the buffered data. Needs a file open for writing.
///
/// # Errors
///
/// The errno of `ioctl(2)`: `EBADF` on a read-only file, `ENOTTY` on a file
/// that is not the device.
pub fn clear(fd: impl AsFd) -> Result<()> {
    // SAFETY: `MYDEV_CLEAR` is `_IO`: no argument is passed, and none is
    // read, by the device or by any driver that follows the `_IOC`
    // convention for the number; the descriptor is borrowed for the call.
    unsafe { raw::clear(fd.as_fd().as_raw_fd()) }.map(drop)
}

/// `MYDEV_RESIZE`: sets the capacity to `bytes`. Needs a file open for writing.
///
/// # Errors
///
/// `EINVAL` outside `MYDEV_BUFFER_MIN..=MYDEV_BUFFER_MAX`, `ENOMEM` when the
/// new buffer cannot be allocated (the old one stays), `EBADF` on a
/// read-only file.
pub fn resize(fd: impl AsFd, bytes: u32) -> Result<()> {
    // SAFETY: `MYDEV_RESIZE` is `_IOW` of 4 bytes: the device, like any
    // driver that follows the `_IOC` convention, only reads that many from
    // the argument, and `bytes` is a live `u32` across the call.
    unsafe { raw::resize(fd.as_fd().as_raw_fd(), &bytes) }.map(drop)
}

/// `MYDEV_HANGUP`: wakes every sleeper; reads then return 0 once the data
/// is drained, writes fail with `EPIPE`. Needs a file open for writing.
///
/// # Errors
///
/// `EBADF` on a read-only file.
pub fn hangup(fd: impl AsFd) -> Result<()> {
    // SAFETY: `MYDEV_HANGUP` is `_IO`: no argument is passed or read.
    unsafe { raw::hangup(fd.as_fd().as_raw_fd()) }.map(drop)
}

/// `MYDEV_STATUS` into `out`, which the kernel overwrites whole, reserved
/// fields included (a test can poison them first).
///
/// # Errors
///
/// The errno of `ioctl(2)`, e.g. `ENOTTY` on a file that is not the device.
pub fn status_into(fd: impl AsFd, out: &mut MydevStatus) -> Result<()> {
    // SAFETY: `MYDEV_STATUS` is `_IOR` with the size of `struct
    // mydev_status`, which `MydevStatus` mirrors (the crate's tests compare
    // them with the C header): the device writes that struct, and a driver
    // that follows the `_IOC` convention writes at most that size; `out` is
    // valid for writes of it across the call, and every bit pattern is a
    // valid `MydevStatus`.
    unsafe { raw::status(fd.as_fd().as_raw_fd(), out) }.map(drop)
}

/// `MYDEV_STATUS`.
///
/// # Errors
///
/// As [`status_into`].
pub fn status(fd: impl AsFd) -> Result<MydevStatus> {
    let mut s = MydevStatus::default();
    status_into(fd, &mut s)?;
    Ok(s)
}

/// `MYDEV_STATS` into `out`, which the kernel overwrites whole.
///
/// # Errors
///
/// The errno of `ioctl(2)`, e.g. `ENOTTY` from a module too old to know it.
pub fn stats_into(fd: impl AsFd, out: &mut MydevStats) -> Result<()> {
    // SAFETY: As in `status_into`, for `struct mydev_stats` and
    // `MydevStats`, which is plain integers too.
    unsafe { raw::stats(fd.as_fd().as_raw_fd(), out) }.map(drop)
}

/// `MYDEV_STATS`.
///
/// # Errors
///
/// As [`stats_into`].
pub fn stats(fd: impl AsFd) -> Result<MydevStats> {
    let mut s = MydevStats::default();
    stats_into(fd, &mut s)?;
    Ok(s)
}

/// `FIONREAD` on any file that has it (the device, a pipe, a socket): the
/// bytes ready to read.
///
/// # Errors
///
/// `ENOTTY` on a file without `FIONREAD`.
pub fn fionread(fd: impl AsFd) -> Result<i32> {
    let mut n: nix::libc::c_int = 0;
    // SAFETY: `FIONREAD` writes one `int` on every file that has it (and
    // nothing on one that fails with `ENOTTY`); `n` is a live `c_int`.
    unsafe { raw::fionread(fd.as_fd().as_raw_fd(), &mut n) }?;
    Ok(n)
}

/// An open file of the device, closed on drop.
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
}

impl Device {
    /// Opens `path` with `flags` and `O_CLOEXEC`. `O_RDONLY` gives a reader,
    /// `O_WRONLY` a writer; the control ioctls that change the device need a
    /// file open for writing.
    ///
    /// # Errors
    ///
    /// The errno of `open(2)`: `ENOENT` when the module is not loaded,
    /// `EACCES` without permission.
    pub fn open(path: &Path, flags: OFlag) -> Result<Self> {
        nix::fcntl::open(
            path,
            flags | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map(|fd| Self { fd })
    }

    /// [`clear`] on this file.
    ///
    /// # Errors
    ///
    /// As [`clear`].
    pub fn clear(&self) -> Result<()> {
        clear(self)
    }

    /// [`resize`] on this file.
    ///
    /// # Errors
    ///
    /// As [`resize`].
    pub fn resize(&self, bytes: u32) -> Result<()> {
        resize(self, bytes)
    }

    /// [`hangup`] on this file.
    ///
    /// # Errors
    ///
    /// As [`hangup`].
    pub fn hangup(&self) -> Result<()> {
        hangup(self)
    }

    /// [`status`] on this file.
    ///
    /// # Errors
    ///
    /// As [`status`].
    pub fn status(&self) -> Result<MydevStatus> {
        status(self)
    }

    /// [`stats`] on this file.
    ///
    /// # Errors
    ///
    /// As [`stats`].
    pub fn stats(&self) -> Result<MydevStats> {
        stats(self)
    }

    /// [`fionread`] on this file.
    ///
    /// # Errors
    ///
    /// As [`fionread`].
    pub fn fionread(&self) -> Result<i32> {
        fionread(self)
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<OwnedFd> for Device {
    fn from(fd: OwnedFd) -> Self {
        Self { fd }
    }
}

impl From<Device> for OwnedFd {
    fn from(dev: Device) -> Self {
        dev.fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::fs::File;

    /// On a file that is not the device, every call fails cleanly with the
    /// errno the kernel gives, and `retry_eintr` passes it through.
    #[test]
    fn calls_on_a_foreign_file_fail_with_enotty() {
        let f = File::open("/dev/null").expect("open /dev/null");
        assert_eq!(status(&f), Err(Errno::ENOTTY));
        assert_eq!(stats(&f), Err(Errno::ENOTTY));
        assert_eq!(retry_eintr(|| clear(&f)), Err(Errno::ENOTTY));
        assert_eq!(resize(&f, 4096), Err(Errno::ENOTTY));
        assert_eq!(hangup(&f), Err(Errno::ENOTTY));
    }

    /// FIONREAD is generic: on a pipe it counts the bytes written.
    #[test]
    fn fionread_counts_a_pipes_bytes() {
        let (rd, wr) = nix::unistd::pipe().expect("pipe");
        nix::unistd::write(&wr, b"hello").expect("write");
        assert_eq!(fionread(&rd), Ok(5));
    }

    /// Opening a missing node names the errno.
    #[test]
    fn open_of_a_missing_node_is_enoent() {
        let e = Device::open(Path::new("/nonexistent/mydevice"), OFlag::O_RDWR).unwrap_err();
        assert_eq!(e, Errno::ENOENT);
        assert_eq!(format!("{e:?}"), "ENOENT");
    }

    /// `retry_eintr` retries exactly the `EINTR`s.
    #[test]
    fn retry_eintr_retries_only_eintr() {
        let mut calls = 0;
        let r: Result<()> = retry_eintr(|| {
            calls += 1;
            if calls < 3 {
                Err(Errno::EINTR)
            } else {
                Err(Errno::EAGAIN)
            }
        });
        assert_eq!((r, calls), (Err(Errno::EAGAIN), 3));
    }
}
