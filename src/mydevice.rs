// SPDX-License-Identifier: GPL-2.0-only

//! mydevice: `/dev/mydevice`, a blocking kernel FIFO shared by all openers.
//!
//! Reads consume and sleep while the FIFO is empty; writes sleep while it is
//! full. It supports `O_NONBLOCK`, signals, poll/select/epoll, `O_ASYNC`, an
//! ioctl control protocol and `/proc/mydevice` statistics. The semantics are
//! those of a pipe; `docs/semantics.md` specifies them.

use kernel::{
    prelude::*,
    sync::Arc, //
};

mod fifo;
mod fops;
mod ioctl;
mod kext;
mod param;
mod ring;

#[path = "../kunit/ioctl_test.rs"]
mod ioctl_test;
#[path = "../kunit/poll_test.rs"]
mod poll_test;
#[path = "../kunit/ring_test.rs"]
mod ring_test;

module! {
    type: MyDevice,
    name: "mydevice",
    authors: ["The mydevice developers"],
    description: "Blocking FIFO character device with poll, ioctl and /proc statistics",
    license: "GPL",
}

#[link_section = ".modinfo"]
#[used(compiler)]
static MODINFO_VERSION: [u8; 14] = *b"version=0.1.0\0";

/// The name of the device node and of the proc file.
const NAME: &CStr = c"mydevice";

struct MyDevice {
    // Dropped in this order: no new opens, then no proc readers, then the
    // FIFO. The module cannot be unloaded while a file is open.
    _misc: Pin<KBox<fops::MiscDevice>>,
    _proc: kext::proc::ProcEntry<fifo::Fifo>,
    _fifo: Arc<fifo::Fifo>,
}

impl kernel::Module for MyDevice {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let size = param::buffer_size();
        let capacity = ioctl::check_capacity(size).inspect_err(|_| {
            pr_err!(
                "buffer_size={} is out of range: it must be 1..={}\n",
                size,
                ioctl::BUFFER_MAX
            );
        })?;
        let fifo = Arc::pin_init(fifo::Fifo::new(capacity)?, GFP_KERNEL)?;
        let proc = kext::proc::ProcEntry::new(NAME, fifo.clone())?;
        // Register the node last: it can be opened at once, and nothing may
        // fail after that.
        let misc = KBox::pin_init(
            fops::MiscDevice::register(NAME, 0o600, &fops::FOPS, fifo.clone()),
            GFP_KERNEL,
        )?;
        pr_info!("/dev/mydevice ready, buffer_size={}\n", capacity);
        Ok(Self {
            _misc: misc,
            _proc: proc,
            _fifo: fifo,
        })
    }
}
