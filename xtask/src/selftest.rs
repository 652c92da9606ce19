// SPDX-License-Identifier: GPL-2.0-only

//! The selftests as the test commands see them: the programs of
//! `selftests/programs.mk`, the host variables they get, and the suite of one
//! program read from the KTAP, stderr and exit code it left in a VM run.

use std::path::Path;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;

use crate::kernel::Flavour;
use crate::ktap;
use crate::ktap::Outcome;
use crate::suite::Suite;
use crate::util;

/// The one list of the selftest programs, in make syntax.
pub const PROGRAMS_MK: &str = "selftests/programs.mk";
/// The selftest that runs before the module is loaded and loads it itself.
pub const LIFECYCLE: &str = "module_lifecycle";
/// Selftest programs that only the debug flavour runs.
pub const DEBUG_PREFIX: &str = "debug_";

/// The programs of [`PROGRAMS_MK`].
#[derive(Debug, PartialEq, Eq)]
pub struct Programs {
    /// `TEST_GEN_PROGS`: what `run_kselftest.sh` runs, in its order.
    pub listed: Vec<String>,
    /// `TEST_GEN_PROGS_EXTENDED`: [`LIFECYCLE`] and the `debug_*` programs.
    pub extended: Vec<String>,
}

impl Programs {
    /// Reads [`PROGRAMS_MK`] of the work tree.
    pub fn read() -> Result<Programs> {
        let path = util::repo_root().join(PROGRAMS_MK);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Programs::parse(&text).with_context(|| format!("reading {}", path.display()))
    }

    /// Parses the `TEST_GEN_PROGS :=` and `TEST_GEN_PROGS_EXTENDED :=`
    /// assignments, with their `\` continuation lines; comments and blank
    /// lines are skipped, and anything else is refused.
    fn parse(text: &str) -> Result<Programs> {
        let mut programs = Programs {
            listed: Vec::new(),
            extended: Vec::new(),
        };
        let joined = text.replace("\\\n", " ");
        for line in joined.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((var, words)) = line.split_once(":=") else {
                bail!("{line:?} is not a `VAR := programs` line");
            };
            let list = match var.trim() {
                "TEST_GEN_PROGS" => &mut programs.listed,
                "TEST_GEN_PROGS_EXTENDED" => &mut programs.extended,
                other => bail!("unknown variable {other}"),
            };
            list.extend(words.split_whitespace().map(str::to_string));
        }
        if programs.listed.is_empty() {
            bail!("no TEST_GEN_PROGS");
        }
        Ok(programs)
    }

    /// The programs `cargo xtask test` runs in the flavour's VM:
    /// [`LIFECYCLE`] first, then the listed ones, then, in the debug flavour
    /// only, the `debug_*` ones.
    pub fn for_flavour(&self, flavour: Flavour) -> Vec<String> {
        let extended = self.extended.iter().filter(|name| {
            *name == LIFECYCLE || (flavour == Flavour::Debug && name.starts_with(DEBUG_PREFIX))
        });
        let mut names: Vec<String> = extended.chain(&self.listed).cloned().collect();
        names.sort_by_key(|name| name != LIFECYCLE);
        names
    }
}

/// Host variables that are not the selftests' to read.
const HOST_ONLY_VARS: &[&str] = &["MYDEVICE_CACHE", "MYDEVICE_KO"];

/// The `MYDEVICE_*` variables of the host's environment, such as
/// `MYDEVICE_FUZZ_SEED` or `MYDEVICE_FUZZ_ITERS`, as sorted `KEY=VALUE`
/// strings for the guest: a seed printed by a failed run replays with
/// `MYDEVICE_FUZZ_SEED=<seed> cargo xtask test`.
pub fn selftest_env(vars: impl Iterator<Item = (String, String)>) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for (key, value) in vars {
        if !key.starts_with("MYDEVICE_") || HOST_ONLY_VARS.contains(&key.as_str()) {
            continue;
        }
        if !util::shell_safe(&key) || !util::shell_safe(&value) {
            bail!("{key}={value:?} cannot be passed to the guest: use letters, digits and ._+-:,");
        }
        println!("VM: the selftests get {key}={value}");
        env.push(format!("{key}={value}"));
    }
    env.sort();
    Ok(env)
}

