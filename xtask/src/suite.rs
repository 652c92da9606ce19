// SPDX-License-Identifier: GPL-2.0-only

//! Results grouped in suites, each with its own summary line, and the
//! summary of them all that ends a test command.
//!
//! `cargo xtask test`, `soak` and the end-to-end tests fill suites from what
//! their guests leave behind; a skip or a missing result is not a pass.

use crate::ktap::Case;
use crate::ktap::Outcome;
use crate::vm;

/// A group of results with its own summary line.
pub struct Suite {
    pub title: String,
    pub cases: Vec<Case>,
    /// Extra lines shown under the suite, e.g. stderr of a failed test.
    pub notes: Vec<String>,
}

impl Suite {
    pub fn new(title: impl Into<String>) -> Suite {
        Suite {
            title: title.into(),
            cases: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn add(&mut self, name: impl Into<String>, outcome: Outcome) {
        self.cases.push(Case {
            name: name.into(),
            outcome,
        });
    }

    pub fn check(&mut self, name: impl Into<String>, ok: bool) {
        self.add(name, if ok { Outcome::Pass } else { Outcome::Fail });
    }

    /// Fails the suite on any alarm in the guest's dmesg, and shows the
    /// first ones.
    pub fn check_dmesg(&mut self, outcome: &vm::Outcome) {
        self.check(
            "dmesg free of warnings, bugs and lockdep reports",
            outcome.dmesg_alarms.is_empty(),
        );
        self.notes.extend(
            outcome
                .dmesg_alarms
                .iter()
                .take(20)
                .map(|l| format!("dmesg: {l}")),
        );
    }

    pub fn passed(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.outcome == Outcome::Pass)
            .count()
    }

    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// Prints each suite's non-passing cases and counts; returns the totals.
pub fn print_summary(suites: &[Suite]) -> (usize, usize) {
    println!();
    println!("===== summary =====");
    let (mut passed, mut failed) = (0, 0);
    for suite in suites {
        println!("{}", suite.title);
        for case in &suite.cases {
            match case.outcome {
                Outcome::Pass => {}
                Outcome::Fail => println!("  not ok {}", case.name),
                Outcome::Skip => println!("  SKIP   {} (a skip is not a pass)", case.name),
            }
        }
        for note in &suite.notes {
            for line in note.lines() {
                println!("    {line}");
            }
        }
        println!("  {} passed, {} failed", suite.passed(), suite.failed());
        passed += suite.passed();
        failed += suite.failed();
    }
    println!("===== total =====");
    println!("{passed} passed, {failed} failed");
    (passed, failed)
}
