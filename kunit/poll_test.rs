// SPDX-License-Identifier: GPL-2.0-only

//! KUnit tests of the poll mask rules and of the word `poll` reads them from.

use kernel::prelude::*;

#[kunit_tests(mydevice_poll)]
mod tests {
    use crate::{
        fifo::{
            pollout_mark,
            Readiness, //
        },
        kext::{
            file::Access,
            poll::{
                POLL_ERROR,
                POLL_HANGUP,
                POLL_READABLE,
                POLL_WRITABLE, //
            },
        },
    };

    const READ: Access = Access {
        read: true,
        write: false,
    };
    const WRITE: Access = Access {
        read: false,
        write: true,
    };
    const BOTH: Access = Access {
        read: true,
        write: true,
    };
    const NEITHER: Access = Access {
        read: false,
        write: false,
    };

    fn state(used: u32, capacity: u32, hung_up: bool) -> Readiness {
        Readiness {
            used,
            capacity,
            hung_up,
        }
    }

    #[test]
    fn the_word_round_trips_at_the_extremes() {
        for r in [
            state(0, 1, false),
            state(1, 1, true),
            state(1 << 20, 1 << 20, true),
            state(4000, 4096, false),
        ] {
            assert_eq!(Readiness::unpack(r.pack()), r);
        }
    }

    #[test]
    fn pollout_mark_is_min_of_4096_and_capacity() {
        assert_eq!(pollout_mark(1), 1);
        assert_eq!(pollout_mark(4095), 4095);
        assert_eq!(pollout_mark(4096), 4096);
        assert_eq!(pollout_mark(1 << 20), 4096);
    }

    #[test]
    fn pollout_needs_a_whole_atomic_write_free() {
        // 4096 bytes of capacity: writable only when empty.
        assert_eq!(state(0, 4096, false).mask(WRITE), POLL_WRITABLE);
        assert_eq!(state(1, 4096, false).mask(WRITE), 0);
        // 8192 bytes: writable while 4096 are free.
        assert_eq!(state(4096, 8192, false).mask(WRITE), POLL_WRITABLE);
        assert_eq!(state(4097, 8192, false).mask(WRITE), 0);
        // A tiny FIFO: writable when all of it is free.
        assert_eq!(state(0, 10, false).mask(WRITE), POLL_WRITABLE);
        assert_eq!(state(1, 10, false).mask(WRITE), 0);
    }

    #[test]
    fn pollin_needs_one_byte() {
        assert_eq!(state(0, 4096, false).mask(READ), 0);
        assert_eq!(state(1, 4096, false).mask(READ), POLL_READABLE);
        assert_eq!(state(4096, 4096, false).mask(BOTH), POLL_READABLE);
    }

    #[test]
    fn hangup_is_hup_for_readers_and_err_for_writers() {
        let r = state(5, 4096, true);
        assert_eq!(r.mask(READ), POLL_READABLE | POLL_HANGUP);
        assert_eq!(r.mask(WRITE), POLL_ERROR);
        assert_eq!(r.mask(BOTH), POLL_READABLE | POLL_HANGUP | POLL_ERROR);
        // Drained: still readable, as a read returns EOF at once.
        assert_eq!(state(0, 4096, true).mask(READ), POLL_READABLE | POLL_HANGUP);
    }

    #[test]
    fn an_ioctl_only_open_polls_as_nothing() {
        assert_eq!(state(5, 4096, false).mask(NEITHER), 0);
        assert_eq!(state(0, 4096, true).mask(NEITHER), 0);
    }
}
