// SPDX-License-Identifier: GPL-2.0

//! The file-operations layer: the glue between the VFS and [`Fifo`].
//!
//! The kernel crate's `MiscDevice` has no `poll` or `fasync`, and leaves
//! `fops.owner` unset, which lets the module be unloaded under an open file.
//! This layer fills that gap with a static `file_operations` whose owner is
//! this module, in the manner of Binder's glue. It holds the driver's
//! `unsafe` code: every entry point turns raw pointers into safe references
//! and hands them to [`Fifo`], which has none.
//!
//! Each open file holds a reference on the [`Fifo`] in `private_data`, taken
//! in `open` and dropped in `release`.

use crate::{
    fifo::Fifo,
    ioctl::Command,
    THIS_MODULE, //
};
use core::ptr;
use kernel::{
    bindings,
    error::to_result,
    ffi::{
        c_int,
        c_long,
        c_uint,
        c_ulong, //
    },
    fs::{
        file,
        File, //
    },
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    prelude::*,
    sync::{
        poll::PollTable,
        Arc,
        ArcBorrow, //
    },
    task::Task,
    types::{
        ForeignOwnable,
        Opaque, //
    },
};

/// Returns whether `file` was opened for reading and for writing.
pub(crate) fn access_mode(file: &File) -> (bool, bool) {
    match file.flags() & file::flags::O_ACCMODE {
        file::flags::O_RDONLY => (true, false),
        file::flags::O_WRONLY => (false, true),
        _ => (true, true),
    }
}

/// Sends `SIGPIPE` to the current task, as a write to a broken pipe does.
pub(crate) fn send_sigpipe() {
    // SAFETY: `Task::current_raw()` is the running task, which stays valid
    // while it runs this call; `send_sig` takes its own references.
    unsafe { bindings::send_sig(bindings::SIGPIPE as c_int, Task::current_raw(), 0) };
}

/// A list of `O_ASYNC` owners to notify with `SIGIO`.
///
/// # Invariants
///
/// The wrapped pointer is null or a list managed by `fasync_helper`.
pub(crate) struct FasyncQueue(Opaque<*mut bindings::fasync_struct>);

// SAFETY: The list is only changed by `fasync_helper` and read by
// `kill_fasync`, which synchronise through their own locks and RCU.
unsafe impl Send for FasyncQueue {}
// SAFETY: As for `Send`: all access goes through the C helpers.
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
    pub(crate) fn update(&self, fd: i32, file: &File, on: bool) -> Result {
        // SAFETY: `file` is valid for the call, and the list pointer is valid
        // and managed only by these helpers, by the type invariant. The list
        // lives in a pinned `Fifo`, so its address is stable. The VFS removes
        // `file` from it before the file is freed.
        let ret =
            unsafe { bindings::fasync_helper(fd, file.as_ptr(), c_int::from(on), self.0.get()) };
        to_result(ret.min(0))
    }

    /// Sends `SIGIO` with `band` to every owner on the list.
    pub(crate) fn kill(&self, band: i32) {
        // SAFETY: The list pointer is valid by the type invariant;
        // `kill_fasync` reads it under RCU and tolerates an empty list.
        unsafe { bindings::kill_fasync(self.0.get(), bindings::SIGIO as c_int, band) };
    }
}

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

/// `file_operations.open`: takes a reference on the [`Fifo`] for the new file.
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `misc_open` set the private data to our `struct miscdevice`,
    // which is the `raw` field of a `Registration`. `misc_open` holds the
    // misc lock across this call, so the registration cannot go away.
    let reg = unsafe {
        &*kernel::container_of!(
            (*file).private_data.cast::<Opaque<bindings::miscdevice>>(),
            Registration,
            raw
        )
    };
    // SAFETY: `inode` and `file` are valid for a file being opened. A FIFO
    // has no file position: this makes `lseek`, `pread` and `pwrite` fail
    // with `ESPIPE`, as on a pipe.
    let ret = unsafe { bindings::stream_open(inode, file) };
    if ret != 0 {
        return ret;
    }
    let fifo = reg.fifo.clone();
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

