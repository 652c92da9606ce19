// SPDX-License-Identifier: GPL-2.0-only

//! KUnit tests of the ioctl codec and of the control logic behind it.

use kernel::prelude::*;

#[kunit_tests(mydevice_ioctl)]
mod tests {
    use crate::{
        fifo::Fifo,
        ioctl::{
            self,
            Command,
            Stats,
            Status, //
        },
        kext::file::Access,
    };
    use kernel::{
        prelude::*,
        sync::Arc,
        uaccess::UserPtr, //
    };

    /// Returns whether `cmd` decodes to `want` with the argument intact.
    fn decodes(cmd: u32, want: fn(UserPtr) -> Command) -> bool {
        let arg = 0x1000;
        match (Command::decode(cmd, arg), want(UserPtr::from_addr(arg))) {
            (Ok(Command::Clear), Command::Clear) | (Ok(Command::Hangup), Command::Hangup) => true,
            (Ok(Command::Resize(p)), Command::Resize(q))
            | (Ok(Command::Status(p)), Command::Status(q))
            | (Ok(Command::Stats(p)), Command::Stats(q))
            | (Ok(Command::NRead(p)), Command::NRead(q)) => p.as_const_ptr() == q.as_const_ptr(),
            _ => false,
        }
    }

    #[test]
    fn decodes_every_command() {
        assert!(decodes(0x4d00, |_| Command::Clear));
        assert!(decodes(0x4004_4d01, Command::Resize));
        assert!(decodes(0x8018_4d02, Command::Status));
        assert!(decodes(0x4d03, |_| Command::Hangup));
        assert!(decodes(0x8048_4d04, Command::Stats));
        assert!(decodes(0x541b, Command::NRead));
        // A command decodes to itself only.
        assert!(!decodes(0x4d00, |_| Command::Hangup));
        assert!(!decodes(0x8018_4d02, Command::Stats));
    }

    #[test]
    fn unknown_commands_are_enotty() {
        // The next free number, a wrong direction, a wrong size, another magic
        // with a known number, a tty ioctl and zero.
        for cmd in [0x4d05u32, 0x8004_4d01, 0x8010_4d02, 0x4e00, 0x5401, 0] {
            assert!(matches!(Command::decode(cmd, 0), Err(e) if e == ENOTTY));
        }
    }

    #[test]
    fn only_mutating_commands_need_write() {
        let p = UserPtr::from_addr(0);
        assert!(Command::Clear.needs_write());
        assert!(Command::Resize(p).needs_write());
        assert!(Command::Hangup.needs_write());
        assert!(!Command::Status(p).needs_write());
        assert!(!Command::Stats(p).needs_write());
        assert!(!Command::NRead(p).needs_write());
    }

    #[test]
    fn capacity_bounds() {
        assert!(ioctl::check_capacity(0) == Err(EINVAL));
        assert!(ioctl::check_capacity(1) == Ok(1));
        assert!(ioctl::check_capacity(1_048_576) == Ok(1_048_576));
        assert!(ioctl::check_capacity(1_048_577) == Err(EINVAL));
        assert!(ioctl::check_capacity(u32::MAX) == Err(EINVAL));
    }

    #[test]
    fn atomic_limit_is_min_of_4096_and_capacity() {
        assert_eq!(ioctl::atomic_need(4096, 8192), 4096);
        assert_eq!(ioctl::atomic_need(4097, 8192), 1);
        assert_eq!(ioctl::atomic_need(100, 100), 100);
        assert_eq!(ioctl::atomic_need(101, 100), 1);
        assert_eq!(ioctl::atomic_need(1, 1), 1);
    }

    #[test]
    fn status_layout_matches_the_c_struct() {
        let s = Status {
            buffer_size: 1,
            bytes_used: 2,
            open_count: 3,
            read_count: 4,
            write_count: 5,
        };
        let b = s.to_bytes();
        assert_eq!(b.len(), 24);
        for (i, chunk) in b.chunks_exact(4).enumerate() {
            let want = if i < 5 { i as u32 + 1 } else { 0 };
            assert_eq!(
                u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
                want
            );
        }
    }

