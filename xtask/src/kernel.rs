// SPDX-License-Identifier: GPL-2.0-only

//! `cargo xtask kernel [--series 7.2|7.3] [--debug]`: builds a test kernel
//! into the cache, or reuses it.
//!
//! The source is Debian's newest `linux-source-<series>`, 7.2 by default.
//! The config is `vng --kconfig` plus the committed fragment
//! `kernel/mydevice.config`; the debug flavour adds `kernel/debug.config`
//! (KASAN, kmemleak, fault injection) and builds with clang, because Rust
//! allows KASAN only in a clang-built kernel. A build is keyed by the Linux
//! source version (which names the series), the fragments' options, rustc, bindgen
//! and virtme-ng (and clang for the debug flavour), and lives in
//! `<cache>/kernel/<linux version>-<key>` (`-debug-<key>` for the debug
//! flavour). A stamp file written after a successful make marks it reusable.

use std::path::Path;
use std::path::PathBuf;
use std::thread;
use std::time::Duration;
use std::time::Instant;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::cmd;
use xshell::Shell;

use crate::setup;
use crate::setup::Series;
use crate::util;
use crate::util::Stage;

/// Marks a finished build; holds the number of build steps it took.
const STAMP: &str = ".mydevice-stamp";
/// Build steps of a full build, when no earlier full build was recorded
/// (measured on the 7.2 source with the committed fragment).
const ESTIMATED_STEPS: usize = 3080;
/// How often the long make reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(20);
/// libclang for bindgen; every kernel make with Rust needs it.
pub const LIBCLANG_PATH: &str = "/usr/lib/llvm-19/lib";

/// Which test kernel to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// The default: lockdep and atomic-sleep checks, built with gcc.
    Base,
    /// `--debug`: also KASAN, kmemleak and fault injection, built with clang.
    Debug,
}

impl Flavour {
    /// The committed config fragments, applied in this order.
    fn fragments(self) -> Vec<PathBuf> {
        let dir = util::repo_root().join("kernel");
        match self {
            Flavour::Base => vec![dir.join("mydevice.config")],
            Flavour::Debug => vec![dir.join("mydevice.config"), dir.join("debug.config")],
        }
    }

    /// Extra make variables for the kernel and for modules built against it.
    fn make_args(self) -> Vec<String> {
        match self {
            Flavour::Base => Vec::new(),
            // clang-19, ld.lld-19 and friends, as setup installs them.
            Flavour::Debug => vec!["LLVM=-19".to_string()],
        }
    }
}

/// Which test kernel a command uses: its series and its flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    pub series: Series,
    pub flavour: Flavour,
}

impl From<Flavour> for Choice {
    /// That flavour of the default series.
    fn from(flavour: Flavour) -> Choice {
        Choice {
            series: Series::DEFAULT,
            flavour,
        }
    }
}

impl Choice {
    /// Parses the options of `command`: `--series 7.2|7.3`, and `--debug`
    /// when `debug` allows it.
    pub fn parse(command: &str, args: &[&str], debug: bool) -> Result<Choice> {
        let mut choice = Choice::from(Flavour::Base);
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            match arg {
                "--debug" if debug => choice.flavour = Flavour::Debug,
                "--series" => {
                    let value = args
                        .next()
                        .with_context(|| format!("{command}: --series needs 7.2 or 7.3"))?;
                    choice.series = Series::parse(value)?;
                }
                _ => bail!("{command}: unknown option {arg}"),
            }
        }
        Ok(choice)
    }

    /// Where the step count of the last full build of this kernel is kept.
    fn steps_record(self) -> String {
        let mut name = "full-build-steps".to_string();
        if self.series != Series::DEFAULT {
            name.push_str(&format!("-{}", self.series));
        }
        if self.flavour == Flavour::Debug {
            name.push_str("-debug");
        }
        name
    }
}

/// A test kernel: its source and its build directory.
pub struct Kernel {
    /// The extracted Linux source.
    pub src: PathBuf,
    /// The build directory (`O=`), which is also the `KDIR` for modules.
    pub dir: PathBuf,
    pub series: Series,
    pub flavour: Flavour,
    /// Make variables every build against this kernel needs, e.g. `LLVM=-19`.
    pub make_args: Vec<String>,
}

impl Kernel {
    /// Whether a successful build is recorded in `dir`.
    pub fn is_built(&self) -> bool {
        self.dir.join(STAMP).is_file()
    }
}

