// SPDX-License-Identifier: GPL-2.0-only

//! `mydevctl`: inspect and control `/dev/mydevice`.
//!
//! The binary is a thin wrapper around [`run::main`]. Parsing, formatting and
//! the meaning of each errno live here, where `cargo test` can check them
//! without the device.

#![forbid(unsafe_code)]

pub mod cli;
pub mod error;
pub mod format;
pub mod json;
pub mod procfs;
pub mod run;
pub mod size;

pub use error::{Error, EXIT_DEVICE, EXIT_MISSING, EXIT_OK, EXIT_USAGE};
