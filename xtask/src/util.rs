// SPDX-License-Identifier: GPL-2.0-only

//! Helpers shared by the commands: paths, stage timing and logged commands.

use std::fmt::Display;
use std::fs::File;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use anyhow::bail;
use anyhow::Context;
use anyhow::Result;
use xshell::Cmd;
use xshell::Shell;

/// Lines of a log printed when the step that wrote it fails.
const TAIL_LINES: usize = 40;

/// The root of the repository (the Cargo workspace).
pub fn repo_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// The Cargo target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir(sh: &Shell) -> PathBuf {
    match sh.var("CARGO_TARGET_DIR") {
        Ok(dir) if !dir.is_empty() => repo_root().join(dir),
        _ => repo_root().join("target"),
    }
}

/// Where long tool output goes: `target/xtask-logs/`.
pub fn log_dir(sh: &Shell) -> Result<PathBuf> {
    let dir = target_dir(sh).join("xtask-logs");
    sh.create_dir(&dir)
        .with_context(|| format!("creating the log directory {}", dir.display()))
}

/// The cache outside the repository: `$MYDEVICE_CACHE`, else
/// `$XDG_CACHE_HOME/mydevice`, else `~/.cache/mydevice`.
pub fn cache_dir(sh: &Shell) -> Result<PathBuf> {
    if let Ok(dir) = sh.var("MYDEVICE_CACHE") {
        if !dir.is_empty() {
            return Ok(PathBuf::from(dir));
        }
    }
    if let Ok(dir) = sh.var("XDG_CACHE_HOME") {
        if !dir.is_empty() {
            return Ok(PathBuf::from(dir).join("mydevice"));
        }
    }
    let home = sh
        .var("HOME")
        .context("neither MYDEVICE_CACHE nor HOME is set: set one of them")?;
    Ok(PathBuf::from(home).join(".cache/mydevice"))
}

/// A stage of a command; it prints one line with its duration when done.
pub struct Stage {
    name: &'static str,
    start: Instant,
}

impl Stage {
    /// Starts timing the stage `name`.
    pub fn start(name: &'static str) -> Stage {
        Stage {
            name,
            start: Instant::now(),
        }
    }

    /// Prints `name: what (duration)`.
    pub fn done(self, what: impl Display) {
        println!(
            "{}: {what} ({})",
            self.name,
            fmt_duration(self.start.elapsed())
        );
    }

    /// Prints a line about the stage while it is still running.
    pub fn note(&self, what: impl Display) {
        println!("{}: {what}", self.name);
    }
}

/// Formats a duration as `4.2s` or `12m05s`.
pub fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// The last `n` lines of a text file, or a note that it could not be read.
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

/// Spawns `cmd` with stdout and stderr appended to `log`, stdin empty.
pub fn spawn_logged(cmd: Cmd<'_>, log: &Path) -> Result<std::process::Child> {
    let file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening the log file {}", log.display()))?;
    let err = file
        .try_clone()
        .context("duplicating the log file handle")?;
    let mut command: Command = cmd.into();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err));
    command
        .spawn()
        .with_context(|| format!("starting {command:?}"))
}

/// Runs `cmd` with its output in `log` (truncated first). On failure it
/// prints the tail of the log and returns an error naming `what` and the log.
pub fn run_logged(cmd: Cmd<'_>, what: &str, log: &Path) -> Result<()> {
    std::fs::write(log, b"").with_context(|| format!("creating {}", log.display()))?;
    let status = spawn_logged(cmd, log)?
        .wait()
        .with_context(|| format!("waiting for {what}"))?;
    if !status.success() {
        print_tail(log);
        bail!("{what} failed ({status}); full log: {}", log.display());
    }
    Ok(())
}

/// Prints the tail of a log file, framed.
pub fn print_tail(log: &Path) {
    eprintln!("----- last {TAIL_LINES} lines of {} -----", log.display());
    eprintln!("{}", tail(log, TAIL_LINES));
    eprintln!("----- end of {} -----", log.display());
}

/// The first line of `program --version`, or `None` if it cannot run.
pub fn version_of(sh: &Shell, program: &str) -> Option<String> {
    let out = sh
        .cmd(program)
        .arg("--version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    out.lines().next().map(|line| line.trim().to_string())
}

/// Fails with a fix-it message when `program` is not on `PATH`.
pub fn require(sh: &Shell, program: &str, fix: &str) -> Result<()> {
    if which(sh, program).is_none() {
        bail!("`{program}` is not on PATH: {fix}");
    }
    Ok(())
}

/// The full path of `program` found on `PATH`.
pub fn which(sh: &Shell, program: &str) -> Option<PathBuf> {
    let path = sh.var("PATH").ok()?;
    path.split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}

/// Hex SHA-256 of `data`, computed by `sha256sum`.
pub fn sha256(sh: &Shell, data: &[u8]) -> Result<String> {
    let out = xshell::cmd!(sh, "sha256sum")
        .stdin(data)
        .quiet()
        .read()
        .context("hashing with sha256sum (coreutils)")?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .context("sha256sum printed nothing")
}

/// The number of online CPUs.
pub fn nproc(sh: &Shell) -> Result<String> {
    Ok(xshell::cmd!(sh, "nproc")
        .quiet()
        .read()
        .context("counting CPUs with nproc")?
        .trim()
        .to_string())
}

/// True when a string can be put into a guest shell command line as it is.
pub fn shell_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._+-=:,".contains(&b))
}
