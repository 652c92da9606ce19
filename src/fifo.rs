// SPDX-License-Identifier: GPL-2.0

//! The FIFO device state and its blocking read, write, poll and control paths.
//!
//! The design follows `fs/pipe.c`. One mutex guards all state. Readers and
//! writers sleep exclusively on separate wait queues, which pollers share
//! non-exclusively, so one wakeup releases one sleeper and every poller. A
//! sleeper always loops on its predicate: a wakeup is a hint, the state is
//! the truth. Whom to wake is decided under the lock, and woken after it is
//! dropped, so that the woken task does not block on the lock at once.

use crate::{
    fops::FasyncQueue,
    ioctl::{
        self,
        Command,
        Status, //
    },
    ring::Ring,
};
use kernel::{
    bindings,
    fs::File,
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    new_poll_condvar,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{
        new_mutex,
        poll::{
            PollCondVar,
            PollTable, //
        },
        Mutex, //
    },
    uaccess::UserSlice,
};

/// Readiness bits returned by [`Fifo::poll`].
const POLL_READABLE: u32 = bindings::POLLIN | bindings::POLLRDNORM;
const POLL_WRITABLE: u32 = bindings::POLLOUT | bindings::POLLWRNORM;

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
    /// Set once anyone polls. From then on every change wakes the queues, as
    /// edge-triggered epoll wants an event per change (pipe.c's `poll_usage`).
    poll_usage: bool,
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

    fn stats(&self) -> ioctl::Stats {
        let c = &self.counters;
        ioctl::Stats {
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

/// The shared FIFO behind `/dev/mydevice`.
#[pin_data]
pub(crate) struct Fifo {
    #[pin]
    inner: Mutex<Inner>,
    /// Readers sleep here exclusively; read-side pollers non-exclusively.
    #[pin]
    read_wait: PollCondVar,
    /// Writers sleep here exclusively; write-side pollers non-exclusively.
    #[pin]
    write_wait: PollCondVar,
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
        Ok(pin_init!(Self {
            inner <- new_mutex!(
                Inner {
                    ring,
                    hung_up: false,
                    open_count: 0,
                    readers_waiting: 0,
                    writers_waiting: 0,
                    generation: 0,
                    poll_usage: false,
                    counters: Counters::default(),
                },
                "Fifo::inner"
            ),
            read_wait <- new_poll_condvar!("Fifo::read_wait"),
            write_wait <- new_poll_condvar!("Fifo::write_wait"),
            fasync_readers: FasyncQueue::new(),
            fasync_writers: FasyncQueue::new(),
        }))
    }

    /// Wakes whom `wake` names. Call it with the lock dropped.
    fn wake(&self, wake: Wake) {
        if wake.reader {
            self.read_wait.notify_sync();
        }
        if wake.writer {
            self.write_wait.notify_sync();
        }
        if wake.sigio_readers {
            self.fasync_readers.kill(bindings::POLL_IN as i32);
        }
        if wake.sigio_writers {
            self.fasync_writers.kill(bindings::POLL_OUT as i32);
        }
    }

    /// Wakes every sleeper and poller. Call it with the lock dropped.
    fn wake_all(&self) {
        self.read_wait.notify_all();
        self.write_wait.notify_all();
    }

    /// Accounts for a newly opened file.
    pub(crate) fn open(&self) {
        self.inner.lock().open_count += 1;
    }

    /// Accounts for a released file. The last release clears a hangup; the
    /// data stays.
    pub(crate) fn release(&self) {
        let mut inner = self.inner.lock();
        inner.open_count -= 1;
        if inner.open_count == 0 && inner.hung_up {
            inner.hung_up = false;
            inner.generation += 1;
        }
    }

    /// Reads up to `dst.len()` bytes, sleeping while the FIFO is empty.
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

        let mut inner = self.inner.lock();
        while !inner.readable() {
            if nonblock {
                return Err(EAGAIN);
            }
            inner.readers_waiting += 1;
            inner.counters.reader_sleeps += 1;
            let signalled = self.read_wait.wait_interruptible(&mut inner);
            inner.readers_waiting -= 1;
            // A sleeper picked by an exclusive wakeup must not leave with it:
            // if there is data, take it even with a signal pending, as
            // `___wait_event` does.
            if signalled && !inner.readable() {
                return Err(ERESTARTSYS);
            }
        }
        if inner.ring.is_empty() {
            // Hung up and drained.
            return Ok(0);
        }

        let was_full = inner.ring.is_full();
        // The copy may fault and sleep; the mutex allows that, as in pipe.c.
        // Only the bytes the user received are consumed.
        let n = inner.ring.read_with(want, |run| dst.copy_to_iter(run));
        if n > 0 {
            inner.counters.bytes_read += n as u64;
            inner.counters.reads += 1;
            inner.generation += 1;
        }
        let wake = Wake {
            // Pass the wakeup on when data is left for another reader
            // (pipe.c's `wake_next_reader`), also if this one faulted.
            reader: !inner.ring.is_empty() && inner.readers_waiting > 0,
            // Space was freed: a writer may fit now.
            writer: n > 0 && (inner.writers_waiting > 0 || inner.poll_usage),
            sigio_readers: false,
            sigio_writers: n > 0 && was_full,
        };
        drop(inner);
        self.wake(wake);
        if n == 0 {
            return Err(EFAULT);
        }
        Ok(n)
    }

    /// Writes `src`, sleeping while there is no room.
    ///
    /// A write of up to `min(ATOMIC_MAX, capacity)` bytes waits until all of
    /// it fits and is stored in one step. A larger one is stored as space
    /// frees up.
    ///
    /// Returns the number of bytes stored.
    ///
    /// # Errors
    ///
    /// - `EPIPE` (and `SIGPIPE`) if the FIFO is hung up before anything is
    ///   stored.
    /// - `EAGAIN` if there is no room and `nonblock` is set.
    /// - `ERESTARTSYS` if a signal arrives before anything is stored.
    /// - `EFAULT` if not one byte could be copied from the user.
    ///
    /// Once some bytes are stored, each of these ends the write with the
    /// count instead.
    pub(crate) fn write(&self, src: &mut IovIterSource<'_>, nonblock: bool) -> Result<usize> {
        let total = src.len();
        if total == 0 {
            return Ok(0);
        }

        let mut written = 0;
        // The generation at which this writer last passed a wakeup on.
        let mut passed_on = None;
        let mut slept = false;
        let mut signalled = false;
        let mut inner = self.inner.lock();
        let mut wake = Wake::default();
        let result = loop {
            if inner.hung_up {
                break Err(EPIPE);
            }

            let remaining = total - written;
            let need = if written == 0 {
                ioctl::atomic_need(remaining, inner.ring.capacity())
            } else {
                1
            };

            if inner.ring.free() >= need {
                let was_empty = inner.ring.is_empty();
                let max = remaining.min(inner.ring.free());
                // The copy may fault and sleep; the mutex allows that, as in
                // pipe.c. Only the bytes copied from the user are stored.
                let n = inner.ring.write_with(max, |run| src.copy_from_iter(run));
                if n == 0 {
                    // Nothing stored: pass on a wakeup this writer may hold.
                    wake.writer = inner.writers_waiting > 0;
                    break Err(EFAULT);
                }
                written += n;
                inner.counters.bytes_written += n as u64;
                inner.generation += 1;
                let done = written == total || n < max;
                wake = Wake {
                    // Readers only sleep on an empty ring, so unless it was
                    // empty every sleeper already has a wakeup on its way
                    // (pipe.c's `was_empty`); pollers want one per change.
                    reader: (was_empty && inner.readers_waiting > 0) || inner.poll_usage,
                    // Room is left for the next writer (pipe.c's
                    // `wake_next_writer`).
                    writer: done && !inner.ring.is_full() && inner.writers_waiting > 0,
                    sigio_readers: was_empty,
                    sigio_writers: false,
                };
                if done {
                    break Ok(written);
                }
                // The ring is full and more is to come. Let the readers drain
                // it before this writer sleeps, then look again.
                drop(inner);
                self.wake(core::mem::take(&mut wake));
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
                self.write_wait.notify_one();
            }

            if signalled {
                break Err(ERESTARTSYS);
            }
            if nonblock {
                break Err(EAGAIN);
            }

            inner.writers_waiting += 1;
            inner.counters.writer_sleeps += 1;
            // A signal ends the wait, but the room is checked once more
            // first, so a writer picked by a wakeup does not waste it.
            signalled = self.write_wait.wait_interruptible(&mut inner);
            inner.writers_waiting -= 1;
            slept = true;
        };

        // Once bytes are stored, the count is the answer, whatever stopped
        // the write (pipe.c does the same).
        let result = if written > 0 { Ok(written) } else { result };
        if written > 0 {
            inner.counters.writes += 1;
        }
        drop(inner);
        self.wake(wake);
        if result == Err(EPIPE) {
            crate::fops::send_sigpipe();
        }
        result
    }

    /// Returns the poll mask, registering `table` on the queues that `file`
    /// can wait on.
    pub(crate) fn poll(&self, file: &File, table: &PollTable<'_>) -> u32 {
        let (readable, writable) = crate::fops::access_mode(file);
        // Register first, then sample the state: a change after the sample
        // then wakes this poller (see "add the entry to the poll table
        // _first_" in fs/pipe.c).
        if readable {
            table.register_wait(file, &self.read_wait);
        }
        if writable {
            table.register_wait(file, &self.write_wait);
        }

        let mut inner = self.inner.lock();
        inner.poll_usage = true;
        let mut mask = 0;
        if readable && inner.readable() {
            mask |= POLL_READABLE;
        }
        if writable && inner.ring.free() > 0 && !inner.hung_up {
            mask |= POLL_WRITABLE;
        }
        if inner.hung_up {
            mask |= bindings::POLLHUP;
        }
        mask
    }

    /// Turns `O_ASYNC` notification on or off for `file`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if the notification entry cannot be allocated.
    pub(crate) fn fasync(&self, fd: i32, file: &File, on: bool) -> Result {
        let (readable, writable) = crate::fops::access_mode(file);
        let _guard = self.inner.lock();
        if readable {
            self.fasync_readers.update(fd, file, on)?;
        }
        if writable {
            if let Err(e) = self.fasync_writers.update(fd, file, on) {
                if readable {
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
        let was_full = inner.ring.is_full();
        inner.ring.clear();
        inner.generation += 1;
        drop(inner);
        // Every writer may fit now: release them all, as a resize does.
        self.write_wait.notify_all();
        if was_full {
            self.fasync_writers.kill(bindings::POLL_OUT as i32);
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
        let was_full = inner.ring.is_full();
        new.take_from(&mut inner.ring);
        let old = core::mem::replace(&mut inner.ring, new);
        inner.generation += 1;
        drop(inner);
        // Free the old buffer outside the lock.
        drop(old);
        // Room may have grown for every writer. Readers only sleep on an
        // empty FIFO, which a resize leaves empty, so they need no wakeup.
        self.write_wait.notify_all();
        if was_full {
            self.fasync_writers.kill(bindings::POLL_OUT as i32);
        }
        Ok(())
    }

    /// Hangs the FIFO up: every sleeper and poller is woken. Readers drain
    /// what is left and then see EOF; writers get `EPIPE`.
    pub(crate) fn hangup(&self) {
        let mut inner = self.inner.lock();
        inner.hung_up = true;
        inner.generation += 1;
        drop(inner);
        self.wake_all();
        self.fasync_readers.kill(bindings::POLL_IN as i32);
        self.fasync_writers.kill(bindings::POLL_OUT as i32);
    }

    /// Returns a consistent snapshot of `MYDEV_STATUS`.
    pub(crate) fn status(&self) -> Status {
        self.inner.lock().status()
    }

    /// Returns a consistent snapshot of `MYDEV_STATS`.
    pub(crate) fn stats(&self) -> ioctl::Stats {
        self.inner.lock().stats()
    }

    /// Returns the number of bytes buffered.
    pub(crate) fn used(&self) -> usize {
        self.inner.lock().ring.len()
    }

    /// Prints the `/proc/mydevice` text: one consistent snapshot.
    pub(crate) fn show(&self, m: &SeqFile) {
        let (status, stats) = {
            let inner = self.inner.lock();
            (inner.status(), inner.stats())
        };
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

impl Fifo {
    /// Carries out an ioctl request.
    ///
    /// # Errors
    ///
    /// - `EBADF` for `CLEAR`, `RESIZE` or `HANGUP` on a file not opened for
    ///   writing.
    /// - `EFAULT` if the argument pointer cannot be read or written.
    /// - Whatever the command itself returns, e.g. `EINVAL` from `RESIZE`.
    pub(crate) fn ioctl(&self, cmd: Command, writable: bool) -> Result<isize> {
        if cmd.needs_write() && !writable {
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
