// SPDX-License-Identifier: GPL-2.0-only

//! Small safe abstractions over kernel C interfaces that the kernel crate
//! lacks.
//!
//! Nothing here knows of the device: each file wraps one C interface (the
//! fasync list, a wait queue with keyed wakeups and its poll table, a proc
//! entry, a misc device registration, a module parameter, a signal), holds
//! its `unsafe` code with the reasons it is sound, and offers a safe API.
//! They are candidates for the kernel crate.

pub(crate) mod fasync;
pub(crate) mod file;
pub(crate) mod misc;
pub(crate) mod param;
pub(crate) mod poll;
pub(crate) mod proc;
pub(crate) mod signal;
