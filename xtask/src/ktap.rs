// SPDX-License-Identifier: GPL-2.0-only

//! A small KTAP/TAP reader: enough to count what passed and what did not.
//!
//! It reads the KTAP that KUnit writes to debugfs and the TAP 13 the
//! selftests print. Only leaf results count: a result line that closes a
//! block of deeper-indented results is that block's summary and is counted
//! only if it failed while none of its children did. `# SKIP` is not a pass.

/// One test result.
#[derive(Debug, PartialEq, Eq)]
pub struct Case {
    /// The test's name, with parents joined by `.` when nested.
    pub name: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// What became of a test.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// The results found in a KTAP document.
#[derive(Debug, Default)]
pub struct Report {
    /// Leaf results, in order.
    pub cases: Vec<Case>,
    /// The top-level plan (`1..N`), if there was one.
    pub plan: Option<usize>,
    /// Top-level results, to compare against the plan.
    pub top_level: usize,
}

struct Line<'a> {
    indent: usize,
    ok: bool,
    name: &'a str,
    skip: bool,
}

fn parse_result(line: &str) -> Option<Line<'_>> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let (ok, rest) = if let Some(rest) = trimmed.strip_prefix("not ok ") {
        (false, rest)
    } else if let Some(rest) = trimmed.strip_prefix("ok ") {
        (true, rest)
    } else {
        return None;
    };
    let (number, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if number.parse::<u64>().is_err() {
        return None;
    }
    let rest = rest.trim_start_matches("- ");
    let (name, directive) = match rest.split_once('#') {
        Some((name, directive)) => (name.trim(), directive.trim()),
        None => (rest.trim(), ""),
    };
    let skip = directive
        .get(..4)
        .is_some_and(|d| d.eq_ignore_ascii_case("skip"));
    Some(Line {
        indent,
        ok,
        name,
        skip,
    })
}

/// Reads the results out of a KTAP or TAP 13 document.
pub fn parse(text: &str) -> Report {
    let mut report = Report::default();
    let top_indent = text
        .lines()
        .filter(|l| parse_result(l).is_some())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    // Per indentation level: leaves seen below it since its last result, and
    // whether any of them failed.
    let mut below: Vec<(usize, usize, bool)> = Vec::new();
    let mut pending: Vec<Case> = Vec::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if raw.len() - raw.trim_start().len() == top_indent {
            if let Some(n) = trimmed.strip_prefix("1..") {
                report.plan = n.split_whitespace().next().and_then(|n| n.parse().ok());
            }
        }
        let Some(line) = parse_result(raw) else {
            continue;
        };
        let outcome = match (line.ok, line.skip) {
            (_, true) => Outcome::Skip,
            (true, false) => Outcome::Pass,
            (false, false) => Outcome::Fail,
        };
        // Children recorded deeper than this line belong to it.
        let children: Vec<(usize, usize, bool)> = below
            .iter()
            .copied()
            .filter(|(i, _, _)| *i > line.indent)
            .collect();
        below.retain(|(i, _, _)| *i <= line.indent);
        let child_count: usize = children.iter().map(|(_, n, _)| n).sum();
        let child_failed = children.iter().any(|(_, _, f)| *f);
        let start = pending.len() - child_count.min(pending.len());
        for case in &mut pending[start..] {
            case.name = format!("{}.{}", line.name, case.name);
        }
        let counted = if child_count == 0 {
            pending.push(Case {
                name: line.name.to_string(),
                outcome,
            });
            1
        } else if outcome != Outcome::Pass && !child_failed {
            pending.push(Case {
                name: format!("{} (whole suite)", line.name),
                outcome: Outcome::Fail,
            });
            child_count + 1
        } else {
            child_count
        };
        let failed = child_failed || outcome != Outcome::Pass;
        match below.iter_mut().find(|(i, _, _)| *i == line.indent) {
            Some(entry) => {
                entry.1 += counted;
                entry.2 |= failed;
            }
            None => below.push((line.indent, counted, failed)),
        }
        if line.indent == top_indent {
            report.top_level += 1;
        }
    }
    report.cases = pending;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(report: &Report) -> Vec<(&str, Outcome)> {
        report
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.outcome))
            .collect()
    }

    #[test]
    fn flat_tap_with_skip() {
        let report = parse(
            "TAP version 13\n1..3\nok 1 reads_block\nnot ok 2 writes_block\nok 3 fasync # SKIP no SIGIO\n# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0\n",
        );
        assert_eq!(report.plan, Some(3));
        assert_eq!(report.top_level, 3);
        assert_eq!(
            outcomes(&report),
            [
                ("reads_block", Outcome::Pass),
                ("writes_block", Outcome::Fail),
                ("fasync", Outcome::Skip)
            ]
        );
    }

    #[test]
    fn kunit_suite_counts_leaves_only() {
        let report = parse(
            "KTAP version 1\n# Subtest: mydevice_ring\n# module: mydevice\n1..2\n    ok 1 empty\n    not ok 2 wrap\nnot ok 1 mydevice_ring\n",
        );
        assert_eq!(
            outcomes(&report),
            [
                ("mydevice_ring.empty", Outcome::Pass),
                ("mydevice_ring.wrap", Outcome::Fail)
            ]
        );
    }

    #[test]
    fn failed_suite_without_failed_cases_counts_as_a_failure() {
        let report = parse("    ok 1 a\nnot ok 1 suite\n");
        assert_eq!(
            outcomes(&report),
            [
                ("suite.a", Outcome::Pass),
                ("suite (whole suite)", Outcome::Fail)
            ]
        );
    }

    #[test]
    fn nested_parameterised_cases() {
        let report = parse(
            "1..1\n    1..1\n        ok 1 p0\n        ok 2 p1\n    ok 1 param\n    ok 2 plain\nok 1 suite\n",
        );
        assert_eq!(
            outcomes(&report),
            [
                ("suite.param.p0", Outcome::Pass),
                ("suite.param.p1", Outcome::Pass),
                ("suite.plain", Outcome::Pass)
            ]
        );
    }

    #[test]
    fn empty_input_has_no_results() {
        let report = parse("");
        assert!(report.cases.is_empty());
        assert_eq!(report.plan, None);
    }
}