pub fn run(sh: &Shell, choice: Choice) -> Result<()> {
    ensure(sh, choice)?;
    Ok(())
}

/// Computes where the kernel for the current inputs lives, without building.
pub fn locate(sh: &Shell, choice: impl Into<Choice>) -> Result<Kernel> {
    let Choice { series, flavour } = choice.into();
    let src = setup::linux_source_dir(sh, series)?;
    let Some(linux) = setup::linux_source_version(sh, series)? else {
        let option = if series == Series::DEFAULT {
            String::new()
        } else {
            format!(" --series {series}")
        };
        bail!(
            "the Linux source is missing from {}: run `cargo xtask setup{option}`",
            src.display()
        );
    };
    let mut fragment_hashes = Vec::new();
    for fragment in flavour.fragments() {
        let text = sh
            .read_file(&fragment)
            .with_context(|| format!("reading the config fragment {}", fragment.display()))?;
        fragment_hashes.push(util::sha256(sh, fragment_options(&text).as_bytes())?);
    }
    let tool = |name: &str| {
        util::version_of(sh, name)
            .with_context(|| format!("`{name} --version` failed: run `cargo xtask setup`"))
    };
    // The Linux version names the series.
    let mut inputs = format!(
        "linux={linux}\nfragment={}\nrustc={}\nbindgen={}\nvng={}\n",
        fragment_hashes.join(","),
        tool("rustc")?,
        tool("bindgen")?,
        tool("vng")?,
    );
    let name = match flavour {
        Flavour::Base => linux,
        Flavour::Debug => {
            inputs.push_str(&format!("flavour=debug\nclang={}\n", tool("clang-19")?));
            format!("{linux}-debug")
        }
    };
    let key = util::sha256(sh, inputs.as_bytes())?;
    let dir = util::cache_dir(sh)?
        .join("kernel")
        .join(dir_name(&name, &key));
    Ok(Kernel {
        src,
        dir,
        series,
        flavour,
        make_args: flavour.make_args(),
    })
}

