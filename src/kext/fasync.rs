// SPDX-License-Identifier: GPL-2.0-only

//! A list of `O_ASYNC` owners, notified with `SIGIO`.

use super::file::OpenFile;
use core::ptr;
use kernel::{
    bindings,
    error::to_result,
    ffi::c_int,
    prelude::*,
    types::Opaque, //
};

/// The band of a `SIGIO`, as `si_band` reports it.
#[derive(Clone, Copy)]
pub(crate) enum Band {
    /// Data to read (`POLL_IN`).
    In,
    /// Room to write (`POLL_OUT`).
    Out,
}

/// A list of `O_ASYNC` owners to notify with `SIGIO`.
///
/// # Invariants
///
/// The wrapped pointer is null or a list managed by `fasync_helper`.
pub(crate) struct FasyncQueue(Opaque<*mut bindings::fasync_struct>);

// SAFETY: The list is only changed by `fasync_helper`, under the
// `fasync_lock` spinlock and the file's `f_lock`, and read by `kill_fasync`
// under RCU, so it may be used from any thread.
unsafe impl Send for FasyncQueue {}
// SAFETY: As for `Send`: all access goes through the C helpers, which
// synchronise among themselves.
unsafe impl Sync for FasyncQueue {}

impl FasyncQueue {
    /// Creates an empty list.
    pub(crate) fn new() -> Self {
        // INVARIANT: An empty list is a null pointer.
        Self(Opaque::new(ptr::null_mut()))
    }

    /// Adds `file` to the list or removes it, for `fcntl(F_SETFL, O_ASYNC)`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if the entry cannot be allocated.
    pub(crate) fn update(&self, fd: i32, file: &OpenFile<'_>, on: bool) -> Result {
        // SAFETY: `file` is a valid file for the call, and the list pointer
        // is valid and managed only by these helpers, by the type invariant.
        // An entry names its file; `__fput` calls `->fasync(-1, file, 0)`,
        // which removes it, before the file is freed.
        let ret =
            unsafe { bindings::fasync_helper(fd, file.as_ptr(), c_int::from(on), self.0.get()) };
        // `fasync_helper` returns 1 when it added or removed an entry.
        to_result(ret.min(0))
    }

    /// Sends `SIGIO` with `band` to every owner on the list.
    pub(crate) fn kill(&self, band: Band) {
        let band = match band {
            Band::In => bindings::POLL_IN,
            Band::Out => bindings::POLL_OUT,
        };
        // SAFETY: The list pointer is valid by the type invariant;
        // `kill_fasync` reads it under RCU and returns at once on an empty
        // list.
        unsafe { bindings::kill_fasync(self.0.get(), bindings::SIGIO as c_int, band as c_int) };
    }
}
