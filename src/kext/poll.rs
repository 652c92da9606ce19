// SPDX-License-Identifier: GPL-2.0-only

//! A wait queue for exclusive sleepers and pollers, woken with a poll key.
//!
//! The kernel crate's `PollCondVar` wakes with a null key. An epoll entry
//! then cannot tell which event the wakeup is for, and an `EPOLLEXCLUSIVE`
//! entry waiting for the other direction takes the one exclusive wakeup
//! meant for a sleeper. [`PollQueue`] wakes with the key, as
//! `wake_up_interruptible_sync_poll()` does in `fs/pipe.c`.

use super::file::OpenFile;
use core::{
    ffi::c_void,
    marker::{
        PhantomData,
        PhantomPinned, //
    },
};
use kernel::{
    bindings,
    ffi::{
        c_int,
        c_uint, //
    },
    prelude::*,
    sync::{
        lock::{
            Backend,
            Guard, //
        },
        LockClassKey,
    },
    task::{
        MAX_SCHEDULE_TIMEOUT,
        TASK_INTERRUPTIBLE, //
    },
    types::Opaque,
};

/// Readable: `EPOLLIN | EPOLLRDNORM`.
pub(crate) const POLL_READABLE: u32 = bindings::POLLIN | bindings::POLLRDNORM;
/// Writable: `EPOLLOUT | EPOLLWRNORM`.
pub(crate) const POLL_WRITABLE: u32 = bindings::POLLOUT | bindings::POLLWRNORM;
/// Hung up: `EPOLLHUP`, for readers.
pub(crate) const POLL_HANGUP: u32 = bindings::POLLHUP;
/// Error: `EPOLLERR`, for writers that can no longer write.
pub(crate) const POLL_ERROR: u32 = bindings::POLLERR;

/// A wait queue whose wakeups carry a poll key.
///
/// Sleepers wait exclusively, so one wakeup releases one of them; poll
/// tables register non-exclusively and get every wakeup whose key they
/// want.
///
/// # Invariants
///
/// `head` is an initialised `wait_queue_head`.
#[pin_data(PinnedDrop)]
pub(crate) struct PollQueue {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: A `wait_queue_head` may be used from any thread; its own
// spinlock guards it.
unsafe impl Send for PollQueue {}
// SAFETY: As for `Send`: every operation takes the queue's spinlock.
unsafe impl Sync for PollQueue {}

impl PollQueue {
    /// Creates an empty queue, with `name` and `key` for lockdep.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid while the closure runs, and `name` and
            // `key` are static.
            // INVARIANT: `__init_waitqueue_head` initialises the head.
            head <- Opaque::ffi_init(|slot| unsafe {
                bindings::__init_waitqueue_head(slot, name.as_char_ptr(), key.as_ptr())
            }),
            _pin: PhantomPinned,
        })
    }

    /// Releases `guard`'s lock and sleeps, interruptibly and exclusively,
    /// until woken; then takes the lock again.
    ///
    /// Returns the new guard and whether a signal is pending. The caller
    /// loops on its own condition: a wakeup is a hint.
    pub(crate) fn wait_interruptible<'a, T: ?Sized, B: Backend>(
        &self,
        guard: Guard<'a, T, B>,
    ) -> (Guard<'a, T, B>, bool) {
        let lock = guard.lock_ref();
        let wait = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `wait` is valid memory for an entry.
        unsafe { bindings::init_wait(wait.get()) };
        // SAFETY: `wait` and `head` are valid. The entry stays on this
        // stack frame, unmoved, until `finish_wait` removes it below.
        // Queueing before the unlock means that a wakeup issued after the
        // caller's condition check, once the lock is dropped, finds this
        // task (see `prepare_to_wait` in kernel/sched/wait.c).
        unsafe {
            bindings::prepare_to_wait_exclusive(self.head.get(), wait.get(), TASK_INTERRUPTIBLE)
        };
        drop(guard);
        // SAFETY: Sleeping is allowed: the lock was just released and the
        // caller holds no other, as `Guard` is the only way to hold one here.
        unsafe { bindings::schedule_timeout(MAX_SCHEDULE_TIMEOUT) };
        // SAFETY: `wait` was queued on `head` above; `finish_wait` takes it
        // off if no wakeup did, and sets the task running.
        unsafe { bindings::finish_wait(self.head.get(), wait.get()) };
        (lock.lock(), kernel::current!().signal_pending())
    }

    /// Wakes one exclusive sleeper and every poller whose events meet
    /// `key`, as a sync wakeup: the waker is about to sleep or return.
    pub(crate) fn notify_sync(&self, key: u32) {
        // SAFETY: `head` is initialised by the type invariant. The key is a
        // poll mask passed as a pointer-sized value (`poll_to_key`); nothing
        // dereferences it.
        unsafe {
            bindings::__wake_up_sync_key(
                self.head.get(),
                TASK_INTERRUPTIBLE as c_uint,
                key as usize as *mut c_void,
            )
        };
    }

    /// Wakes up to `nr` exclusive sleepers (0 for all) and every poller
    /// whose events meet `key`.
    fn notify(&self, nr: c_int, key: u32) {
        // SAFETY: As in `notify_sync`.
        unsafe {
            bindings::__wake_up(
                self.head.get(),
                TASK_INTERRUPTIBLE as c_uint,
                nr,
                key as usize as *mut c_void,
            )
        };
    }

    /// Wakes one exclusive sleeper and the pollers for `key`.
    pub(crate) fn notify_one(&self, key: u32) {
        self.notify(1, key);
    }

    /// Wakes every sleeper and the pollers for `key`.
    pub(crate) fn notify_all(&self, key: u32) {
        self.notify(0, key);
    }
}

#[pinned_drop]
impl PinnedDrop for PollQueue {
    fn drop(self: Pin<&mut Self>) {
        // Detach every poll entry still queued: epoll removes its entries
        // on `POLLFREE`, under RCU.
        //
        // SAFETY: `head` is initialised by the type invariant.
        unsafe { bindings::__wake_up_pollfree(self.head.get()) };
        // Wait until epoll no longer looks at the queue.
        //
        // SAFETY: Just an FFI call; this context may sleep, as a drop of a
        // queue that sleepers used must.
        unsafe { bindings::synchronize_rcu() };
    }
}

/// The `poll_table` of one `->poll` call.
///
/// # Invariants
///
/// `table` is null or a valid `poll_table` for `'a`.
pub(crate) struct PollTable<'a> {
    table: *mut bindings::poll_table,
    _table: PhantomData<&'a bindings::poll_table>,
}

impl<'a> PollTable<'a> {
    /// Wraps the table that `->poll` was called with.
    ///
    /// # Safety
    ///
    /// `table` must be null or a valid `poll_table` for `'a`.
    pub(crate) unsafe fn from_raw(table: *mut bindings::poll_table) -> Self {
        // INVARIANT: By the safety requirement.
        Self {
            table,
            _table: PhantomData,
        }
    }

    /// Registers the poller on `queue`, so that a wakeup of `queue` with a
    /// key it wants wakes it. Register before sampling the state.
    pub(crate) fn register(&self, file: &OpenFile<'_>, queue: &PollQueue) {
        // SAFETY: `file` is valid for the call, and `self.table` is null or
        // valid, by the type invariant. `queue` is pinned, so it stays at
        // this address until its drop, which detaches every entry with
        // `POLLFREE` and waits an RCU grace period for epoll to let go.
        unsafe { bindings::poll_wait(file.as_ptr(), queue.head.get(), self.table) }
    }
}
