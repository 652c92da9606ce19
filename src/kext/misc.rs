// SPDX-License-Identifier: GPL-2.0-only

//! A misc device with a `file_operations` table of the driver's own.
//!
//! The kernel crate's `MiscDevice` has no `poll`, `fasync` or splice, and in
//! 7.2 leaves `fops.owner` unset, which lets the module be unloaded under an
//! open file. [`Registration`] registers a static table instead, and gives
//! `->open` the data it was registered with.

use kernel::{
    bindings,
    error::to_result,
    ffi::c_int,
    prelude::*,
    sync::Arc,
    types::Opaque, //
};

/// A `file_operations` table that can live in a `static`.
pub(crate) struct FileOperations(bindings::file_operations);

// SAFETY: The table is never written after it is built, and `new`'s caller
// guarantees that its functions may be called from any thread.
unsafe impl Sync for FileOperations {}

impl FileOperations {
    /// Wraps `ops`.
    ///
    /// # Safety
    ///
    /// Every function in `ops` must be callable from any thread, as the VFS
    /// calls them, and `ops.owner` must be the module that holds them.
    pub(crate) const unsafe fn new(ops: bindings::file_operations) -> Self {
        Self(ops)
    }
}

/// The registered misc device `/dev/<name>`, which opens with a `T`.
///
/// # Invariants
///
/// `raw` is registered with `misc_register` until the registration drops.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: Send + Sync> {
    data: Arc<T>,
    #[pin]
    raw: Opaque<bindings::miscdevice>,
}

// SAFETY: `misc_deregister` may run on any thread, and `T` is `Send + Sync`.
unsafe impl<T: Send + Sync> Send for Registration<T> {}
// SAFETY: Only `->open` touches the registration concurrently, and it only
// reads `data`, which is `Sync`.
unsafe impl<T: Send + Sync> Sync for Registration<T> {}

impl<T: Send + Sync> Registration<T> {
    /// Registers `/dev/<name>` with `mode` and `fops`.
    ///
    /// Register last during module init: the device can be opened as soon as
    /// this returns.
    ///
    /// # Errors
    ///
    /// Whatever `misc_register` returns, e.g. `EBUSY` if the name is taken.
    pub(crate) fn register(
        name: &'static CStr,
        mode: u16,
        fops: &'static FileOperations,
        data: Arc<T>,
    ) -> impl PinInit<Self, Error> {
        // `data` is set before `raw` is registered, so `->open` always finds it.
        try_pin_init!(Self {
            data,
            raw <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                // SAFETY: The all-zero `miscdevice` is valid: null pointers
                // and an empty list head that `misc_register` initialises.
                let mut misc: bindings::miscdevice = unsafe { core::mem::zeroed() };
                misc.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                misc.name = name.as_char_ptr();
                misc.fops = &fops.0;
                misc.mode = mode;
                // SAFETY: `slot` is valid for writes, and pinned until the
                // drop below deregisters it.
                unsafe { slot.write(misc) };
                // SAFETY: `slot` holds an initialised `miscdevice` whose name
                // and fops are static.
                // INVARIANT: On success the device is registered.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
        })
    }

    /// Returns the data of the device that `file` is being opened on.
    ///
    /// # Safety
    ///
    /// Call it only from the `->open` of a table registered through a
    /// `Registration<T>`, with the file being opened, before anything
    /// changes its private data.
    pub(crate) unsafe fn opening<'a>(file: *mut bindings::file) -> &'a Arc<T> {
        // SAFETY: `misc_open` set the private data to the `struct
        // miscdevice` that was opened, the `raw` field of a `Registration<T>`
        // by the safety requirement. `misc_open` holds `misc_mtx` across
        // `->open`, and `misc_deregister` takes it, so the registration
        // outlives this call.
        let reg = unsafe {
            &*kernel::container_of!(
                (*file).private_data.cast::<Opaque<bindings::miscdevice>>(),
                Self,
                raw
            )
        };
        &reg.data
    }
}

#[pinned_drop]
impl<T: Send + Sync> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `raw` is registered, by the type invariant.
        unsafe { bindings::misc_deregister(self.raw.get()) };
    }
}
