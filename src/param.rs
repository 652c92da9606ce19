// SPDX-License-Identifier: GPL-2.0-only

//! The `buffer_size` module parameter, readable in sysfs.
//!
//! Users expect `/sys/module/mydevice/parameters/buffer_size`, which the
//! `module!` macro's parameters do not give. This declares the parameter the
//! way `module_param(buffer_size, uint, 0444)` does in C: a `kernel_param`
//! in the `__param` section using the kernel's own `uint` operations, plus
//! its `modinfo` strings. It is read-only after load, so a write can never
//! be silently ignored.

use crate::kext::param::ParamU32;
use kernel::{
    bindings,
    module_param::KernelParam,
    str::as_char_ptr_in_const_context, //
};

/// The default capacity, `MYDEV_BUFFER_DEFAULT`.
pub(crate) const BUFFER_SIZE_DEFAULT: u32 = 4096;

static BUFFER_SIZE: ParamU32 = ParamU32::new(BUFFER_SIZE_DEFAULT);

#[link_section = "__param"]
#[used(compiler)]
static BUFFER_SIZE_PARAM: KernelParam = KernelParam::new(bindings::kernel_param {
    name: as_char_ptr_in_const_context(c"buffer_size"),
    // `THIS_MODULE`, spelled so that it builds on 7.2 and 7.3 alike.
    mod_: (&raw const bindings::__this_module).cast_mut(),
    ops: &raw const bindings::param_ops_uint,
    perm: 0o444,
    level: -1,
    flags: 0,
    __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 {
        // SAFETY: This is the one `kernel_param` of `BUFFER_SIZE`; it uses
        // `param_ops_uint` and mode 0444, which has no write bit.
        arg: unsafe { BUFFER_SIZE.as_arg() }.cast(),
    },
});

#[link_section = ".modinfo"]
#[used(compiler)]
static BUFFER_SIZE_PARMTYPE: [u8; 26] = *b"parmtype=buffer_size:uint\0";

#[link_section = ".modinfo"]
#[used(compiler)]
static BUFFER_SIZE_PARM: [u8; 76] =
    *b"parm=buffer_size:Capacity of the FIFO in bytes, 1..=1048576 (default: 4096)\0";

/// Returns the value given at load time, or the default.
pub(crate) fn buffer_size() -> u32 {
    BUFFER_SIZE.get()
}
