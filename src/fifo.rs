// SPDX-License-Identifier: GPL-2.0-only

//! The FIFO device state and its blocking read, write, poll and control paths.
//!
//! The design follows `fs/pipe.c`. One mutex guards the data. Readers and
//! writers sleep exclusively on separate wait queues, which pollers share
//! non-exclusively, so one wakeup releases one sleeper and every poller
//! that wants its key. A sleeper always loops on its predicate: a wakeup is
//! a hint, the state is the truth. Whom to wake is decided under the lock,
//! and woken after it is dropped, so that the woken task does not block on
//! the lock at once.
//!
//! A reader may hold the mutex across a copy that faults and sleeps. So
//! that nothing else waits on it, every change is also published where
//! `poll` reads it without a lock (one atomic word, as `pipe_poll` reads
//! `head_tail`), and where `STATUS`, `STATS`, `FIONREAD` and `/proc` read a
//! consistent snapshot under a spinlock that nobody holds across a sleep.
//! The snapshot is taken under the mutex and stored after it is dropped, so
//! that its spinlock does not lengthen the mutex's critical section.
//!
//! This file is the safe core: it takes plain values (how a file was
//! opened, whether a request may sleep) and returns errors. The file
//! operations turn them into kernel actions such as `SIGPIPE`.

use crate::{
    ioctl::{
        self,
        Command,
        Stats,
        Status, //
    },
    kext::{
        fasync::{
            Band,
            FasyncQueue, //
        },
        file::{
            Access,
            OpenFile, //
        },
        poll::{
            PollQueue,
            PollTable,
            POLL_ERROR,
            POLL_HANGUP,
            POLL_READABLE,
            POLL_WRITABLE, //
        },
        proc::ProcShow,
    },
    ring::Ring,
};
use kernel::{
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    prelude::*,
    seq_file::SeqFile,
    seq_print, static_lock_class,
    sync::{
        atomic::{
            Acquire,
            Atomic,
            Relaxed,
            Release, //
        },
        new_mutex,
        new_spinlock,
        Mutex,
        MutexGuard,
        SpinLock, //
    },
    uaccess::UserSlice,
};

/// Returns the free space from which `poll` reports `EPOLLOUT`.
///
/// A write of up to `min(ATOMIC_MAX, capacity)` bytes needs all of its
/// bytes free. Reporting writable with less would send a writer of such
/// records from "writable" to `EAGAIN` in a loop; a pipe likewise reports
/// `EPOLLOUT` only when a whole slot, `PIPE_BUF` bytes, is free.
pub(crate) fn pollout_mark(capacity: usize) -> usize {
    ioctl::ATOMIC_MAX.min(capacity)
}

/// Returns the free bytes that a write of `total` bytes, `written` of
/// them stored, needs to go on: all of an atomic write before its first
/// byte is stored, otherwise one.
fn write_need(total: usize, written: usize, capacity: usize) -> usize {
    if written == 0 {
        ioctl::atomic_need(total, capacity)
    } else {
        1
    }
}

/// Counters that run from module load, reported by `MYDEV_STATS` and /proc.
#[derive(Default)]
struct Counters {
    bytes_read: u64,
    bytes_written: u64,
    reads: u64,
    writes: u64,
    reader_sleeps: u64,
    writer_sleeps: u64,
}

/// Everything the mutex guards.
struct Inner {
    ring: Ring,
    /// Set by `MYDEV_HANGUP`; cleared when the last open file is released.
    hung_up: bool,
    open_count: u32,
    /// Tasks asleep in [`Fifo::read`] and [`Fifo::write`].
    readers_waiting: u32,
    writers_waiting: u32,
    /// Bumped on every change of the ring or the hangup state. A writer that
    /// is woken but cannot go on passes the wakeup on at most once per value.
    generation: u64,
    /// Bumped by every [`Fifo::publish`]: orders the snapshots.
    published: u64,
    counters: Counters,
}

impl Inner {
    /// Whether a reader can return now, with data or with EOF.
    fn readable(&self) -> bool {
        !self.ring.is_empty() || self.hung_up
    }

