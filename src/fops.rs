// SPDX-License-Identifier: GPL-2.0-only

//! The file operations: the glue between the VFS and [`Fifo`].
//!
//! Each `extern "C"` entry point turns the VFS's raw pointers into the safe
//! types of [`crate::kext`] and plain values (how the file was opened,
//! whether the request may sleep or raise `SIGPIPE`), calls [`Fifo`], and
//! turns its result into a return value and kernel actions. Nothing imports
//! this file but the crate root, which registers [`FOPS`].
//!
//! Each open file holds a reference on the [`Fifo`] in `private_data`, taken
//! in `open` and dropped in `release`.

use crate::{
    fifo::Fifo,
    ioctl::Command,
    kext::{
        file::{
            IoFlags,
            OpenFile, //
        },
        misc::{
            FileOperations,
            Registration, //
        },
        poll::PollTable,
        signal,
    },
};
use kernel::{
    bindings,
    ffi::{
        c_int,
        c_long,
        c_uint,
        c_ulong, //
    },
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    prelude::*,
    sync::{
        Arc,
        ArcBorrow, //
    },
    types::ForeignOwnable,
};

/// The misc device of this driver.
pub(crate) type MiscDevice = Registration<Fifo>;

/// Borrows the [`Fifo`] that `open` stored in `file`'s private data.
///
/// # Safety
///
/// `file` must be a file of this device between `open` and `release`.
unsafe fn fifo<'a>(file: *mut bindings::file) -> ArcBorrow<'a, Fifo> {
    // SAFETY: By the safety requirement, `open` stored an `Arc<Fifo>` with
    // `into_foreign`, and `release` has not yet taken it back.
    unsafe { <Arc<Fifo> as ForeignOwnable>::borrow((*file).private_data) }
}

/// Converts a result into the `ssize_t` return value of a file operation.
fn to_ssize(result: Result<usize>) -> isize {
    match result {
        // A count is at most the request's length, which the VFS caps at
        // `MAX_RW_COUNT`, so it fits.
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// `file_operations.open`: takes a reference on the [`Fifo`] for the new file.
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: The VFS is opening `file` on this device, which `misc_open`
    // registered with this table through a `MiscDevice`, and nothing has
    // changed its private data yet.
    let fifo = unsafe { MiscDevice::opening(file) }.clone();
    // SAFETY: `inode` and `file` are valid for a file being opened. A FIFO
    // has no file position: this makes `lseek`, `pread` and `pwrite` fail
    // with `ESPIPE`, as on a pipe.
    let ret = unsafe { bindings::stream_open(inode, file) };
    if ret != 0 {
        return ret;
    }
    // SAFETY: `file` is valid for the duration of `open`.
    let open_file = unsafe { OpenFile::from_raw(file) };
    // The FIFO honours `IOCB_NOWAIT`, so io_uring may try a request inline
    // and arm poll when it would block, and `RWF_NOWAIT` is accepted.
    //
    // SAFETY: This is `->open`; the file is not installed yet.
    unsafe { open_file.set_nowait() };
    fifo.open();
    // SAFETY: The file is being opened, so nobody else uses its private
    // data. From here on it holds an `Arc<Fifo>`, which `release` takes back.
    unsafe { (*file).private_data = fifo.into_foreign() };
    0
}

/// `file_operations.release`: drops the file's reference on the [`Fifo`].
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `open` stored an `Arc<Fifo>` in the private data, and this is
    // the last use of the file, so the reference can be taken back.
    let fifo = unsafe { <Arc<Fifo> as ForeignOwnable>::from_foreign((*file).private_data) };
    fifo.release();
    0
}

/// `file_operations.read_iter`: see [`Fifo::read`].
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn read_iter(
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: The VFS passes a valid request on a file of this device.
    let (fifo, flags) = unsafe { (fifo((*kiocb).ki_filp), IoFlags::from_kiocb(kiocb)) };
    // SAFETY: The VFS passes a valid destination iterator for a read.
    let dst = unsafe { IovIterDest::from_raw(iter) };
    to_ssize(fifo.read(dst, flags.nonblock))
}

/// `file_operations.write_iter`: see [`Fifo::write`].
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn write_iter(
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: The VFS passes a valid request on a file of this device.
    let (fifo, flags) = unsafe { (fifo((*kiocb).ki_filp), IoFlags::from_kiocb(kiocb)) };
    // SAFETY: The VFS passes a valid source iterator for a write.
    let src = unsafe { IovIterSource::from_raw(iter) };
    let written = fifo.write(src, flags.nonblock);
    // As pipe.c: a write that a hangup stopped raises `SIGPIPE`, even after
    // a partial write, unless the request asked not to (`RWF_NOSIGNAL`).
    if written.broken_pipe && !flags.nosignal {
        signal::send_sigpipe();
    }
    to_ssize(written.result)
}

/// `file_operations.poll`: see [`Fifo::poll`].
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn poll(
    file: *mut bindings::file,
    table: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: The VFS passes a valid file of this device, which it holds a
    // reference on, and a poll table that is null or valid for the call.
    let (fifo, open_file, table) = unsafe {
        (
            fifo(file),
            OpenFile::from_raw(file),
            PollTable::from_raw(table),
        )
    };
    fifo.poll(&open_file, &table)
}

/// `file_operations.unlocked_ioctl`: see [`Fifo::ioctl`].
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: The VFS passes a valid file of this device and holds a
    // reference on it for the call.
    let (fifo, open_file) = unsafe { (fifo(file), OpenFile::from_raw(file)) };
    let result = Command::decode(cmd, arg).and_then(|cmd| fifo.ioctl(cmd, open_file.access()));
    match result {
        Ok(ret) => ret as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `file_operations.fasync`: see [`Fifo::fasync`].
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn fasync(fd: c_int, file: *mut bindings::file, on: c_int) -> c_int {
    // SAFETY: The VFS passes a valid file of this device, with a reference
    // held, also from `__fput` before the file is freed.
    let (fifo, open_file) = unsafe { (fifo(file), OpenFile::from_raw(file)) };
    match fifo.fasync(fd, &open_file, on != 0) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

// SAFETY: Every function may be called from any thread, and the owner is
// this module.
pub(crate) static FOPS: FileOperations = unsafe {
    FileOperations::new(bindings::file_operations {
        // The VFS takes a reference on this module for every open file, so
        // it cannot be unloaded while a file is open. `THIS_MODULE`, spelled
        // so that it builds on 7.2 and 7.3 alike.
        owner: (&raw const bindings::__this_module).cast_mut(),
        open: Some(open),
        release: Some(release),
        read_iter: Some(read_iter),
        write_iter: Some(write_iter),
        poll: Some(poll),
        unlocked_ioctl: Some(ioctl),
        // Every argument is a pointer or unused, so the 64-bit handler serves
        // 32-bit callers once the pointer is converted.
        compat_ioctl: bindings::compat_ptr_ioctl,
        fasync: Some(fasync),
        // splice(2), sendfile(2) and tee(2) through `read_iter` and
        // `write_iter`, as for a FIFO.
        splice_read: Some(bindings::copy_splice_read),
        splice_write: Some(bindings::iter_file_splice_write),
        // SAFETY: All other fields are nullable pointers or plain flags, for
        // which zero means "not supported" or "none".
        ..core::mem::zeroed()
    })
};