/// What of a config fragment makes the kernel: its option lines, each
/// trimmed, in order, `# CONFIG_X is not set` among them; other comments
/// and blank lines do not, so editing them rebuilds nothing.
fn fragment_options(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty()
                && (!line.starts_with('#')
                    || (line.starts_with("# CONFIG_") && line.ends_with(" is not set")))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The build directory's name: `<linux version>[-debug]-<key>`, with the
/// backports' `~` (as in `7.3.4-1~bpo13+1`) made a `-`, since the path goes
/// to guest command lines, which take only shell-safe characters.
fn dir_name(name: &str, key: &str) -> String {
    format!("{}-{}", name.replace('~', "-"), &key[..16])
}

/// Returns the test kernel, building it first if needed.
pub fn ensure(sh: &Shell, choice: impl Into<Choice>) -> Result<Kernel> {
    let choice = choice.into();
    let stage = Stage::start("kernel");
    let kernel = locate(sh, choice)?;
    if kernel.is_built() {
        stage.done(format!("reusing cached kernel {}", kernel.dir.display()));
        return Ok(kernel);
    }
    let fresh = !kernel.dir.join("Makefile").is_file();
    sh.create_dir(&kernel.dir)
        .with_context(|| format!("creating {}", kernel.dir.display()))?;
    stage.note(format!(
        "building in {} (first build: about 15 minutes on 2 CPUs, the debug flavour longer)",
        kernel.dir.display()
    ));
    configure(sh, &kernel)?;
    let steps = make(sh, &kernel, &stage)?;
    if fresh {
        let record = kernel.dir.parent().map(|p| p.join(choice.steps_record()));
        if let Some(record) = record {
            sh.write_file(record, format!("{steps}\n"))?;
        }
    }
    sh.write_file(kernel.dir.join(STAMP), format!("{steps}\n"))
        .context("writing the build stamp")?;
    stage.done(format!("built {}", kernel.dir.display()));
    Ok(kernel)
}

/// Writes `.config`: vng's config, the fragments on top, then checks it.
fn configure(sh: &Shell, kernel: &Kernel) -> Result<()> {
    let stage = Stage::start("kernel: config");
    let dir = &kernel.dir;
    let fragments = kernel.flavour.fragments();
    let log = dir.join("config.log");
    let _src = sh.push_dir(&kernel.src);
    let _clang = sh.push_env("LIBCLANG_PATH", LIBCLANG_PATH);
    let out = format!("O={}", dir.display());
    let make_args = &kernel.make_args;
    let configs: Vec<String> = fragments
        .iter()
        .flat_map(|f| ["--config".to_string(), f.display().to_string()])
        .collect();
    util::run_logged(
        cmd!(sh, "vng --kconfig {configs...} {out} {make_args...}"),
        "vng --kconfig",
        &log,
    )?;
    // vng appends its own generic items after custom fragments (it turns
    // DEBUG_INFO back on, for one), so the fragments go on top once more.
    let config_path = dir.join(".config");
    let mut config = sh
        .read_file(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let mut wanted = String::new();
    for fragment in &fragments {
        wanted.push_str(&sh.read_file(fragment)?);
    }
    config.push_str(&wanted);
    sh.write_file(&config_path, config)?;
    util::run_logged(
        cmd!(sh, "make {out} {make_args...} olddefconfig"),
        "make olddefconfig",
        &dir.join("olddefconfig.log"),
    )?;
    let config = sh.read_file(&config_path)?;
    let mismatches = fragment_mismatches(&wanted, &config);
    let names: Vec<String> = fragments
        .iter()
        .filter_map(|f| f.file_name()?.to_str().map(|n| format!("kernel/{n}")))
        .collect();
    if !mismatches.is_empty() {
        bail!(
            "the kernel config does not honour {} (a dependency is missing or the \
             option does not exist in this kernel):\n  {}",
            names.join(" + "),
            mismatches.join("\n  ")
        );
    }
    stage.done(format!(
        "vng --kconfig + {}, all fragment options hold",
        names.join(" + ")
    ));
    Ok(())
}

/// Lines of the fragment that the final config does not honour.
fn fragment_mismatches(fragment: &str, config: &str) -> Vec<String> {
    let value_of = |name: &str| -> Option<&str> {
        config.lines().rev().find_map(|line| {
            if let Some(value) = line.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                return Some(value);
            }
            let unset = line
                .strip_prefix("# ")
                .and_then(|l| l.strip_suffix(" is not set"));
            (unset == Some(name)).then_some("n")
        })
    };
    let mut mismatches = Vec::new();
    for line in fragment.lines().map(str::trim) {
        let (name, wanted) = if let Some(unset) = line
            .strip_prefix("# ")
            .and_then(|l| l.strip_suffix(" is not set"))
        {
            (unset, "n")
        } else if let Some((name, value)) = line.split_once('=') {
            if !name.starts_with("CONFIG_") {
                continue;
            }
            (name, value)
        } else {
            continue;
        };
        let actual = value_of(name).unwrap_or("n");
        if actual != wanted {
            mismatches.push(format!("{name}: wanted {wanted}, got {actual}"));
        }
    }
    mismatches
}

/// Counts kbuild's quiet-mode step lines (`  CC      foo.o`, `  RUSTC L rust/core.o`).
fn count_steps(log: &Path) -> usize {
    let Ok(bytes) = std::fs::read(log) else {
        return 0;
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| {
            line.strip_prefix("  ")
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|tag| {
                    tag.len() >= 2
                        && tag
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                })
        })
        .count()
}

