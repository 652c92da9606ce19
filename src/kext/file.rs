// SPDX-License-Identifier: GPL-2.0-only

//! A borrowed open file, seen from its file operations.
//!
//! The kernel crate's `File` and `LocalFile` promise that no other thread is
//! inside an `fdget_pos` that skipped `f_pos_lock`. A stream file
//! (`stream_open`) cannot give that promise: `FMODE_ATOMIC_POS` is cleared,
//! so a `read(2)` on another thread holds no lock. [`OpenFile`] offers only
//! what a file operation of a stream needs, and never touches `f_pos`.

use core::marker::PhantomData;
use kernel::bindings;

/// `FMODE_READ` from `include/linux/fs.h` (a `__force` cast bindgen skips).
const FMODE_READ: u32 = 1 << 0;
/// `FMODE_WRITE`.
const FMODE_WRITE: u32 = 1 << 1;
/// `FMODE_NOWAIT`: the file honours `IOCB_NOWAIT`.
const FMODE_NOWAIT: u32 = 1 << 27;

/// `IOCB_NOWAIT` from `include/linux/fs.h`: `RWF_NOWAIT` of the UAPI.
const IOCB_NOWAIT: i32 = 0x8;
/// `IOCB_NOSIGNAL`: `RWF_NOSIGNAL` of the UAPI.
const IOCB_NOSIGNAL: i32 = 0x100;

/// How a file was opened: `FMODE_READ` and `FMODE_WRITE` of `f_mode`.
///
/// An ioctl-only open (`O_ACCMODE` of 3) has neither.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Access {
    /// The file may be read.
    pub(crate) read: bool,
    /// The file may be written.
    pub(crate) write: bool,
}

/// A file of the calling file operation.
///
/// # Invariants
///
/// `ptr` is a valid file whose reference count stays positive for `'a`.
pub(crate) struct OpenFile<'a> {
    ptr: *mut bindings::file,
    _file: PhantomData<&'a bindings::file>,
}

impl<'a> OpenFile<'a> {
    /// Wraps the file that a file operation was called with.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid file whose reference count stays positive for
    /// `'a`, as it does for the duration of a file operation.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::file) -> Self {
        // INVARIANT: By the safety requirement.
        Self {
            ptr,
            _file: PhantomData,
        }
    }

    /// Returns the raw file.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.ptr
    }

    /// Returns `f_mode`.
    fn mode(&self) -> u32 {
        // SAFETY: The file is valid by the type invariant. Other bits of
        // `f_mode` may change while the file is open, so this is a volatile
        // read, as `READ_ONCE` would be; `FMODE_READ` and `FMODE_WRITE` are
        // set by `alloc_empty_file` before `->open` and never change.
        unsafe { core::ptr::addr_of!((*self.ptr).f_mode).read_volatile() }
    }

    /// Returns how the file was opened.
    pub(crate) fn access(&self) -> Access {
        let mode = self.mode();
        Access {
            read: mode & FMODE_READ != 0,
            write: mode & FMODE_WRITE != 0,
        }
    }

    /// Returns `f_flags`, which `fcntl(F_SETFL)` may change at any time.
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: The file is valid by the type invariant. `F_SETFL`
        // changes `f_flags` under `f_lock`; this volatile read stands for
        // the `READ_ONCE` of the C code that reads it without the lock.
        unsafe { core::ptr::addr_of!((*self.ptr).f_flags).read_volatile() }
    }

    /// Marks a file being opened as honouring `IOCB_NOWAIT`, as pipes do.
    ///
    /// # Safety
    ///
    /// Call it only from `->open`, before the file is installed in a file
    /// table, so that nothing reads `f_mode` concurrently.
    pub(crate) unsafe fn set_nowait(&self) {
        // SAFETY: The file is valid by the type invariant, and nobody else
        // uses it yet, by the safety requirement.
        unsafe { (*self.ptr).f_mode |= FMODE_NOWAIT };
    }
}

/// The flags of one I/O request that its file operation must honour.
#[derive(Clone, Copy, Default)]
pub(crate) struct IoFlags {
    /// Do not sleep: `O_NONBLOCK` on the file or `IOCB_NOWAIT` on the
    /// request (`RWF_NOWAIT`, io_uring's non-blocking attempt).
    pub(crate) nonblock: bool,
    /// Do not raise `SIGPIPE` on a broken pipe (`RWF_NOSIGNAL`).
    pub(crate) nosignal: bool,
}

impl IoFlags {
    /// Reads the flags of `kiocb`.
    ///
    /// # Safety
    ///
    /// `kiocb` must be a valid request on a valid file for the duration of
    /// the call.
    pub(crate) unsafe fn from_kiocb(kiocb: *const bindings::kiocb) -> Self {
        // SAFETY: By the safety requirement, the request and its file are
        // valid; the file operation holds a reference on the file.
        let (ki_flags, file) = unsafe { ((*kiocb).ki_flags, OpenFile::from_raw((*kiocb).ki_filp)) };
        Self {
            nonblock: file.flags() & bindings::O_NONBLOCK != 0 || ki_flags & IOCB_NOWAIT != 0,
            nosignal: ki_flags & IOCB_NOSIGNAL != 0,
        }
    }
}
