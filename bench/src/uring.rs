// SPDX-License-Identifier: GPL-2.0-only

//! Streaming through io_uring: one descriptor, several reads or writes in flight.
//!
//! [`stream`] keeps up to `depth` requests of one kind queued on one
//! descriptor until `total` bytes have moved. The byte accounting is in
//! [`Window`], which knows nothing of io_uring and is unit tested here.
//! Requests on a FIFO may complete in any order, so the bytes may arrive
//! reordered between requests; the streaming workloads do not look at them.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::RawFd;

use io_uring::opcode;
use io_uring::types;
use io_uring::IoUring;

/// The byte accounting of a stream with several requests in flight.
///
/// No request asks for more than is left once the others are counted, so a
/// reader's last requests never wait for bytes that will not come. The rest
/// of a short completion goes back to the pool and a later request asks for
/// it again.
#[derive(Debug)]
pub struct Window {
    total: usize,
    chunk: usize,
    done: usize,
    queued: usize,
}

impl Window {
    /// A stream of `total` bytes in requests of at most `chunk` bytes.
    pub fn new(total: usize, chunk: usize) -> Self {
        Self {
            total,
            chunk: chunk.max(1),
            done: 0,
            queued: 0,
        }
    }

    /// Takes the length of the next request, or `None` when every byte left
    /// is already asked for.
    pub fn next_request(&mut self) -> Option<usize> {
        let left = self.total - self.done - self.queued;
        if left == 0 {
            return None;
        }
        let n = self.chunk.min(left);
        self.queued += n;
        Some(n)
    }

    /// Records that a request for `asked` bytes completed, moving `moved`.
    ///
    /// # Errors
    ///
    /// `InvalidData` if `moved` exceeds `asked` or `asked` was never queued;
    /// the kernel never does that, so it means a bookkeeping bug.
    pub fn complete(&mut self, asked: usize, moved: usize) -> io::Result<()> {
        if moved > asked || asked > self.queued {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "completion of {moved} bytes for a request of {asked}, {} queued",
                    self.queued
                ),
            ));
        }
        self.queued -= asked;
        self.done += moved;
        Ok(())
    }

    /// Bytes moved so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Whether all `total` bytes have moved.
    pub fn finished(&self) -> bool {
        self.done == self.total
    }
}

/// Which kind of request a stream queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }
}

/// Checks that io_uring can be set up here, so a missing one is reported
/// once, plainly, before any child is forked.
///
/// # Errors
///
/// The `io_uring_setup` error, e.g. `ENOSYS` without `CONFIG_IO_URING` or
/// `EPERM` when `kernel.io_uring_disabled` forbids it.
pub fn probe() -> io::Result<()> {
    IoUring::new(1)
        .map(drop)
        .map_err(|e| io::Error::new(e.kind(), format!("io_uring_setup: {e}")))
}

/// The ring and the buffers its requests point into.
///
/// The buffers are leaked rather than freed if the ring is dropped with
/// requests still in flight: closing a ring does not wait for them, and the
/// kernel may still write into a read's buffer.
struct Queue {
    ring: IoUring,
    buf: ManuallyDrop<Vec<u8>>,
    in_flight: usize,
}

impl Drop for Queue {
    fn drop(&mut self) {
        if self.in_flight == 0 {
            // SAFETY: No request is in flight, so the kernel holds no pointer
            // into `buf`, and `buf` is not used after this.
            unsafe { ManuallyDrop::drop(&mut self.buf) };
        }
    }
}

