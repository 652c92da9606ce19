// SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note

//! The userspace ABI of `/dev/mydevice`.
//!
//! This mirrors `include/uapi/mydevice.h` item by item. The tests in this
//! crate compile the C header and compare every number, so the two views of
//! the ABI cannot drift apart.

#![no_std]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod sys;

/// The device node.
pub const DEVICE_PATH: &str = "/dev/mydevice";
/// The statistics file.
pub const PROC_PATH: &str = "/proc/mydevice";
/// The module parameter as seen in sysfs.
pub const PARAM_PATH: &str = "/sys/module/mydevice/parameters/buffer_size";

/// The ioctl magic number.
pub const MYDEV_IOC_MAGIC: u8 = b'M';

/// The smallest capacity, in bytes.
pub const MYDEV_BUFFER_MIN: u32 = 1;
/// The largest capacity, in bytes.
pub const MYDEV_BUFFER_MAX: u32 = 1_048_576;
/// The default capacity, in bytes.
pub const MYDEV_BUFFER_DEFAULT: u32 = 4096;
/// Writes of up to `min(MYDEV_ATOMIC_MAX, capacity)` bytes are atomic.
pub const MYDEV_ATOMIC_MAX: u32 = 4096;

/// The answer of [`MYDEV_STATUS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MydevStatus {
    /// Capacity in bytes.
    pub buffer_size: u32,
    /// Bytes buffered now.
    pub bytes_used: u32,
    /// Open files of the device.
    pub open_count: u32,
    /// Successful `read()` calls.
    pub read_count: u32,
    /// Successful `write()` calls.
    pub write_count: u32,
    /// Always 0.
    pub _reserved: u32,
}

/// The version of [`MydevStats`] this crate knows.
pub const MYDEV_STATS_VERSION: u32 = 1;
/// [`MydevStats::flags`]: the device is hung up.
pub const MYDEV_FLAG_HUNG_UP: u32 = 1 << 0;

/// The answer of [`MYDEV_STATS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MydevStats {
    /// `size_of::<MydevStats>()` as filled in by the kernel.
    pub size: u32,
    /// [`MYDEV_STATS_VERSION`].
    pub version: u32,
    /// Bytes delivered by `read()`.
    pub bytes_read: u64,
    /// Bytes stored by `write()`.
    pub bytes_written: u64,
    /// Successful `read()` calls.
    pub reads: u64,
    /// Successful `write()` calls.
    pub writes: u64,
    /// Times a reader went to sleep.
    pub reader_sleeps: u64,
    /// Times a writer went to sleep.
    pub writer_sleeps: u64,
    /// Readers asleep now.
    pub readers_waiting: u32,
    /// Writers asleep now.
    pub writers_waiting: u32,
    /// `MYDEV_FLAG_*`.
    pub flags: u32,
    /// Always 0.
    pub _reserved: u32,
}

const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// Encodes an ioctl command number as `_IOC(dir, type, nr, size)` does.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// `_IO('M', 0)`: discard all buffered data.
pub const MYDEV_CLEAR: u32 = ioc(IOC_NONE, MYDEV_IOC_MAGIC, 0, 0);
/// `_IOW('M', 1, __u32)`: set the capacity.
pub const MYDEV_RESIZE: u32 = ioc(IOC_WRITE, MYDEV_IOC_MAGIC, 1, core::mem::size_of::<u32>());
/// `_IOR('M', 2, struct mydev_status)`: read [`MydevStatus`].
pub const MYDEV_STATUS: u32 = ioc(
    IOC_READ,
    MYDEV_IOC_MAGIC,
    2,
    core::mem::size_of::<MydevStatus>(),
);
/// `_IO('M', 3)`: hang the device up.
pub const MYDEV_HANGUP: u32 = ioc(IOC_NONE, MYDEV_IOC_MAGIC, 3, 0);
/// `_IOR('M', 4, struct mydev_stats)`: read [`MydevStats`].
pub const MYDEV_STATS: u32 = ioc(
    IOC_READ,
    MYDEV_IOC_MAGIC,
    4,
    core::mem::size_of::<MydevStats>(),
);
/// The generic `FIONREAD`: bytes buffered, as an `int`.
pub const FIONREAD: u32 = 0x541b;

