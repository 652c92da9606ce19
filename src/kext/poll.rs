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
    sync::LockClassKey,
    task::TASK_INTERRUPTIBLE,
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

/// How [`PollQueue::wait_interruptible_until`] ended.
pub(crate) struct Waited {
    /// A signal is pending, and the condition was still false.
    pub(crate) signalled: bool,
    /// How many times the task slept.
    pub(crate) sleeps: u32,
}

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

    /// Sleeps, interruptibly and exclusively, until `ready` returns true or
    /// a signal is pending, as `wait_event_interruptible_exclusive()` does.
    ///
    /// `ready` is called with the task queued and its state set, first
    /// before the first sleep and again after every wakeup: a change that
    /// a waker makes before its wakeup is either seen by `ready` or wakes
    /// this task. The caller holds no lock, so a woken task whose condition
    /// another task took away sleeps on without taking the caller's lock.
    ///
    /// Returns whether a signal ended the wait with `ready` false, and how
    /// many times the task slept. A task that leaves on a signal is taken
    /// off the queue before it returns, so a later wakeup finds another
    /// sleeper.
    pub(crate) fn wait_interruptible_until(&self, mut ready: impl FnMut() -> bool) -> Waited {
        let wait = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `wait` is valid memory for an entry. `init_wait_entry`
        // sets it up with `autoremove_wake_function`, which takes it off the
        // queue when it wakes this task.
        unsafe { bindings::init_wait_entry(wait.get(), bindings::WQ_FLAG_EXCLUSIVE as c_int) };
        let mut waited = Waited {
            signalled: false,
            sleeps: 0,
        };
        loop {
            // SAFETY: `wait` and `head` are valid, and the entry stays on
            // this stack frame, unmoved, until `finish_wait` below. The call
            // queues the entry at the tail, as it is exclusive, unless it is
            // queued already, and sets the task interruptible; with a signal
            // pending it takes the entry off the queue and returns
            // `-ERESTARTSYS` instead (kernel/sched/wait.c).
            let pending = unsafe {
                bindings::prepare_to_wait_event(self.head.get(), wait.get(), TASK_INTERRUPTIBLE)
            };
            if ready() {
                break;
            }
            if pending != 0 {
                waited.signalled = true;
                break;
            }
            // SAFETY: Switches to another task until a wakeup sets this
            // one running; `schedule` has no other requirement. Sleeping
            // while atomic would be a bug that the scheduler reports, and
            // this is a function for process context, as its callers are.
            unsafe { bindings::schedule() };
            waited.sleeps += 1;
        }
        // SAFETY: `wait` was initialised on `head` above; `finish_wait`
        // takes it off the queue if it is still on it, and sets the task
        // running.
        unsafe { bindings::finish_wait(self.head.get(), wait.get()) };
        waited
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
