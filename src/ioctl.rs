// SPDX-License-Identifier: GPL-2.0-only

//! The ioctl codec: command numbers, argument checks and reply layouts.
//!
//! This mirrors `include/uapi/mydevice.h`. The numbers are pinned at compile
//! time to the values the C header produces, and the replies are encoded
//! field by field in native byte order, as the C structs lay them out.

use kernel::{
    ioctl::{
        _IO,
        _IOR,
        _IOW, //
    },
    prelude::*,
    uaccess::UserPtr,
};

/// The ioctl magic number, `'M'`.
const MAGIC: u32 = b'M' as u32;

/// The largest capacity, `MYDEV_BUFFER_MAX`.
pub(crate) const BUFFER_MAX: u32 = 1 << 20;

/// Writes of up to `min(ATOMIC_MAX, capacity)` bytes are atomic, `MYDEV_ATOMIC_MAX`.
pub(crate) const ATOMIC_MAX: usize = 4096;

/// `MYDEV_STATS_VERSION`.
pub(crate) const STATS_VERSION: u32 = 1;

/// `MYDEV_FLAG_HUNG_UP`.
pub(crate) const FLAG_HUNG_UP: u32 = 1 << 0;

/// `struct mydev_status`: six `__u32`.
pub(crate) const STATUS_SIZE: usize = 6 * 4;

/// `struct mydev_stats`: two `__u32`, six `__u64` and four `__u32`.
pub(crate) const STATS_SIZE: usize = 2 * 4 + 6 * 8 + 4 * 4;

/// `MYDEV_CLEAR`.
pub(crate) const MYDEV_CLEAR: u32 = _IO(MAGIC, 0);
/// `MYDEV_RESIZE`.
pub(crate) const MYDEV_RESIZE: u32 = _IOW::<u32>(MAGIC, 1);
/// `MYDEV_STATUS`.
pub(crate) const MYDEV_STATUS: u32 = _IOR::<[u8; STATUS_SIZE]>(MAGIC, 2);
/// `MYDEV_HANGUP`.
pub(crate) const MYDEV_HANGUP: u32 = _IO(MAGIC, 3);
/// `MYDEV_STATS`.
pub(crate) const MYDEV_STATS: u32 = _IOR::<[u8; STATS_SIZE]>(MAGIC, 4);
/// `FIONREAD` from `asm-generic/ioctls.h` (bindgen skips the macro).
///
/// Every architecture that Rust-for-Linux supports takes its ioctl numbers
/// from asm-generic (Documentation/rust/arch-support.rst lists arm, arm64,
/// loongarch, riscv, s390, um and x86); only alpha, mips, parisc, powerpc
/// and sparc, which have no Rust support, define another value.
pub(crate) const FIONREAD: u32 = 0x541b;

// The architectures the packages are built for (debian/control, dkms.conf's
// BUILD_EXCLUSIVE_ARCH and mydevice-abi name the same set).
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "loongarch64"
)))]
compile_error!("mydevice knows only the asm-generic ioctl numbers: FIONREAD and _IOC");

// The ABI is stable: these are the numbers the C header gives.
const _: () = assert!(MYDEV_CLEAR == 0x4d00);
const _: () = assert!(MYDEV_RESIZE == 0x4004_4d01);
const _: () = assert!(MYDEV_STATUS == 0x8018_4d02);
const _: () = assert!(MYDEV_HANGUP == 0x4d03);
const _: () = assert!(MYDEV_STATS == 0x8048_4d04);

/// A decoded ioctl request.
#[derive(Clone, Copy)]
pub(crate) enum Command {
    /// Discard all buffered data.
    Clear,
    /// Set the capacity; the new size is read from the pointer.
    Resize(UserPtr),
    /// Write a [`Status`] to the pointer.
    Status(UserPtr),
    /// Hang the device up.
    Hangup,
    /// Write a [`Stats`] to the pointer.
    Stats(UserPtr),
    /// Write the bytes buffered, as an `int`, to the pointer.
    NRead(UserPtr),
}

