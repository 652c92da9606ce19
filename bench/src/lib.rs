// SPDX-License-Identifier: GPL-2.0-only

//! The helpers of the `mydevice-bench` program.
//!
//! The statistics, the result table and the JSON writer are pure and unit
//! tested here. The process, clock and `/proc` helpers the workloads run on
//! are in [`sys`], the io_uring streaming loop in [`uring`]; the device
//! wrapper is in [`device`], the switch of `perf record` sessions in
//! [`perf`].

pub mod json;
pub mod perf;
pub mod stats;
pub mod sys;
pub mod table;
pub mod uring;
