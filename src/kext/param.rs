// SPDX-License-Identifier: GPL-2.0-only

//! Storage for a read-only `uint` module parameter.
//!
//! The `module!` macro's parameters do not appear in sysfs. A driver that
//! wants `/sys/module/<name>/parameters/<param>` declares a `kernel_param`
//! in the `__param` section itself, as `module_param(name, uint, 0444)`
//! does in C, with a [`ParamU32`] as its storage.

use core::cell::UnsafeCell;

/// The value of a `uint` module parameter whose permissions have no write
/// bit.
///
/// # Invariants
///
/// Only the module loader writes the value, before the module's `init`;
/// from then on it is only read.
pub(crate) struct ParamU32(UnsafeCell<u32>);

// SAFETY: The loader's write (`parse_args` in `load_module`) happens before
// `init`, and so before any other access. Afterwards nothing writes: for a
// permission without a write bit, `add_sysfs_param` in kernel/params.c sets
// no `store` method, so no `chmod` can make the sysfs file writable, and the
// sysfs `show` only reads.
unsafe impl Sync for ParamU32 {}

impl ParamU32 {
    /// Creates the storage with its default value.
    pub(crate) const fn new(default: u32) -> Self {
        Self(UnsafeCell::new(default))
    }

    /// Returns the pointer for `kernel_param.arg`.
    ///
    /// # Safety
    ///
    /// The pointer may only go into the `arg` of one `kernel_param` with
    /// `param_ops_uint` and permissions without a write bit (e.g. 0444), so
    /// that only the loader writes through it, as the type invariant
    /// requires.
    pub(crate) const unsafe fn as_arg(&self) -> *mut u32 {
        self.0.get()
    }

    /// Returns the value given at load time, or the default.
    pub(crate) fn get(&self) -> u32 {
        // SAFETY: Nothing writes the value any more, by the type invariant:
        // the loader's write happened before `init`, which is the earliest
        // that module code runs.
        unsafe { *self.0.get() }
    }
}
