// SPDX-License-Identifier: GPL-2.0-only

//! A page whose first touch blocks in userfaultfd until the test lets it go.
//!
//! A read(2) into such a page leaves the reader stuck inside the device's
//! `copy_to_user`, which is how the tests hold a reader in the middle of a
//! copy for as long as they like.

use std::time::Duration;

use mydevice_abi::ioc;

use crate::failure::{Context, Failure};
use crate::sys::{self, Errno, Mapping, SysResult};

const UFFD_API: u64 = 0xaa;
const UFFDIO: u8 = 0xaa;
const IOC_READ_WRITE: u32 = 3;
const UFFDIO_API: u32 = ioc(IOC_READ_WRITE, UFFDIO, 0x3f, std::mem::size_of::<Api>());
const UFFDIO_REGISTER: u32 = ioc(
    IOC_READ_WRITE,
    UFFDIO,
    0x00,
    std::mem::size_of::<Register>(),
);
const UFFDIO_COPY: u32 = ioc(IOC_READ_WRITE, UFFDIO, 0x03, std::mem::size_of::<Copy>());
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
/// The size of `struct uffd_msg`.
const MSG_SIZE: usize = 32;

/// `struct uffdio_api`.
#[repr(C)]
struct Api {
    api: u64,
    features: u64,
    ioctls: u64,
}

/// `struct uffdio_register`.
#[repr(C)]
struct Register {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

/// `struct uffdio_copy`.
#[repr(C)]
struct Copy {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
}

/// One anonymous page registered with a userfaultfd for missing-page faults.
///
/// Kernel-mode faults are handled too (no `UFFD_USER_MODE_ONLY`), which
/// needs `CAP_SYS_PTRACE` or `vm.unprivileged_userfaultfd = 1`.
pub struct FaultingPage {
    uffd: i32,
    page: Mapping,
}

impl FaultingPage {
    /// Maps the page and registers it; a kernel without userfaultfd, or a
    /// caller not allowed to handle kernel faults, is a skip.
    pub fn new() -> Result<Self, Failure> {
        let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: userfaultfd() takes no pointers.
        let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
        let uffd = match sys::Errno::result(fd as libc::c_long) {
            Ok(fd) => fd as i32,
            Err(Errno::ENOSYS) => {
                return Err(Failure::Skip(
                    "userfaultfd() gives ENOSYS: the kernel lacks CONFIG_USERFAULTFD".into(),
                ))
            }
            Err(e @ Errno::EPERM) => {
                return Err(Failure::Skip(format!(
                    "userfaultfd() for kernel-mode faults gives {e}: needs CAP_SYS_PTRACE \
                     or vm.unprivileged_userfaultfd = 1"
                )))
            }
            Err(e) => return Err(Failure::fail(format!("userfaultfd(): {e}"))),
        };
        let page = match Mapping::new(1) {
            Ok(p) => p,
            Err(e) => {
                let _ = sys::close(uffd);
                return Err(Failure::fail(format!("mmap one page: {e}")));
            }
        };
        let this = FaultingPage { uffd, page };
        let mut api = Api {
            api: UFFD_API,
            features: 0,
            ioctls: 0,
        };
        sys::ioctl_raw(uffd, UFFDIO_API, &mut api as *mut Api as usize).context("UFFDIO_API")?;
        let mut reg = Register {
            start: this.page.addr as u64,
            len: this.page.len as u64,
            mode: UFFDIO_REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        sys::ioctl_raw(uffd, UFFDIO_REGISTER, &mut reg as *mut Register as usize)
            .context("UFFDIO_REGISTER (missing)")?;
        Ok(this)
    }

    /// The first byte of the page.
    pub fn addr(&self) -> usize {
        self.page.addr
    }

    /// Waits up to `timeout` for the first fault on the page; returns its address.
    pub fn wait_fault(&self, timeout: Duration) -> Result<u64, Failure> {
        let ms = timeout.as_millis() as i32;
        let ready = sys::retry(|| sys::poll_one(self.uffd, libc::POLLIN, ms))
            .context("poll the userfaultfd")?;
        if ready == 0 {
            return Err(Failure::fail(format!(
                "no fault on the registered page within {timeout:?}"
            )));
        }
        let mut msg = [0u8; MSG_SIZE];
        let n = sys::read(self.uffd, &mut msg).context("read the userfaultfd")?;
        if n != MSG_SIZE || msg[0] != UFFD_EVENT_PAGEFAULT {
            return Err(Failure::fail(format!(
                "expected a {MSG_SIZE}-byte page-fault message, got {n} bytes, event {:#x}",
                msg[0]
            )));
        }
        let mut addr = [0u8; 8];
        addr.copy_from_slice(&msg[16..24]);
        Ok(u64::from_ne_bytes(addr))
    }

    /// Resolves the fault with a page of zeroes (`UFFDIO_COPY`), which wakes the faulting task.
    pub fn resolve(&self) -> SysResult<()> {
        let zeroes = vec![0u8; self.page.len];
        let mut copy = Copy {
            dst: self.page.addr as u64,
            src: zeroes.as_ptr() as u64,
            len: self.page.len as u64,
            mode: 0,
            copy: 0,
        };
        sys::ioctl_raw(self.uffd, UFFDIO_COPY, &mut copy as *mut Copy as usize).map(|_| ())
    }

    /// Copies `len` bytes out of the page, once the fault is resolved.
    pub fn bytes(&self, len: usize) -> Vec<u8> {
        self.page.bytes(0, len)
    }
}

impl Drop for FaultingPage {
    fn drop(&mut self) {
        let _ = sys::close(self.uffd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ioctl numbers are the ones `<linux/userfaultfd.h>` computes.
    #[test]
    fn ioctl_numbers_are_pinned() {
        assert_eq!(UFFDIO_API, 0xc018_aa3f);
        assert_eq!(UFFDIO_REGISTER, 0xc020_aa00);
        assert_eq!(UFFDIO_COPY, 0xc028_aa03);
        assert_eq!(std::mem::size_of::<Api>(), 24);
        assert_eq!(std::mem::size_of::<Register>(), 32);
        assert_eq!(std::mem::size_of::<Copy>(), 40);
    }
}
