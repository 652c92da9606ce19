// SPDX-License-Identifier: GPL-2.0-only

//! A read-only `/proc` file printed by a `seq_file` `show` callback.
//!
//! The kernel crate has no procfs abstraction, so this declares the two C
//! functions it needs and wraps them in [`ProcEntry`], which owns the entry
//! and removes it on drop.

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

/// What a proc file shows.
pub(crate) trait ProcShow: Send + Sync {
    /// Prints the whole file into `m`. Called once per read of the file.
    fn show(&self, m: &SeqFile);
}

/// A `/proc/<name>` file that shows a `T`.
///
/// # Invariants
///
/// `entry` is a live proc entry whose data pointer is `data`'s, until drop.
pub(crate) struct ProcEntry<T: ProcShow> {
    entry: *mut c_void,
    /// Keeps the entry's data alive; dropped after `proc_remove`.
    data: Arc<T>,
}

// SAFETY: `proc_remove` may run on any thread, and `T` is `Send + Sync`.
unsafe impl<T: ProcShow> Send for ProcEntry<T> {}
// SAFETY: `ProcEntry` has no methods that take `&self`.
unsafe impl<T: ProcShow> Sync for ProcEntry<T> {}

/// The `show` callback of the proc file.
///
/// # Safety
///
/// Only `seq_file` calls this, for a file opened through
/// `proc_create_single_data` with a `T` as its data.
unsafe extern "C" fn show<T: ProcShow>(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: `single_open` stored the entry's data pointer, a `T` that the
    // `ProcEntry` keeps alive, in `m->private`. `proc_remove` waits for
    // running `show` calls before the `ProcEntry` lets go of its `Arc`.
    let data = unsafe { &*(*m).private.cast::<T>() };
    // SAFETY: The seq_file is valid for the duration of this call.
    data.show(unsafe { SeqFile::from_raw(m) });
    0
}

impl<T: ProcShow> ProcEntry<T> {
    /// Creates `/proc/<name>` (mode 0444) showing `data`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if the entry cannot be created, e.g. because the name is
    /// taken.
    pub(crate) fn new(name: &'static CStr, data: Arc<T>) -> Result<Self> {
        let ptr = Arc::as_ptr(&data).cast_mut().cast::<c_void>();
        // SAFETY: `name` is a static C string, `show::<T>` has the C
        // signature `proc_create_single_data` expects, and `ptr` stays
        // valid until `proc_remove` returns, because `Self` holds `data`
        // until then.
        let entry = unsafe {
            proc_create_single_data(
                name.as_char_ptr(),
                0o444,
                core::ptr::null_mut(),
                Some(show::<T>),
                ptr,
            )
        };
        if entry.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: `entry` was just created with `data`'s pointer.
        Ok(Self { entry, data })
    }
}

impl<T: ProcShow> Drop for ProcEntry<T> {
    fn drop(&mut self) {
        // SAFETY: `entry` is live by the type invariant. `proc_remove` waits
        // for every running `show`, so `data` can be dropped after it.
        unsafe { proc_remove(self.entry) };
        let _ = &self.data;
    }
}
