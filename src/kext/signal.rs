// SPDX-License-Identifier: GPL-2.0-only

//! Signals sent by the kernel on behalf of a system call.

use kernel::{
    bindings,
    ffi::c_int,
    task::Task, //
};

/// Sends `SIGPIPE` to the current task, as a write to a broken pipe does.
pub(crate) fn send_sigpipe() {
    // SAFETY: `Task::current_raw()` is the running task, which stays valid
    // while it runs this call. `send_sig` takes the task's signal lock
    // itself, and a private (`priv` = 0) signal to a live task has no other
    // requirement.
    unsafe { bindings::send_sig(bindings::SIGPIPE as c_int, Task::current_raw(), 0) };
}