    fn status(&self) -> Status {
        Status {
            // The capacity is at most `BUFFER_MAX`, so these fit in a `u32`.
            buffer_size: self.ring.capacity() as u32,
            bytes_used: self.ring.len() as u32,
            open_count: self.open_count,
            // `STATUS` has 32-bit call counters; they wrap, as the C ABI says.
            read_count: self.counters.reads as u32,
            write_count: self.counters.writes as u32,
        }
    }

    fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            bytes_read: c.bytes_read,
            bytes_written: c.bytes_written,
            reads: c.reads,
            writes: c.writes,
            reader_sleeps: c.reader_sleeps,
            writer_sleeps: c.writer_sleeps,
            readers_waiting: self.readers_waiting,
            writers_waiting: self.writers_waiting,
            flags: if self.hung_up { ioctl::FLAG_HUNG_UP } else { 0 },
        }
    }

    fn readiness(&self) -> Readiness {
        Readiness {
            // The capacity is at most `BUFFER_MAX`, so these fit in a `u32`.
            used: self.ring.len() as u32,
            capacity: self.ring.capacity() as u32,
            hung_up: self.hung_up,
        }
    }
}

/// What `poll` needs to know, packed into one word so that a single load
/// gives a consistent view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub(crate) used: u32,
    pub(crate) capacity: u32,
    pub(crate) hung_up: bool,
}

impl Readiness {
    const HUNG_UP: u64 = 1 << 63;

    /// Packs the state: `used` in bits 0-31, `capacity` in bits 32-62 (it
    /// is at most `BUFFER_MAX`), the hangup in bit 63.
    pub(crate) fn pack(self) -> u64 {
        let hung_up = if self.hung_up { Self::HUNG_UP } else { 0 };
        u64::from(self.used) | (u64::from(self.capacity) << 32) | hung_up
    }

    /// Unpacks what [`Readiness::pack`] packed.
    pub(crate) fn unpack(word: u64) -> Self {
        Self {
            used: word as u32,
            capacity: ((word & !Self::HUNG_UP) >> 32) as u32,
            hung_up: word & Self::HUNG_UP != 0,
        }
    }

    /// Whether a reader can return now, with data or with EOF.
    pub(crate) fn readable(self) -> bool {
        self.used > 0 || self.hung_up
    }

    /// Returns the free space in bytes.
    pub(crate) fn free(self) -> usize {
        (self.capacity - self.used) as usize
    }

    /// Returns the poll mask for a file opened with `access`.
    pub(crate) fn mask(self, access: Access) -> u32 {
        let mut mask = 0;
        if access.read {
            if self.readable() {
                mask |= POLL_READABLE;
            }
            if self.hung_up {
                mask |= POLL_HANGUP;
            }
        }
        if access.write {
            // A writer of a hung-up device gets `EPIPE`, which `EPOLLERR`
            // announces; it is in select's write set, as for a pipe without
            // readers.
            if self.hung_up {
                mask |= POLL_ERROR;
            } else if self.free() >= pollout_mark(self.capacity as usize) {
                mask |= POLL_WRITABLE;
            }
        }
        mask
    }
}

/// The numbers that `STATUS`, `STATS` and `/proc` report, taken together.
#[derive(Clone, Copy, Default)]
#[must_use = "a snapshot is published only once stored"]
struct Snapshot {
    /// [`Inner::published`] when it was taken.
    seq: u64,
    status: Status,
    stats: Stats,
}

/// Whom to wake once the lock is dropped.
#[derive(Default)]
#[must_use]
struct Wake {
    /// Wake one reader and the read-side pollers.
    reader: bool,
    /// Wake one writer and the write-side pollers.
    writer: bool,
    /// Send `SIGIO` to the readers' and the writers' owners.
    sigio_readers: bool,
    sigio_writers: bool,
}

/// Which side a task sleeps on.
#[derive(Clone, Copy)]
enum Side {
    Reader,
    Writer,
}

/// The result of [`Fifo::write`].
pub(crate) struct Written {
    /// The bytes stored, or why none were.
    pub(crate) result: Result<usize>,
    /// A hangup stopped the write, before or after some bytes were stored:
    /// the caller raises `SIGPIPE`, as a write to a broken pipe does.
    pub(crate) broken_pipe: bool,
}