/// The number in a `.rc` file a guest script wrote, if it is there.
pub fn read_rc(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The suite of one selftest program, from its KTAP output and exit code.
pub fn selftest_suite(dir: &Path, name: &str, per_test: u64) -> Suite {
    let mut suite = Suite::new(format!("selftest {name}"));
    let base = dir.join("selftests").join(name);
    let ktap_file = base.with_extension("ktap");
    let Some(rc) = read_rc(&base.with_extension("rc")) else {
        suite.check("ran", false);
        suite
            .notes
            .push("the program did not run (see console.log)".into());
        return suite;
    };
    let ktap_text = std::fs::read_to_string(&ktap_file).unwrap_or_default();
    let report = ktap::parse(&ktap_text);
    let has = |o: Outcome| report.cases.iter().any(|c| c.outcome == o);
    let (failed, skipped) = (has(Outcome::Fail), has(Outcome::Skip));
    suite.cases.extend(report.cases);
    match rc {
        124 | 137 => {
            suite.check(format!("finished within {per_test} s"), false);
        }
        _ if suite.cases.is_empty() => {
            suite.check("printed KTAP results", false);
            suite
                .notes
                .push(format!("exit code {rc}, no ok/not ok lines"));
        }
        0 | 1 | 4 => {
            if let Some(plan) = report.plan {
                if plan != report.top_level {
                    suite.check(
                        format!("plan 1..{plan} matches {} results", report.top_level),
                        false,
                    );
                }
            }
            if rc == 1 && !failed {
                suite.check("exit code", false);
                suite.notes.push("exit code 1 but no `not ok` line".into());
            }
            if rc == 4 && !skipped {
                suite.add("whole program", Outcome::Skip);
            }
        }
        _ => {
            suite.check(format!("exit code {rc}"), false);
        }
    }
    if suite.failed() > 0 {
        // Why each case failed, so that a CI log without the files says it.
        suite.notes.extend(fail_lines(&ktap_text));
        let stderr = util::tail(&base.with_extension("stderr"), 5);
        if !stderr.trim().is_empty() {
            suite.notes.push(format!("stderr: {stderr}"));
        }
    }
    suite
}

/// The harness's `# NAME: FAIL: ...` lines, at most 10 of them.
fn fail_lines(ktap: &str) -> Vec<String> {
    ktap.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.contains(": FAIL: "))
        .take(10)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_lines_are_the_harness_failures() {
        let ktap = "TAP version 13\n# a: 3 opens\n# a: FAIL: /proc open_count: 1\nnot ok 1 a\n";
        assert_eq!(fail_lines(ktap), ["a: FAIL: /proc open_count: 1"]);
    }

    fn vars(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// The repository file at `path`.
    fn read(path: &str) -> String {
        let path = util::repo_root().join(path);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn programs_mk_names_every_program_once() {
        let programs = Programs::read().unwrap();
        let mut listed: Vec<&String> = programs.listed.iter().chain(&programs.extended).collect();
        listed.sort();
        let mut bins: Vec<String> = std::fs::read_dir(util::repo_root().join("selftests/src/bin"))
            .unwrap()
            .filter_map(|entry| {
                let path = entry.unwrap().path();
                let stem = path.file_stem()?.to_str()?.to_string();
                path.extension().is_some_and(|e| e == "rs").then_some(stem)
            })
            .collect();
        bins.sort();
        assert_eq!(
            listed,
            bins.iter().collect::<Vec<_>>(),
            "{PROGRAMS_MK} against src/bin/"
        );
        for name in &programs.extended {
            assert!(
                name == LIFECYCLE || name.starts_with(DEBUG_PREFIX),
                "{name}: only {LIFECYCLE} and {DEBUG_PREFIX}* stay out of run_kselftest.sh"
            );
        }
    }

    #[test]
    fn makefile_and_debian_rules_read_programs_mk() {
        let makefile = read("selftests/Makefile");
        assert!(
            makefile.contains("include $(CURDIR)/programs.mk"),
            "selftests/Makefile"
        );
        let rules = read("debian/rules");
        assert!(
            rules.contains("include selftests/programs.mk"),
            "debian/rules"
        );
        for (path, text) in [("selftests/Makefile", &makefile), ("debian/rules", &rules)] {
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("TEST_GEN_PROGS") && !l.contains("$(")),
                "{path} sets a list of programs of its own"
            );
        }
        assert!(
            rules.contains("$(TEST_GEN_PROGS)"),
            "debian/rules installs TEST_GEN_PROGS"
        );
    }

    /// The value of `key = ` in the first line that sets it, after `from`.
    fn field<'a>(text: &'a str, from: &str, key: &str) -> Option<&'a str> {
        let start = text.find(from)?;
        text[start..]
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim().strip_prefix("= "))
    }

    /// selftests/ (for a drop-in) and xtask/ (a workspace of its own) spell
    /// out the fields the workspace's members inherit, with the same values.
    #[test]
    fn selftests_manifest_spells_out_the_workspace_fields() {
        let root = read("Cargo.toml");
        let ours = read("selftests/Cargo.toml");
        for path in ["selftests/Cargo.toml", "xtask/Cargo.toml"] {
            let manifest = read(path);
            for key in ["version", "edition", "license", "rust-version"] {
                let want = field(&root, "[workspace.package]", key);
                assert!(want.is_some(), "Cargo.toml: no workspace {key}");
                assert_eq!(field(&manifest, "[package]", key), want, "{path}: {key}");
            }
        }
        assert!(
            !ours.contains(".workspace"),
            "a drop-in has no workspace to inherit from"
        );
        for (name, path) in crate::dropin::LOCAL_CRATES {
            let patch = format!("{name} = {{ path = \"{path}\" }}");
            assert!(
                field(&root, "[patch.crates-io]", name).is_some() && root.contains(&patch),
                "Cargo.toml: [patch.crates-io] lacks {patch}"
            );
        }
    }

    #[test]
    fn programs_parse_and_order_by_flavour() {
        let programs = Programs::parse(
            "# x\n\nTEST_GEN_PROGS := b a \\\n\tc\nTEST_GEN_PROGS_EXTENDED := debug_x module_lifecycle\n",
        )
        .unwrap();
        assert_eq!(programs.listed, ["b", "a", "c"]);
        assert_eq!(
            programs.for_flavour(Flavour::Base),
            ["module_lifecycle", "b", "a", "c"]
        );
        assert_eq!(
            programs.for_flavour(Flavour::Debug),
            ["module_lifecycle", "debug_x", "b", "a", "c"]
        );
        assert!(Programs::parse("TEST_PROGS := x\n").is_err());
        assert!(Programs::parse("x\n").is_err());
    }

    #[test]
    fn selftest_env_passes_only_the_selftests_variables() {
        let env = selftest_env(vars(&[
            ("MYDEVICE_FUZZ_SEED", "0x18ead18f475c881e"),
            ("PATH", "/usr/bin"),
            ("MYDEVICE_CACHE", "/var/cache/x"),
            ("MYDEVICE_FUZZ_ITERS", "100000"),
        ]))
        .unwrap();
        assert_eq!(
            env,
            [
                "MYDEVICE_FUZZ_ITERS=100000",
                "MYDEVICE_FUZZ_SEED=0x18ead18f475c881e"
            ]
        );
    }

    #[test]
    fn selftest_env_refuses_what_the_shell_would_read() {
        assert!(selftest_env(vars(&[("MYDEVICE_FUZZ_SEED", "1; reboot")])).is_err());
        assert!(selftest_env(vars(&[("MYDEVICE_X", "")])).is_err());
    }
}
