// SPDX-License-Identifier: GPL-2.0-only

//! A byte ring buffer with no knowledge of devices, locks or users.
//!
//! All index arithmetic of the FIFO lives here, in plain safe Rust, so that
//! KUnit can drive every edge (empty, full, wrap, resize) without a device.

use kernel::{
    alloc::flags::{
        __GFP_NOWARN, //
        GFP_KERNEL_ACCOUNT,
    },
    prelude::*,
};

/// A fixed-capacity FIFO of bytes.
///
/// # Invariants
///
/// - `buf.len()` is the capacity and is at least 1.
/// - `head < buf.len()`.
/// - `len <= buf.len()`.
/// - The bytes held are `buf[head..]` followed by `buf[..]`, `len` of them in
///   all, wrapping at `buf.len()`.
pub(crate) struct Ring {
    buf: KVVec<u8>,
    head: usize,
    len: usize,
}

impl Ring {
    /// Creates an empty ring of `capacity` bytes.
    ///
    /// # Errors
    ///
    /// - `EINVAL` if `capacity` is 0.
    /// - `ENOMEM` if the buffer cannot be allocated.
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        if capacity == 0 {
            return Err(EINVAL);
        }
        // The buffer is user-sized and lives as long as the device: charge it
        // to the caller's memory cgroup, and let a failure return ENOMEM
        // without an allocation-failure splat, as pipe_resize_ring() does.
        let buf = KVVec::from_elem(0u8, capacity, GFP_KERNEL_ACCOUNT | __GFP_NOWARN)?;
        // INVARIANT: `buf.len() == capacity >= 1`, and the ring is empty.
        Ok(Self {
            buf,
            head: 0,
            len: 0,
        })
    }

    /// Returns the capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Returns the number of bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Returns the number of bytes that can be stored.
    pub(crate) fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Returns whether the ring holds no bytes.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns whether the ring cannot store another byte.
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Wraps an index in `0..2 * capacity` into `0..capacity`.
    ///
    /// A compare and subtract, not `%`: it is cheaper, and a remainder would
    /// bring in a divide-by-zero panic path that cannot happen here.
    fn wrap(&self, index: usize) -> usize {
        if index >= self.capacity() {
            index - self.capacity()
        } else {
            index
        }
    }

    /// Returns the index one past the last byte held, in `0..capacity`.
    fn tail(&self) -> usize {
        // `head < capacity` and `len <= capacity`, so the sum is below
        // `2 * capacity`, far from overflow for an allocation's length.
        self.wrap(self.head + self.len)
    }

    /// Moves up to `max` of the oldest bytes out through `sink`, in order.
    ///
    /// `sink` is called with one contiguous run of bytes at a time (at most
    /// two runs, because of the wrap) and returns how many of them it took.
    /// A short take ends the transfer. Only the bytes taken are consumed.
    ///
    /// Returns the number of bytes consumed.
    pub(crate) fn read_with(&mut self, max: usize, mut sink: impl FnMut(&[u8]) -> usize) -> usize {
        let mut done = 0;
        while done < max && !self.is_empty() {
            // The first run ends at the wrap or at the last byte held.
            let run = (self.capacity() - self.head).min(self.len).min(max - done);
            // PANIC: `head + run <= capacity` by the line above.
            let taken = sink(&self.buf[self.head..self.head + run]).min(run);
            self.consume(taken);
            done += taken;
            if taken < run {
                break;
            }
        }
        done
    }

    /// Drops `n` of the oldest bytes, at most all of them.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        // INVARIANT: `head + n < 2 * capacity`, so one wrap keeps it in range.
        self.head = self.wrap(self.head + n);
        if self.len == 0 {
            // Restart at the front so that the next writes are contiguous.
            self.head = 0;
        }
    }

    /// Fills up to `max` free bytes from `source`, in order.
    ///
    /// `source` is called with one contiguous run of free bytes at a time
    /// (at most two runs, because of the wrap) and returns how many of them
    /// it filled, from the start of the run. A short fill ends the transfer.
    /// Only the bytes filled are stored.
    ///
    /// Returns the number of bytes stored.
    pub(crate) fn write_with(
        &mut self,
        max: usize,
        mut source: impl FnMut(&mut [u8]) -> usize,
    ) -> usize {
        let mut done = 0;
        while done < max && !self.is_full() {
            let tail = self.tail();
            // The free run ends at the wrap or at the oldest byte held.
            let run = (self.capacity() - tail).min(self.free()).min(max - done);
            // PANIC: `tail + run <= capacity` by the line above.
            let filled = source(&mut self.buf[tail..tail + run]).min(run);
            // INVARIANT: `filled <= free`, so `len` stays within capacity.
            self.len += filled;
            done += filled;
            if filled < run {
                break;
            }
        }
        done
    }

    /// Stores as much of `data` as fits and returns how much that was.
    pub(crate) fn push(&mut self, data: &[u8]) -> usize {
        let mut off = 0;
        self.write_with(data.len(), |run| {
            let n = run.len();
            // PANIC: `write_with` never asks for more than `data.len()` in all.
            run.copy_from_slice(&data[off..off + n]);
            off += n;
            n
        })
    }

    /// Moves the oldest bytes into `out` and returns how many were moved.
    pub(crate) fn pop(&mut self, out: &mut [u8]) -> usize {
        let mut off = 0;
        let max = out.len();
        self.read_with(max, |run| {
            let n = run.len();
            // PANIC: `read_with` never offers more than `out.len()` in all.
            out[off..off + n].copy_from_slice(run);
            off += n;
            n
        })
    }

    /// Moves the oldest bytes of `old` that fit into this empty ring, in
    /// order, and empties `old`.
    ///
    /// Returns the number of bytes of `old` that did not fit and were dropped.
    pub(crate) fn take_from(&mut self, old: &mut Ring) -> usize {
        let keep = old.len().min(self.free());
        let dropped = old.len() - keep;
        // `self` has room for `keep` bytes and `old` holds at least that
        // many, so this moves exactly the oldest `keep` bytes.
        self.write_with(keep, |run| old.pop(run));
        old.clear();
        dropped
    }

    /// Discards every byte held.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Changes the capacity, keeping the oldest `min(len, capacity)` bytes.
    ///
    /// The new buffer is allocated before anything changes, so a failure
    /// leaves the ring and its data exactly as they were.
    ///
    /// Returns the number of bytes dropped to fit the new capacity.
    ///
    /// # Errors
    ///
    /// - `EINVAL` if `capacity` is 0.
    /// - `ENOMEM` if the new buffer cannot be allocated.
    pub(crate) fn resize(&mut self, capacity: usize) -> Result<usize> {
        let mut new = Ring::new(capacity)?;
        let dropped = new.take_from(self);
        *self = new;
        Ok(dropped)
    }
}