/// Returns whether an I/O request on `file` must not sleep.
///
/// # Safety
///
/// `kiocb` must be a valid request on a valid file.
unsafe fn nonblock(kiocb: *mut bindings::kiocb) -> bool {
    // SAFETY: By the safety requirement, both pointers are valid.
    let flags = unsafe { (*(*kiocb).ki_filp).f_flags };
    flags & file::flags::O_NONBLOCK != 0
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
    let (fifo, nonblock) = unsafe { (fifo((*kiocb).ki_filp), nonblock(kiocb)) };
    // SAFETY: The VFS passes a valid destination iterator for a read.
    let dst = unsafe { IovIterDest::from_raw(iter) };
    match fifo.read(dst, nonblock) {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
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
    let (fifo, nonblock) = unsafe { (fifo((*kiocb).ki_filp), nonblock(kiocb)) };
    // SAFETY: The VFS passes a valid source iterator for a write.
    let src = unsafe { IovIterSource::from_raw(iter) };
    match fifo.write(src, nonblock) {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
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
    // SAFETY: The VFS passes a valid file of this device, and a poll table
    // that is null or valid for the duration of this call.
    let (fifo, file, table) = unsafe {
        (
            fifo(file),
            File::from_raw_file(file),
            PollTable::from_raw(table),
        )
    };
    fifo.poll(file, &table)
}

/// `file_operations.unlocked_ioctl`: see [`Fifo::ioctl`].
///
/// # Safety
///
/// Only the VFS calls this, through [`FOPS`], with valid arguments for a
/// file of this device.
unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: The VFS passes a valid file of this device; there is no
    // `fdget_pos` region on an ioctl.
    let (fifo, file) = unsafe { (fifo(file), File::from_raw_file(file)) };
    let result = Command::decode(cmd, arg).and_then(|cmd| fifo.ioctl(cmd, access_mode(file).1));
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
    // SAFETY: The VFS passes a valid file of this device.
    let (fifo, file) = unsafe { (fifo(file), File::from_raw_file(file)) };
    match fifo.fasync(fd, file, on != 0) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A `file_operations` that can live in a `static`.
struct FileOps(bindings::file_operations);

// SAFETY: The table is never written after it is built, and every function
// it points to may be called from any thread.
unsafe impl Sync for FileOps {}

static FOPS: FileOps = FileOps(bindings::file_operations {
    // The VFS takes a reference on this module for every open file, so it
    // cannot be unloaded while a file is open.
    owner: THIS_MODULE.as_ptr(),
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
    // SAFETY: All other fields are nullable pointers or plain flags, for
    // which zero means "not supported" or "none".
    ..unsafe { core::mem::zeroed() }
});

/// The registered misc device `/dev/<name>`, backed by one [`Fifo`].
///
/// # Invariants
///
/// `raw` is registered with `misc_register` until the registration drops.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration {
    fifo: Arc<Fifo>,
    #[pin]
    raw: Opaque<bindings::miscdevice>,
}

// SAFETY: `misc_deregister` may run on any thread.
unsafe impl Send for Registration {}
// SAFETY: Only `open` touches the registration concurrently, and it only
// reads `fifo`, which is `Sync`.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers `/dev/<name>` (mode 0600) for `fifo`.
    ///
    /// Register last during module init: the device can be opened as soon as
    /// this returns, and nothing may fail after that.
    ///
    /// # Errors
    ///
    /// Whatever `misc_register` returns, e.g. `EBUSY` if the name is taken.
    pub(crate) fn register(name: &'static CStr, fifo: Arc<Fifo>) -> impl PinInit<Self, Error> {
        // `fifo` is set before `raw` is registered, so `open` always finds it.
        try_pin_init!(Self {
            fifo,
            raw <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                // SAFETY: The all-zero `miscdevice` is valid: null pointers
                // and an empty list head that `misc_register` initialises.
                let mut misc: bindings::miscdevice = unsafe { core::mem::zeroed() };
                misc.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                misc.name = name.as_char_ptr();
                misc.fops = &FOPS.0;
                misc.mode = 0o600;
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
}

#[pinned_drop]
impl PinnedDrop for Registration {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `raw` is registered, by the type invariant.
        unsafe { bindings::misc_deregister(self.raw.get()) };
    }
}