    #[test]
    fn stats_layout_matches_the_c_struct() {
        let s = Stats {
            bytes_read: 10,
            bytes_written: 11,
            reads: 12,
            writes: 13,
            reader_sleeps: 14,
            writer_sleeps: 15,
            readers_waiting: 16,
            writers_waiting: 17,
            flags: ioctl::FLAG_HUNG_UP,
        };
        let b = s.to_bytes();
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_ne_bytes(w)
        };
        assert_eq!(b.len(), 72);
        assert_eq!(u32_at(0), 72);
        assert_eq!(u32_at(4), ioctl::STATS_VERSION);
        for i in 0..6 {
            assert_eq!(u64_at(8 + 8 * i), 10 + i as u64);
        }
        assert_eq!(u32_at(56), 16);
        assert_eq!(u32_at(60), 17);
        assert_eq!(u32_at(64), 1);
        assert_eq!(u32_at(68), 0);
    }

    const READ_ONLY: Access = Access {
        read: true,
        write: false,
    };
    const READ_WRITE: Access = Access {
        read: true,
        write: true,
    };
    /// An open with `O_ACCMODE` of 3: neither mode, checked for both.
    const IOCTL_ONLY: Access = Access {
        read: false,
        write: false,
    };

    fn fifo(capacity: usize) -> Result<Arc<Fifo>> {
        Arc::pin_init(Fifo::new(capacity)?, GFP_KERNEL)
    }

    #[test]
    fn control_commands_need_a_writable_file() -> Result {
        let f = fifo(16)?;
        assert!(f.ioctl(Command::Clear, READ_ONLY) == Err(EBADF));
        assert!(f.ioctl(Command::Hangup, READ_ONLY) == Err(EBADF));
        assert!(f.ioctl(Command::Resize(UserPtr::from_addr(0)), READ_ONLY) == Err(EBADF));
        assert_eq!(f.stats().flags, 0);
        Ok(())
    }

    #[test]
    fn an_ioctl_only_open_may_control() -> Result {
        let f = fifo(16)?;
        f.open();
        assert!(f.ioctl(Command::Clear, IOCTL_ONLY) == Ok(0));
        assert!(f.ioctl(Command::Hangup, IOCTL_ONLY) == Ok(0));
        assert_eq!(f.stats().flags, ioctl::FLAG_HUNG_UP);
        f.release();
        Ok(())
    }

    #[test]
    fn resize_rejects_bad_sizes_and_keeps_the_buffer() -> Result {
        let f = fifo(16)?;
        assert!(f.resize(0) == Err(EINVAL));
        assert!(f.resize(1_048_577) == Err(EINVAL));
        assert_eq!(f.status().buffer_size, 16);
        f.resize(1_048_576)?;
        assert_eq!(f.status().buffer_size, 1_048_576);
        f.resize(1)?;
        assert_eq!(f.status().buffer_size, 1);
        Ok(())
    }

    #[test]
    fn bad_user_pointer_is_efault() -> Result {
        let f = fifo(16)?;
        // Address 0 is never mapped in a kernel thread's user space.
        let null = UserPtr::from_addr(0);
        assert!(f.ioctl(Command::Status(null), READ_WRITE) == Err(EFAULT));
        assert!(f.ioctl(Command::Stats(null), READ_WRITE) == Err(EFAULT));
        assert!(f.ioctl(Command::NRead(null), READ_WRITE) == Err(EFAULT));
        assert!(f.ioctl(Command::Resize(null), READ_WRITE) == Err(EFAULT));
        assert_eq!(f.status().buffer_size, 16);
        Ok(())
    }

    #[test]
    fn hangup_sets_the_flag_and_last_release_clears_it() -> Result {
        let f = fifo(16)?;
        f.open();
        f.ioctl(Command::Hangup, READ_WRITE)?;
        assert_eq!(f.stats().flags, ioctl::FLAG_HUNG_UP);
        f.release();
        assert_eq!(f.stats().flags, 0);
        assert_eq!(f.status().open_count, 0);
        Ok(())
    }

    #[test]
    fn status_counts_opens() -> Result {
        let f = fifo(32)?;
        f.open();
        f.open();
        let s = f.status();
        assert_eq!(s.open_count, 2);
        assert_eq!(s.buffer_size, 32);
        assert_eq!(s.bytes_used, 0);
        f.release();
        f.release();
        Ok(())
    }
}
