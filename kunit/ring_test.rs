// SPDX-License-Identifier: GPL-2.0-only

//! KUnit tests of the ring buffer: every edge of the index arithmetic.

use kernel::prelude::*;

#[kunit_tests(mydevice_ring)]
mod tests {
    use crate::ring::Ring;
    use kernel::prelude::*;

    /// Fills `n` bytes with a pattern that shows order and position.
    fn pattern(n: usize, seed: u8) -> KVVec<u8> {
        let mut v = KVVec::from_elem(0u8, n, GFP_KERNEL).expect("allocate test data");
        for (i, b) in v.iter_mut().enumerate() {
            *b = seed.wrapping_add(i as u8);
        }
        v
    }

    /// Pops everything the ring holds.
    fn drain(ring: &mut Ring) -> KVVec<u8> {
        let mut out = KVVec::from_elem(0u8, ring.len(), GFP_KERNEL).expect("allocate");
        let n = ring.pop(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn new_ring_is_empty() {
        let ring = Ring::new(16).expect("ring");
        assert_eq!(ring.capacity(), 16);
        assert_eq!(ring.len(), 0);
        assert_eq!(ring.free(), 16);
        assert!(ring.is_empty());
        assert!(!ring.is_full());
    }

    #[test]
    fn zero_capacity_is_invalid() {
        assert!(Ring::new(0).err() == Some(EINVAL));
    }

    #[test]
    fn pop_from_empty_returns_nothing() {
        let mut ring = Ring::new(8).expect("ring");
        let mut out = [0u8; 4];
        assert_eq!(ring.pop(&mut out), 0);
    }

    #[test]
    fn zero_length_operations_do_nothing() {
        let mut ring = Ring::new(8).expect("ring");
        assert_eq!(ring.push(&[]), 0);
        assert_eq!(ring.push(b"abc"), 3);
        assert_eq!(ring.pop(&mut []), 0);
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn fills_to_capacity_and_no_further() {
        let mut ring = Ring::new(8).expect("ring");
        assert_eq!(ring.push(b"0123456789"), 8);
        assert!(ring.is_full());
        assert_eq!(ring.free(), 0);
        assert_eq!(ring.push(b"x"), 0);
        assert_eq!(&drain(&mut ring)[..], b"01234567");
    }

    #[test]
    fn wraps_in_order() {
        let mut ring = Ring::new(8).expect("ring");
        let mut out = [0u8; 5];
        assert_eq!(ring.push(b"abcdef"), 6);
        assert_eq!(ring.pop(&mut out), 5);
        assert_eq!(&out, b"abcde");
        // Head is at 5 with one byte held: this write wraps.
        assert_eq!(ring.push(b"ghijklm"), 7);
        assert!(ring.is_full());
        assert_eq!(&drain(&mut ring)[..], b"fghijklm");
    }

    #[test]
    fn capacity_one() {
        let mut ring = Ring::new(1).expect("ring");
        let mut out = [0u8; 1];
        for b in 0..10u8 {
            assert_eq!(ring.push(&[b, b]), 1);
            assert!(ring.is_full());
            assert_eq!(ring.pop(&mut out), 1);
            assert_eq!(out[0], b);
            assert!(ring.is_empty());
        }
    }

    #[test]
    fn capacity_max() {
        let max = crate::ioctl::BUFFER_MAX as usize;
        let mut ring = Ring::new(max).expect("a 1 MiB ring");
        let data = pattern(max, 7);
        assert_eq!(ring.push(&data), max);
        assert!(ring.is_full());
        assert!(drain(&mut ring)[..] == data[..]);
    }

    #[test]
    fn short_sink_consumes_only_what_it_took() {
        let mut ring = Ring::new(8).expect("ring");
        ring.push(b"abcdefgh");
        // A sink that takes 3 bytes, as a copy to a faulting user buffer would.
        let n = ring.read_with(8, |run| run.len().min(3));
        assert_eq!(n, 3);
        assert_eq!(ring.len(), 5);
        assert_eq!(&drain(&mut ring)[..], b"defgh");
    }

    #[test]
    fn short_source_stores_only_what_it_filled() {
        let mut ring = Ring::new(8).expect("ring");
        let n = ring.write_with(8, |run| {
            run[..2].copy_from_slice(b"xy");
            2
        });
        assert_eq!(n, 2);
        assert_eq!(&drain(&mut ring)[..], b"xy");
    }

    #[test]
    fn transfers_stop_at_max() {
        let mut ring = Ring::new(8).expect("ring");
        assert_eq!(ring.write_with(3, |run| run.len()), 3);
        assert_eq!(ring.read_with(2, |run| run.len()), 2);
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn clear_discards_everything() {
        let mut ring = Ring::new(8).expect("ring");
        ring.push(b"abcdef");
        ring.clear();
        assert!(ring.is_empty());
        assert_eq!(ring.free(), 8);
        assert_eq!(ring.push(b"12345678"), 8);
        assert_eq!(&drain(&mut ring)[..], b"12345678");
    }

    #[test]
    fn resize_grow_keeps_data() {
        let mut ring = Ring::new(4).expect("ring");
        ring.push(b"abcd");
        assert_eq!(ring.resize(8), Ok(0));
        assert_eq!(ring.capacity(), 8);
        assert_eq!(ring.push(b"efgh"), 4);
        assert_eq!(&drain(&mut ring)[..], b"abcdefgh");
    }

    #[test]
    fn resize_shrink_keeps_oldest() {
        let mut ring = Ring::new(16).expect("ring");
        ring.push(b"1234567890");
        assert_eq!(ring.resize(5), Ok(5));
        assert!(ring.is_full());
        assert_eq!(&drain(&mut ring)[..], b"12345");
    }

    #[test]
    fn resize_with_wrap_keeps_order() {
        let mut ring = Ring::new(8).expect("ring");
        let mut out = [0u8; 6];
        ring.push(b"abcdef");
        ring.pop(&mut out);
        ring.push(b"ghijkl"); // Wraps: held "ghijkl" from index 6.
        assert_eq!(ring.resize(16), Ok(0));
        assert_eq!(&drain(&mut ring)[..], b"ghijkl");

        ring.push(b"abcdefghijklmnop");
        ring.pop(&mut out);
        ring.push(b"qrstuv"); // Wraps again, full.
        assert_eq!(ring.resize(4), Ok(12));
        assert_eq!(&drain(&mut ring)[..], b"ghij");
    }

    #[test]
    fn resize_to_zero_fails_and_keeps_data() {
        let mut ring = Ring::new(8).expect("ring");
        ring.push(b"abc");
        assert!(ring.resize(0) == Err(EINVAL));
        assert_eq!(ring.capacity(), 8);
        assert_eq!(&drain(&mut ring)[..], b"abc");
    }

    #[test]
    fn take_from_moves_oldest_and_empties_source() {
        let mut old = Ring::new(8).expect("ring");
        let mut new = Ring::new(3).expect("ring");
        old.push(b"abcde");
        assert_eq!(new.take_from(&mut old), 2);
        assert!(old.is_empty());
        assert_eq!(&drain(&mut new)[..], b"abc");
    }

    #[test]
    fn long_random_walk_matches_a_model() {
        // A deterministic walk of pushes and pops of odd sizes against a
        // simple running counter: every byte must come out once, in order.
        let mut ring = Ring::new(13).expect("ring");
        let (mut next_in, mut next_out) = (0u8, 0u8);
        let mut seed = 0x2545_f491u32;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed % 9) as usize;
            if seed & 0x100 != 0 {
                let mut data = [0u8; 8];
                for b in data.iter_mut().take(n) {
                    *b = next_in;
                    next_in = next_in.wrapping_add(1);
                }
                let stored = ring.push(&data[..n]);
                // Unstored bytes are not sent: rewind the counter.
                next_in = next_in.wrapping_sub((n - stored) as u8);
            } else {
                let mut out = [0u8; 8];
                let got = ring.pop(&mut out[..n]);
                for b in &out[..got] {
                    assert_eq!(*b, next_out);
                    next_out = next_out.wrapping_add(1);
                }
            }
            assert!(ring.len() <= ring.capacity());
        }
    }
}