/// The shared FIFO behind `/dev/mydevice`.
#[pin_data]
pub(crate) struct Fifo {
    #[pin]
    inner: Mutex<Inner>,
    /// [`Inner::readiness`], packed, for `poll`.
    ready: Atomic<u64>,
    /// Set by `poll`, cleared when the last file is released. While set,
    /// every write wakes the read-side pollers, as edge-triggered epoll
    /// wants an event per write (pipe.c's `poll_usage`).
    poll_usage: Atomic<bool>,
    /// Written under `inner`'s lock after every change; read alone.
    #[pin]
    snapshot: SpinLock<Snapshot>,
    /// Readers sleep here exclusively; read-side pollers non-exclusively.
    #[pin]
    read_wait: PollQueue,
    /// Writers sleep here exclusively; write-side pollers non-exclusively.
    #[pin]
    write_wait: PollQueue,
    /// `O_ASYNC` owners of files opened for reading and for writing.
    fasync_readers: FasyncQueue,
    fasync_writers: FasyncQueue,
}

impl Fifo {
    /// Creates an empty FIFO of `capacity` bytes.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a capacity of 0; `ENOMEM` if the buffer cannot be allocated.
    pub(crate) fn new(capacity: usize) -> Result<impl PinInit<Self>> {
        let ring = Ring::new(capacity)?;
        let inner = Inner {
            ring,
            hung_up: false,
            open_count: 0,
            readers_waiting: 0,
            writers_waiting: 0,
            generation: 0,
            published: 0,
            counters: Counters::default(),
        };
        let ready = Atomic::new(inner.readiness().pack());
        let snapshot = Snapshot {
            seq: 0,
            status: inner.status(),
            stats: inner.stats(),
        };
        Ok(pin_init!(Self {
            inner <- new_mutex!(inner, "Fifo::inner"),
            ready,
            poll_usage: Atomic::new(false),
            snapshot <- new_spinlock!(snapshot, "Fifo::snapshot"),
            read_wait <- PollQueue::new(c"Fifo::read_wait", static_lock_class!()),
            write_wait <- PollQueue::new(c"Fifo::write_wait", static_lock_class!()),
            fasync_readers: FasyncQueue::new(),
            fasync_writers: FasyncQueue::new(),
        }))
    }

    /// Makes `inner`'s state visible to `poll` at once, and returns the
    /// snapshot for [`Fifo::store`].
    ///
    /// Call it after every change, before the lock is dropped and before
    /// anyone is woken, so that a woken poller sees the change. Store the
    /// snapshot after the lock is dropped, before the call returns: the
    /// snapshot's spinlock then never lengthens the mutex's critical
    /// section, and the caller's own change is visible once it returns.
    fn publish(&self, inner: &mut Inner) -> Snapshot {
        self.ready.store(inner.readiness().pack(), Release);
        inner.published += 1;
        Snapshot {
            seq: inner.published,
            status: inner.status(),
            stats: inner.stats(),
        }
    }

    /// Stores `snapshot` for `STATUS`, `STATS` and `/proc`, unless a later
    /// one is already there: two callers may store in either order once
    /// their locks are dropped.
    fn store(&self, snapshot: Snapshot) {
        let mut current = self.snapshot.lock();
        if snapshot.seq > current.seq {
            *current = snapshot;
        }
    }

    /// Returns what [`Fifo::publish`] last made visible, without a lock.
    fn readiness(&self) -> Readiness {
        // Pairs with the `Release` store in `publish`.
        Readiness::unpack(self.ready.load(Acquire))
    }