impl Command {
    /// Decodes an ioctl command number and its argument.
    ///
    /// # Errors
    ///
    /// `ENOTTY` for any command this device does not know.
    pub(crate) fn decode(cmd: u32, arg: usize) -> Result<Self> {
        let ptr = UserPtr::from_addr(arg);
        match cmd {
            MYDEV_CLEAR => Ok(Self::Clear),
            MYDEV_RESIZE => Ok(Self::Resize(ptr)),
            MYDEV_STATUS => Ok(Self::Status(ptr)),
            MYDEV_HANGUP => Ok(Self::Hangup),
            MYDEV_STATS => Ok(Self::Stats(ptr)),
            FIONREAD => Ok(Self::NRead(ptr)),
            _ => Err(ENOTTY),
        }
    }

    /// Returns whether the command changes the device, and so needs a file
    /// opened for writing.
    pub(crate) fn needs_write(self) -> bool {
        matches!(self, Self::Clear | Self::Resize(_) | Self::Hangup)
    }
}

/// Checks a requested capacity and returns it as a length.
///
/// # Errors
///
/// `EINVAL` unless `1 <= size <= BUFFER_MAX`.
pub(crate) fn check_capacity(size: u32) -> Result<usize> {
    if size == 0 || size > BUFFER_MAX {
        return Err(EINVAL);
    }
    Ok(size as usize)
}

/// Returns how many bytes of a write of `len` must be stored in one step.
///
/// A write of up to `min(ATOMIC_MAX, capacity)` bytes is atomic, as a pipe
/// write of up to `PIPE_BUF` is. A larger one may be split, and needs only
/// one free byte to make progress.
pub(crate) fn atomic_need(len: usize, capacity: usize) -> usize {
    if len <= ATOMIC_MAX.min(capacity) {
        len
    } else {
        1
    }
}

/// `struct mydev_status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) buffer_size: u32,
    pub(crate) bytes_used: u32,
    pub(crate) open_count: u32,
    pub(crate) read_count: u32,
    pub(crate) write_count: u32,
}

impl Status {
    /// Encodes the reply as the C struct lays it out.
    pub(crate) fn to_bytes(self) -> [u8; STATUS_SIZE] {
        let mut out = [0u8; STATUS_SIZE];
        let fields = [
            self.buffer_size,
            self.bytes_used,
            self.open_count,
            self.read_count,
            self.write_count,
            0, // _reserved
        ];
        for (chunk, field) in out.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&field.to_ne_bytes());
        }
        out
    }
}

/// `struct mydev_stats`, less its `size` and `version` header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) bytes_read: u64,
    pub(crate) bytes_written: u64,
    pub(crate) reads: u64,
    pub(crate) writes: u64,
    pub(crate) reader_sleeps: u64,
    pub(crate) writer_sleeps: u64,
    pub(crate) readers_waiting: u32,
    pub(crate) writers_waiting: u32,
    pub(crate) flags: u32,
}

impl Stats {
    /// Encodes the reply as the C struct lays it out.
    pub(crate) fn to_bytes(self) -> [u8; STATS_SIZE] {
        let mut out = [0u8; STATS_SIZE];
        out[0..4].copy_from_slice(&(STATS_SIZE as u32).to_ne_bytes());
        out[4..8].copy_from_slice(&STATS_VERSION.to_ne_bytes());
        let wide = [
            self.bytes_read,
            self.bytes_written,
            self.reads,
            self.writes,
            self.reader_sleeps,
            self.writer_sleeps,
        ];
        for (chunk, field) in out[8..56].chunks_exact_mut(8).zip(wide) {
            chunk.copy_from_slice(&field.to_ne_bytes());
        }
        let narrow = [
            self.readers_waiting,
            self.writers_waiting,
            self.flags,
            0, // _reserved
        ];
        for (chunk, field) in out[56..].chunks_exact_mut(4).zip(narrow) {
            chunk.copy_from_slice(&field.to_ne_bytes());
        }
        out
    }
}