/// Runs the long make with a progress line every 20 s; returns its step count.
fn make(sh: &Shell, kernel: &Kernel, stage: &Stage) -> Result<usize> {
    let dir = &kernel.dir;
    let log = dir.join("build.log");
    let choice = Choice {
        series: kernel.series,
        flavour: kernel.flavour,
    };
    let expected = dir
        .parent()
        .map(|p| p.join(choice.steps_record()))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| s.trim().parse::<usize>().ok());
    let (total, basis) = match expected {
        Some(n) => (n, "of the last full build"),
        None => (ESTIMATED_STEPS, "of an estimated full build"),
    };
    let jobs = format!("-j{}", util::nproc(sh)?);
    let out = format!("O={}", dir.display());
    let _src = sh.push_dir(&kernel.src);
    let _clang = sh.push_env("LIBCLANG_PATH", LIBCLANG_PATH);
    std::fs::write(&log, b"").context("creating build.log")?;
    stage.note(format!("make {jobs}, full log in {}", log.display()));
    let make_args = &kernel.make_args;
    let mut child = util::spawn_logged(cmd!(sh, "make {out} {make_args...} {jobs}"), &log)?;
    let started = Instant::now();
    let mut last = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for make")? {
            break status;
        }
        thread::sleep(Duration::from_millis(500));
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            let steps = count_steps(&log);
            let percent = (steps * 100 / total.max(1)).min(99);
            println!(
                "kernel: {} elapsed, {steps} objects built (~{percent}% {basis})",
                util::fmt_duration(started.elapsed())
            );
        }
    };
    if !status.success() {
        util::print_tail(&log);
        bail!("kernel make failed ({status}); full log: {}", log.display());
    }
    Ok(count_steps(&log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_options_ignore_comments_but_not_unset_options() {
        let text = "# SPDX-License-Identifier: GPL-2.0-only\n#\n# Why.\n\n\
                    CONFIG_RUST=y\n  CONFIG_KUNIT=y  \n# CONFIG_DEBUG_INFO is not set\n";
        assert_eq!(
            fragment_options(text),
            "CONFIG_RUST=y\nCONFIG_KUNIT=y\n# CONFIG_DEBUG_INFO is not set\n"
        );
        let edited = text.replace("# Why.", "# Why, said otherwise.");
        assert_eq!(fragment_options(&edited), fragment_options(text));
    }

    #[test]
    fn fragment_check_finds_mismatches() {
        let fragment = "# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=60\nCONFIG_D=y\n";
        let config = "CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=60\n# CONFIG_D is not set\n";
        assert_eq!(
            fragment_mismatches(fragment, config),
            ["CONFIG_B: wanted n, got y", "CONFIG_D: wanted y, got n"]
        );
    }

    #[test]
    fn choice_parse() {
        let base = Choice::parse("test", &[], true).unwrap();
        assert_eq!(base, Choice::from(Flavour::Base));
        assert_eq!(base.series, Series::V7_2);
        let c = Choice::parse("test", &["--series", "7.3", "--debug"], true).unwrap();
        assert_eq!((c.series, c.flavour), (Series::V7_3, Flavour::Debug));
        let c = Choice::parse("kernel", &["--debug", "--series", "7.2"], true).unwrap();
        assert_eq!((c.series, c.flavour), (Series::V7_2, Flavour::Debug));
        let c = Choice::parse("shell", &["--series", "7.3"], false).unwrap();
        assert_eq!((c.series, c.flavour), (Series::V7_3, Flavour::Base));
    }

    #[test]
    fn choice_refuses_nonsense() {
        for bad in [
            &["--series"][..],
            &["--series", "7.4"],
            &["--series", ""],
            &["--series", "--debug"],
            &["--series=7.3"],
            &["7.3"],
            &["--flavour", "debug"],
        ] {
            assert!(
                Choice::parse("test", bad, true).is_err(),
                "{bad:?} accepted"
            );
        }
        let err = Choice::parse("shell", &["--debug"], false).unwrap_err();
        assert_eq!(err.to_string(), "shell: unknown option --debug");
        let err = Choice::parse("test", &["--series", "6.12"], true).unwrap_err();
        assert!(err.to_string().contains("7.2 and 7.3"), "{err}");
    }

    #[test]
    fn each_series_and_flavour_has_its_own_steps_record() {
        let names: Vec<String> = [Series::V7_2, Series::V7_3]
            .into_iter()
            .flat_map(|series| {
                [Flavour::Base, Flavour::Debug].map(|flavour| Choice { series, flavour })
            })
            .map(Choice::steps_record)
            .collect();
        // The default series keeps the names it had before series existed.
        assert_eq!(
            names,
            [
                "full-build-steps",
                "full-build-steps-debug",
                "full-build-steps-7.3",
                "full-build-steps-7.3-debug"
            ]
        );
    }

    #[test]
    fn build_dirs_are_shell_safe() {
        let key = "0123456789abcdef0123";
        assert_eq!(dir_name("7.2.13-1", key), "7.2.13-1-0123456789abcdef");
        let name = dir_name("7.3.4-1~bpo13+1", key);
        assert_eq!(name, "7.3.4-1-bpo13+1-0123456789abcdef");
        assert!(util::shell_safe(&name));
    }

    #[test]
    fn fragment_check_accepts_a_matching_config() {
        let fragment = "CONFIG_A=y\n# CONFIG_B is not set\n";
        let config = "CONFIG_A=y\n";
        assert!(fragment_mismatches(fragment, config).is_empty());
    }
}
