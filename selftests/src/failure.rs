// SPDX-License-Identifier: GPL-2.0-only

//! Why a test stopped early, and how an error becomes that reason.
//!
//! The harness, the device wrappers and the other helpers all return these,
//! so they sit here, below every one of them.

use std::fmt::Display;

/// Why a test stopped early.
#[derive(Debug)]
pub enum Failure {
    /// A requirement failed; the message says what and why.
    Fail(String),
    /// The test cannot run here; the message says why.
    Skip(String),
}

impl Failure {
    /// A failure with `msg`.
    pub fn fail(msg: String) -> Self {
        Failure::Fail(msg)
    }
}

/// The outcome of a test body.
pub type TestResult = Result<(), Failure>;

/// Adds context to an error, turning it into a [`Failure`].
pub trait Context<T> {
    /// Fails with "`what`: `error`".
    fn context(self, what: impl Display) -> Result<T, Failure>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::Fail(format!("{what}: {e}")))
    }
}