/// Moves `total` bytes through `fd` with `op` requests of at most `chunk`
/// bytes, keeping up to `depth` of them in flight, and returns when the last
/// completes. Written bytes are `0x5a`.
///
/// # Errors
///
/// The error of `io_uring_setup`, of `io_uring_enter` other than `EINTR`, or
/// of a request; `UnexpectedEof` when a read returns 0 and `WriteZero` when a
/// write does.
pub fn stream(fd: RawFd, op: Op, total: usize, chunk: usize, depth: usize) -> io::Result<()> {
    let depth = depth.max(1);
    let chunk = chunk.max(1);
    // Requests are at most `chunk` bytes, so their lengths fit in a `u32`.
    u32::try_from(chunk).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let entries = u32::try_from(depth.next_power_of_two())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut q = Queue {
        ring: IoUring::new(entries)
            .map_err(|e| io::Error::new(e.kind(), format!("io_uring_setup: {e}")))?,
        buf: ManuallyDrop::new(vec![0x5a; depth * chunk]),
        in_flight: 0,
    };
    // One region of `chunk` bytes per slot; the pointer is taken once, so the
    // vector is not touched while the kernel uses it.
    let base = q.buf.as_mut_ptr();
    let mut asked = vec![0_usize; depth];
    let mut free: Vec<usize> = (0..depth).rev().collect();
    let mut win = Window::new(total, chunk);
    let fd = types::Fd(fd);
    while !win.finished() {
        while let Some(&slot) = free.last() {
            let Some(n) = win.next_request() else {
                break;
            };
            free.pop();
            asked[slot] = n;
            // SAFETY: `slot < depth`, so the offset lies inside `buf`, whose
            // length is `depth * chunk`.
            let ptr = unsafe { base.add(slot * chunk) };
            // `n <= chunk`, which fits in a `u32` (checked above).
            let n32 = n as u32;
            let entry = match op {
                Op::Read => opcode::Read::new(fd, ptr, n32).build(),
                Op::Write => opcode::Write::new(fd, ptr.cast_const(), n32).build(),
            }
            .user_data(slot as u64);
            // SAFETY: The region, `n <= chunk` bytes from `ptr`, lies inside
            // `buf` and stays allocated until the request completes: `Queue`
            // leaks `buf` if it is dropped with requests in flight.
            unsafe { q.ring.submission().push(&entry) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            q.in_flight += 1;
        }
        loop {
            match q.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => {
                    return Err(io::Error::new(e.kind(), format!("io_uring_enter: {e}")));
                }
            }
        }
        for cqe in q.ring.completion() {
            q.in_flight -= 1;
            let slot = usize::try_from(cqe.user_data()).unwrap_or(usize::MAX);
            let Some(&n) = asked.get(slot) else {
                return Err(io::Error::other(format!(
                    "completion with unknown user_data {}",
                    cqe.user_data()
                )));
            };
            let moved = match cqe.result() {
                res if res < 0 => {
                    let e = io::Error::from_raw_os_error(-res);
                    return Err(io::Error::new(
                        e.kind(),
                        format!("io_uring {} after {} bytes: {e}", op.name(), win.done()),
                    ));
                }
                0 if op == Op::Read => return Err(io::ErrorKind::UnexpectedEof.into()),
                0 => return Err(io::ErrorKind::WriteZero.into()),
                res => res as usize,
            };
            win.complete(n, moved)?;
            free.push(slot);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_chunks_until_the_rest_is_queued() {
        let mut w = Window::new(10_000, 4096);
        assert_eq!(w.next_request(), Some(4096));
        assert_eq!(w.next_request(), Some(4096));
        assert_eq!(w.next_request(), Some(1808), "the last request is the rest");
        assert_eq!(w.next_request(), None, "nothing left to ask for");
    }

    #[test]
    fn short_completion_is_asked_again() {
        let mut w = Window::new(8192, 4096);
        let (a, b) = (w.next_request().unwrap(), w.next_request().unwrap());
        w.complete(a, 100).unwrap();
        assert_eq!(
            w.next_request(),
            Some(3996),
            "the rest of the short request"
        );
        w.complete(b, 4096).unwrap();
        w.complete(3996, 3996).unwrap();
        assert!(w.finished(), "done {}", w.done());
        assert_eq!(w.next_request(), None);
    }

    #[test]
    fn empty_stream_is_finished() {
        let mut w = Window::new(0, 4096);
        assert!(w.finished());
        assert_eq!(w.next_request(), None);
    }

    #[test]
    fn overlong_completion_is_an_error() {
        let mut w = Window::new(4096, 4096);
        let n = w.next_request().unwrap();
        let err = w.complete(n, n + 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "got {err}");
        let err = w.complete(8192, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "got {err}");
    }
}