    /// Sleeps on `side`'s queue with the lock released, counted as waiting,
    /// until `ready` holds for the published state or a signal arrives.
    ///
    /// `ready` is checked without the lock after every wakeup, as pipe.c
    /// checks `pipe_readable()` before it locks: a task woken for a change
    /// that another task has used up sleeps on, without taking the mutex
    /// from the tasks at work. It is a hint; the caller checks its
    /// condition again under the lock.
    ///
    /// Returns the guard, taken again, and whether a signal is pending.
    fn sleep<'a>(
        &'a self,
        side: Side,
        mut inner: MutexGuard<'a, Inner>,
        mut ready: impl FnMut(Readiness) -> bool,
    ) -> (MutexGuard<'a, Inner>, bool) {
        let queue = match side {
            Side::Reader => {
                inner.readers_waiting += 1;
                inner.counters.reader_sleeps += 1;
                &self.read_wait
            }
            Side::Writer => {
                inner.writers_waiting += 1;
                inner.counters.writer_sleeps += 1;
                &self.write_wait
            }
        };
        // Show the sleeper in `STATS` before it sleeps. The next publish,
        // which every caller makes before it returns, shows it awake.
        let snapshot = self.publish(&mut inner);
        // The sleeper stays counted as waiting until it holds the lock
        // again, so a waker that changes the state after this unlock wakes
        // it, and `ready` sees every change made before that wakeup.
        drop(inner);
        self.store(snapshot);
        let waited = queue.wait_interruptible_until(|| ready(self.readiness()));
        let mut inner = self.inner.lock();
        // The first sleep is counted above; the ones after it are here.
        let again = u64::from(waited.sleeps.saturating_sub(1));
        match side {
            Side::Reader => {
                inner.readers_waiting -= 1;
                inner.counters.reader_sleeps += again;
            }
            Side::Writer => {
                inner.writers_waiting -= 1;
                inner.counters.writer_sleeps += again;
            }
        }
        (inner, waited.signalled)
    }

    /// Wakes whom `wake` names. Call it with the lock dropped.
    fn wake(&self, wake: Wake) {
        if wake.reader {
            self.read_wait.notify_sync(POLL_READABLE);
        }
        if wake.writer {
            self.write_wait.notify_sync(POLL_WRITABLE);
        }
        if wake.sigio_readers {
            self.fasync_readers.kill(Band::In);
        }
        if wake.sigio_writers {
            self.fasync_writers.kill(Band::Out);
        }
    }

    /// Accounts for a newly opened file.
    pub(crate) fn open(&self) {
        let mut inner = self.inner.lock();
        inner.open_count += 1;
        let snapshot = self.publish(&mut inner);
        drop(inner);
        self.store(snapshot);
    }

    /// Accounts for a released file. The last release clears a hangup and
    /// forgets that anyone polled; the data stays.
    pub(crate) fn release(&self) {
        let mut inner = self.inner.lock();
        inner.open_count -= 1;
        if inner.open_count == 0 {
            // No file is left to poll, so no poller is left to wake.
            self.poll_usage.store(false, Relaxed);
            if inner.hung_up {
                inner.hung_up = false;
                inner.generation += 1;
            }
        }
        let snapshot = self.publish(&mut inner);
        drop(inner);
        self.store(snapshot);
    }

    /// Reads up to `dst.len()` bytes, sleeping while the FIFO is empty
    /// unless `nonblock` is set.
    ///
    /// Returns the number of bytes read, or 0 at EOF: the FIFO is empty and
    /// hung up.
    ///
    /// # Errors
    ///
    /// - `EAGAIN` if the FIFO is empty and `nonblock` is set.
    /// - `ERESTARTSYS` if a signal arrives while asleep.
    /// - `EFAULT` if not one byte could be copied to the user; nothing is
    ///   consumed then.
    pub(crate) fn read(&self, dst: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        let want = dst.len();
        if want == 0 {
            return Ok(0);
        }

        let mut slept = false;
        let mut inner = self.inner.lock();
        while !inner.readable() {
            if nonblock {
                return Err(EAGAIN);
            }
            let signalled;
            (inner, signalled) = self.sleep(Side::Reader, inner, Readiness::readable);
            slept = true;
            // A sleeper picked by an exclusive wakeup must not leave with it:
            // if there is data, take it even with a signal pending, as
            // `___wait_event` does.
            if signalled && !inner.readable() {
                let snapshot = self.publish(&mut inner);
                drop(inner);
                self.store(snapshot);
                return Err(ERESTARTSYS);
            }
        }
        if inner.ring.is_empty() {
            // Hung up and drained.
            let snapshot = self.publish(&mut inner);
            drop(inner);
            self.store(snapshot);
            return Ok(0);
        }

        let free_before = inner.ring.free();
        // The copy may fault and sleep; the mutex allows that, as in pipe.c.
        // Only the bytes the user received are consumed.
        let n = inner.ring.read_with(want, |run| dst.copy_to_iter(run));
        if n > 0 {
            inner.counters.bytes_read += n as u64;
            inner.counters.reads += 1;
            inner.generation += 1;
        }
        let mark = pollout_mark(inner.ring.capacity());
        let wake = Wake {
            // Pass the wakeup this reader used on when data is left for
            // another (pipe.c's `wake_next_reader`), also if it faulted. A
            // reader that never slept holds no wakeup to pass on.
            reader: slept && !inner.ring.is_empty() && inner.readers_waiting > 0,
            // Space was freed: a sleeping writer may fit now, and pollers
            // are told when the free space reaches the `EPOLLOUT` mark.
            writer: n > 0
                && (inner.writers_waiting > 0 || (free_before < mark && inner.ring.free() >= mark)),
            sigio_readers: false,
            // Every transfer signals, as in pipe.c: an `O_ASYNC` writer that
            // got `EAGAIN` for a record learns that room was made.
            sigio_writers: n > 0,
        };
        let snapshot = self.publish(&mut inner);
        drop(inner);
        self.wake(wake);
        self.store(snapshot);
        if n == 0 {
            return Err(EFAULT);
        }
        Ok(n)
    }

    /// Writes `src`, sleeping while there is no room unless `nonblock` is
    /// set.
    ///
    /// A write of up to `min(ATOMIC_MAX, capacity)` bytes waits until all of
    /// it fits and is stored in one step. A larger one is stored as space
    /// frees up.
    ///
    /// Returns the number of bytes stored, or one of these errors when none
    /// were:
    ///
    /// - `EPIPE` if the FIFO is hung up.
    /// - `EAGAIN` if there is no room and `nonblock` is set.
    /// - `ERESTARTSYS` if a signal arrives.
    /// - `EFAULT` if not one byte could be copied from the user.
    ///
    /// Once some bytes are stored, each of these ends the write with the
    /// count instead. A hangup sets [`Written::broken_pipe`] either way.
    pub(crate) fn write(&self, src: &mut IovIterSource<'_>, nonblock: bool) -> Written {
        let total = src.len();
        if total == 0 {
            return Written {
                result: Ok(0),
                broken_pipe: false,
            };
        }

        let mut written = 0;
        // The generation at which this writer last passed a wakeup on.
        let mut passed_on = None;
        let mut slept = false;
        let mut signalled = false;
        let mut broken_pipe = false;
        let mut inner = self.inner.lock();
        let mut wake = Wake::default();
        let result = loop {
            if inner.hung_up {
                broken_pipe = true;
                break Err(EPIPE);
            }

            let remaining = total - written;
            let need = write_need(total, written, inner.ring.capacity());

            if inner.ring.free() >= need {
                let was_empty = inner.ring.is_empty();
                let max = remaining.min(inner.ring.free());
                // The copy may fault and sleep; the mutex allows that, as in
                // pipe.c. Only the bytes copied from the user are stored.
                let n = inner.ring.write_with(max, |run| src.copy_from_iter(run));
                if n == 0 {
                    // Nothing stored: pass on a wakeup this writer may hold.
                    wake.writer = slept && inner.writers_waiting > 0;
                    break Err(EFAULT);
                }
                written += n;
                inner.counters.bytes_written += n as u64;
                inner.generation += 1;
                let done = written == total || n < max;
                wake = Wake {
                    // Readers only sleep on an empty ring, so unless it was
                    // empty every sleeper already has a wakeup on its way
                    // (pipe.c's `was_empty`); edge-triggered pollers want
                    // one per write.
                    reader: (was_empty && inner.readers_waiting > 0)
                        || self.poll_usage.load(Relaxed),
                    // Room is left for the next writer: pass on the wakeup
                    // this writer used (pipe.c's `wake_next_writer`). A
                    // writer that never slept holds none.
                    writer: slept && done && !inner.ring.is_full() && inner.writers_waiting > 0,
                    // Every transfer signals, as in pipe.c.
                    sigio_readers: true,
                    sigio_writers: false,
                };
                if done {
                    break Ok(written);
                }
                // The ring is full and more is to come. Let the readers drain
                // it before this writer sleeps, then look again.
                let snapshot = self.publish(&mut inner);
                drop(inner);
                self.wake(core::mem::take(&mut wake));
                self.store(snapshot);
                inner = self.inner.lock();
                continue;
            }

            // Woken but still short of room: the next writer may need less.
            // Pass the wakeup on once per change of state, so that writers
            // that cannot fit wake each other at most once, never in a loop.
            if slept
                && passed_on != Some(inner.generation)
                && inner.writers_waiting > 0
                && inner.ring.free() > 0
            {
                passed_on = Some(inner.generation);
                self.write_wait.notify_one(POLL_WRITABLE);
            }

            if signalled {
                break Err(ERESTARTSYS);
            }
            if nonblock {
                break Err(EAGAIN);
            }

            // A signal ends the wait, but the room is checked once more
            // first, so a writer picked by a wakeup does not waste it.
            //
            // Without the lock, a woken writer goes on when its write fits.
            // When it does not but some room is free, it takes the lock all
            // the same, so that the rule above can pass the wakeup on to a
            // writer that needs less.
            let mut woken = false;
            (inner, signalled) = self.sleep(Side::Writer, inner, |r| {
                let need = write_need(total, written, r.capacity as usize);
                let go = r.hung_up || r.free() >= need || (woken && r.free() > 0);
                woken = true;
                go
            });
            slept = true;
        };

        // Once bytes are stored, the count is the answer, whatever stopped
        // the write (pipe.c does the same).
        let result = if written > 0 { Ok(written) } else { result };
        if written > 0 {
            inner.counters.writes += 1;
        }
        let snapshot = self.publish(&mut inner);
        drop(inner);
        self.wake(wake);
        self.store(snapshot);
        Written {
            result,
            broken_pipe,
        }
    }

    /// Returns the poll mask of a file opened with `access`, registering
    /// `table` on the queues that it can wait on.
    ///
    /// It takes no lock: a reader stuck in a faulting copy does not hold up
    /// pollers.
    pub(crate) fn poll(&self, file: &OpenFile<'_>, table: &PollTable<'_>) -> u32 {
        let access = file.access();
        // Register first, then sample the state: a change after the sample
        // then wakes this poller (see "add the entry to the poll table
        // _first_" in fs/pipe.c).
        if access.read {
            table.register(file, &self.read_wait);
        }
        if access.write {
            table.register(file, &self.write_wait);
        }
        if !self.poll_usage.load(Relaxed) {
            self.poll_usage.store(true, Relaxed);
        }
        self.readiness().mask(access)
    }

    /// Turns `O_ASYNC` notification on or off for `file`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if the notification entry cannot be allocated.
    pub(crate) fn fasync(&self, fd: i32, file: &OpenFile<'_>, on: bool) -> Result {
        let access = file.access();
        // Serialises the two list updates of concurrent `F_SETFL` calls.
        let _guard = self.inner.lock();
        if access.read {
            self.fasync_readers.update(fd, file, on)?;
        }
        if access.write {
            if let Err(e) = self.fasync_writers.update(fd, file, on) {
                if access.read {
                    // Only `on` can fail; undo the half that succeeded.
                    let _ = self.fasync_readers.update(-1, file, false);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Discards all buffered data and wakes the writers.
    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock();
        let had_data = !inner.ring.is_empty();
        inner.ring.clear();
        inner.generation += 1;
        let snapshot = self.publish(&mut inner);
        drop(inner);
        self.store(snapshot);
        // Every writer may fit now: release them all, as a resize does.
        self.write_wait.notify_all(POLL_WRITABLE);
        if had_data {
            self.fasync_writers.kill(Band::Out);
        }
    }

    /// Changes the capacity, keeping the oldest bytes that fit.
    ///
    /// The new buffer is allocated before the lock is taken and swapped in
    /// under it, so a failure leaves the old buffer and its data untouched.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a size outside `1..=BUFFER_MAX`; `ENOMEM` if the buffer
    /// cannot be allocated.
    pub(crate) fn resize(&self, size: u32) -> Result {
        let capacity = ioctl::check_capacity(size)?;
        let mut new = Ring::new(capacity)?;
        let mut inner = self.inner.lock();
        let free_before = inner.ring.free();
        new.take_from(&mut inner.ring);
        let old = core::mem::replace(&mut inner.ring, new);
        inner.generation += 1;
        let room_grew = inner.ring.free() > free_before;
        let snapshot = self.publish(&mut inner);
        drop(inner);
        self.store(snapshot);
        // Free the old buffer outside the lock.
        drop(old);
        // Room may have grown for every writer. Readers only sleep on an
        // empty FIFO, which a resize leaves empty, so they need no wakeup.
        self.write_wait.notify_all(POLL_WRITABLE);
        if room_grew {
            self.fasync_writers.kill(Band::Out);
        }
        Ok(())
    }

    /// Hangs the FIFO up: every sleeper and poller is woken. Readers drain
    /// what is left and then see EOF; writers get `EPIPE`.
    pub(crate) fn hangup(&self) {
        let mut inner = self.inner.lock();
        inner.hung_up = true;
        inner.generation += 1;
        let snapshot = self.publish(&mut inner);
        drop(inner);
        self.store(snapshot);
        self.read_wait.notify_all(POLL_READABLE | POLL_HANGUP);
        self.write_wait.notify_all(POLL_ERROR);
        self.fasync_readers.kill(Band::In);
        self.fasync_writers.kill(Band::Out);
    }

    /// Returns the published snapshot, without waiting on the data mutex.
    fn snapshot(&self) -> Snapshot {
        *self.snapshot.lock()
    }

    /// Returns a consistent snapshot of `MYDEV_STATUS`.
    pub(crate) fn status(&self) -> Status {
        self.snapshot().status
    }

    /// Returns a consistent snapshot of `MYDEV_STATS`.
    pub(crate) fn stats(&self) -> Stats {
        self.snapshot().stats
    }

    /// Returns the number of bytes buffered.
    pub(crate) fn used(&self) -> usize {
        self.readiness().used as usize
    }

    /// Carries out an ioctl request on a file opened with `access`.
    ///
    /// # Errors
    ///
    /// - `EBADF` for `CLEAR`, `RESIZE` or `HANGUP` on a file opened only for
    ///   reading.
    /// - `EFAULT` if the argument pointer cannot be read or written.
    /// - Whatever the command itself returns, e.g. `EINVAL` from `RESIZE`.
    pub(crate) fn ioctl(&self, cmd: Command, access: Access) -> Result<isize> {
        // An ioctl-only open (`O_ACCMODE` of 3) has neither mode, but the VFS
        // checked it for read and write permission, so it may control.
        let ioctl_only = !access.read && !access.write;
        if cmd.needs_write() && !access.write && !ioctl_only {
            return Err(EBADF);
        }
        match cmd {
            Command::Clear => self.clear(),
            Command::Resize(ptr) => {
                let mut size = [0u8; 4];
                UserSlice::new(ptr, size.len())
                    .reader()
                    .read_slice(&mut size)?;
                self.resize(u32::from_ne_bytes(size))?;
            }
            Command::Status(ptr) => {
                let reply = self.status().to_bytes();
                UserSlice::new(ptr, reply.len())
                    .writer()
                    .write_slice(&reply)?;
            }
            Command::Hangup => self.hangup(),
            Command::Stats(ptr) => {
                let reply = self.stats().to_bytes();
                UserSlice::new(ptr, reply.len())
                    .writer()
                    .write_slice(&reply)?;
            }
            Command::NRead(ptr) => {
                // The capacity is at most `BUFFER_MAX`, so this fits an `int`.
                let reply = (self.used() as i32).to_ne_bytes();
                UserSlice::new(ptr, reply.len())
                    .writer()
                    .write_slice(&reply)?;
            }
        }
        Ok(0)
    }
}

impl ProcShow for Fifo {
    /// Prints the `/proc/mydevice` text: one consistent snapshot.
    fn show(&self, m: &SeqFile) {
        let Snapshot { status, stats, .. } = self.snapshot();
        seq_print!(m, "buffer_size: {}\n", status.buffer_size);
        seq_print!(m, "bytes_used: {}\n", status.bytes_used);
        seq_print!(m, "open_count: {}\n", status.open_count);
        seq_print!(m, "read_count: {}\n", status.read_count);
        seq_print!(m, "write_count: {}\n", status.write_count);
        seq_print!(m, "bytes_read: {}\n", stats.bytes_read);
        seq_print!(m, "bytes_written: {}\n", stats.bytes_written);
        seq_print!(m, "readers_waiting: {}\n", stats.readers_waiting);
        seq_print!(m, "writers_waiting: {}\n", stats.writers_waiting);
        seq_print!(
            m,
            "hung_up: {}\n",
            u32::from(stats.flags & ioctl::FLAG_HUNG_UP != 0)
        );
    }
}