// The encoding above is asm-generic's, which the architectures that
// Rust-for-Linux supports all use; powerpc, mips, sparc and alpha do not.
// debian/control's Architecture names the same set.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "loongarch64"
)))]
compile_error!("mydevice-abi knows only the asm-generic ioctl encoding and FIONREAD");

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::{format, process::Command, string::String, vec::Vec};

    /// The ioctl numbers are pinned to the values computed from the C header.
    #[test]
    fn ioctl_numbers_are_pinned() {
        assert_eq!(MYDEV_CLEAR, 0x4d00);
        assert_eq!(MYDEV_RESIZE, 0x4004_4d01);
        assert_eq!(MYDEV_STATUS, 0x8018_4d02);
        assert_eq!(MYDEV_HANGUP, 0x4d03);
        assert_eq!(MYDEV_STATS, 0x8048_4d04);
        assert_eq!(core::mem::size_of::<MydevStatus>(), 24);
        assert_eq!(core::mem::size_of::<MydevStats>(), 72);
    }

    /// Every number agrees with what a C compiler makes of the header.
    #[test]
    fn matches_c_header() {
        let dir = std::env::temp_dir().join(format!("mydevice-abi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        let src = dir.join("abi.c");
        let bin = dir.join("abi");
        let header = concat!(env!("CARGO_MANIFEST_DIR"), "/../include/uapi/mydevice.h");
        std::fs::write(
            &src,
            format!(
                "#include <stdio.h>\n#include <stddef.h>\n#include \"{header}\"\n\
                 int main(void) {{\n\
                 printf(\"%u %u %u %u %u\\n\", (unsigned)MYDEV_CLEAR, (unsigned)MYDEV_RESIZE,\n\
                 (unsigned)MYDEV_STATUS, (unsigned)MYDEV_HANGUP, (unsigned)MYDEV_STATS);\n\
                 printf(\"%zu %zu\\n\", sizeof(struct mydev_status), sizeof(struct mydev_stats));\n\
                 printf(\"%zu %zu %zu %zu\\n\", offsetof(struct mydev_stats, bytes_read),\n\
                 offsetof(struct mydev_stats, writer_sleeps), offsetof(struct mydev_stats, flags),\n\
                 offsetof(struct mydev_status, write_count));\n\
                 printf(\"%u %u %u %u %u %u\\n\", MYDEV_BUFFER_MIN, MYDEV_BUFFER_MAX,\n\
                 MYDEV_BUFFER_DEFAULT, MYDEV_ATOMIC_MAX, MYDEV_STATS_VERSION, MYDEV_FLAG_HUNG_UP);\n\
                 return 0;\n}}\n"
            ),
        )
        .expect("write the C probe");
        let status = Command::new("cc")
            .arg("-Wall")
            .arg("-Werror")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .status()
            .expect("run cc");
        assert!(status.success(), "the C header does not compile");
        let out = Command::new(&bin).output().expect("run the C probe");
        let text = String::from_utf8(out.stdout).expect("C probe output is UTF-8");
        let nums: Vec<u64> = text
            .split_whitespace()
            .map(|w| w.parse().expect("a number"))
            .collect();
        let stats = MydevStats::default();
        let base = core::ptr::addr_of!(stats) as usize;
        let status = MydevStatus::default();
        let sbase = core::ptr::addr_of!(status) as usize;
        let rust: Vec<u64> = [
            MYDEV_CLEAR as usize,
            MYDEV_RESIZE as usize,
            MYDEV_STATUS as usize,
            MYDEV_HANGUP as usize,
            MYDEV_STATS as usize,
            core::mem::size_of::<MydevStatus>(),
            core::mem::size_of::<MydevStats>(),
            core::ptr::addr_of!(stats.bytes_read) as usize - base,
            core::ptr::addr_of!(stats.writer_sleeps) as usize - base,
            core::ptr::addr_of!(stats.flags) as usize - base,
            core::ptr::addr_of!(status.write_count) as usize - sbase,
            MYDEV_BUFFER_MIN as usize,
            MYDEV_BUFFER_MAX as usize,
            MYDEV_BUFFER_DEFAULT as usize,
            MYDEV_ATOMIC_MAX as usize,
            MYDEV_STATS_VERSION as usize,
            MYDEV_FLAG_HUNG_UP as usize,
        ]
        .iter()
        .map(|&v| v as u64)
        .collect();
        assert_eq!(
            nums, rust,
            "C header (left) and Rust mirror (right) disagree"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
