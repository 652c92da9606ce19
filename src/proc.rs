// SPDX-License-Identifier: GPL-2.0

//! The `/proc/mydevice` statistics file.
//!
//! The kernel crate has no procfs abstraction, so this declares the two C
//! functions it needs and wraps them in [`ProcEntry`], which owns the entry
//! and removes it on drop.

use crate::fifo::Fifo;
use core::ffi::c_void;
use kernel::{
    bindings,
    ffi::{
        c_char,
        c_int, //
    },
    prelude::*,
    seq_file::SeqFile,
    sync::Arc, //
};

unsafe extern "C" {
    /// `proc_create_single_data()` from `include/linux/proc_fs.h`.
    fn proc_create_single_data(
        name: *const c_char,
        mode: bindings::umode_t,
        parent: *mut c_void,
        show: Option<unsafe extern "C" fn(*mut bindings::seq_file, *mut c_void) -> c_int>,
        data: *mut c_void,
    ) -> *mut c_void;

    /// `proc_remove()` from `include/linux/proc_fs.h`.
    fn proc_remove(entry: *mut c_void);
}

/// A `/proc/<name>` file that shows a [`Fifo`]'s statistics.
///
/// # Invariants
///
/// `entry` is a live proc entry whose data pointer is `_fifo`'s, until drop.
pub(crate) struct ProcEntry {
    entry: *mut c_void,
    /// Keeps the entry's data alive; dropped after `proc_remove`.
    _fifo: Arc<Fifo>,
}

// SAFETY: `proc_remove` may run on any thread, and `Fifo` is `Sync`.
unsafe impl Send for ProcEntry {}
// SAFETY: `ProcEntry` has no methods that take `&self`.
unsafe impl Sync for ProcEntry {}

/// The `show` callback of the proc file: prints the statistics.
///
/// # Safety
///
/// Only `seq_file` calls this, for a file opened through `proc_create_single_data`
/// with a [`Fifo`] as its data.
unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: `single_open` stored the entry's data pointer, a `Fifo` that
    // the `ProcEntry` keeps alive, in `m->private`. `proc_remove` waits for
    // running `show` calls before the `ProcEntry` lets go of the `Fifo`.
    let fifo = unsafe { &*(*m).private.cast::<Fifo>() };
    // SAFETY: The seq_file is valid for the duration of this call.
    fifo.show(unsafe { SeqFile::from_raw(m) });
    0
}

impl ProcEntry {
    /// Creates `/proc/<name>` (mode 0444) showing `fifo`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if the entry cannot be created, e.g. because the name is
    /// taken.
    pub(crate) fn new(name: &'static CStr, fifo: Arc<Fifo>) -> Result<Self> {
        let data = Arc::as_ptr(&fifo).cast_mut().cast::<c_void>();
        // SAFETY: `name` is a static C string, `show` has the C signature
        // `proc_create_single_data` expects, and `data` stays valid until
        // `proc_remove` returns, because `Self` holds `fifo` until then.
        let entry = unsafe {
            proc_create_single_data(
                name.as_char_ptr(),
                0o444,
                core::ptr::null_mut(),
                Some(show),
                data,
            )
        };
        if entry.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: `entry` was just created with `fifo`'s data pointer.
        Ok(Self { entry, _fifo: fifo })
    }
}

impl Drop for ProcEntry {
    fn drop(&mut self) {
        // SAFETY: `entry` is live by the type invariant. `proc_remove` waits
        // for every running `show`, so `fifo` can be dropped after it.
        unsafe { proc_remove(self.entry) };
    }
}
