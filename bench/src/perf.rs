// SPDX-License-Identifier: GPL-2.0-only

//! Switching a `perf record --control` session on and off around runs.
//!
//! `perf record -D -1 --control fifo:CTL,ACK` starts with its events off
//! and takes `enable` and `disable` on the `CTL` FIFO, answering each with
//! `ack` on `ACK`. With one such session per side, each records only the
//! runs of its side while the two sides still alternate run by run.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// How long perf may take to answer a command. It answers at once unless it
/// is gone, which would otherwise leave the benchmark waiting for ever.
const ANSWER_TIMEOUT_MS: i32 = 60_000;

/// One `perf record` session's control FIFOs.
pub struct Recorder {
    name: String,
    ctl: File,
    ack: File,
}

impl Recorder {
    /// Opens `DIR/NAME.ctl` and `DIR/NAME.ack`. Blocks until `perf` (or
    /// whoever else) holds the other ends open.
    ///
    /// # Errors
    ///
    /// Fails when either FIFO cannot be opened.
    pub fn open(dir: &Path, name: &str) -> io::Result<Self> {
        let open = |suffix: &str, write: bool| {
            let path = dir.join(format!("{name}.{suffix}"));
            File::options()
                .read(!write)
                .write(write)
                .open(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))
        };
        Ok(Self {
            name: name.to_string(),
            ctl: open("ctl", true)?,
            ack: open("ack", false)?,
        })
    }

    /// Turns the session's events on and waits for perf's answer.
    ///
    /// # Errors
    ///
    /// Fails when the FIFOs fail or perf answers something else than `ack`.
    pub fn enable(&self) -> io::Result<()> {
        self.command("enable")
    }

    /// Turns the session's events off and waits for perf's answer.
    ///
    /// # Errors
    ///
    /// As for [`Recorder::enable`].
    pub fn disable(&self) -> io::Result<()> {
        self.command("disable")
    }

    fn command(&self, cmd: &str) -> io::Result<()> {
        (&self.ctl).write_all(format!("{cmd}\n").as_bytes())?;
        let answer = read_line(&self.ack)?;
        if answer != "ack" {
            return Err(io::Error::other(format!(
                "perf session {}: `{cmd}` answered with `{answer}`, not `ack`",
                self.name
            )));
        }
        Ok(())
    }
}

/// Reads one line, without its newline, a byte at a time so that nothing
/// after it is consumed; fails when no byte comes for
/// [`ANSWER_TIMEOUT_MS`]. NUL bytes are skipped: perf sends its `ack\n`
/// with the string's terminator.
fn read_line(mut file: &File) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid `pollfd`, for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, ANSWER_TIMEOUT_MS) } {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the perf session did not answer within {} s",
                        ANSWER_TIMEOUT_MS / 1000
                    ),
                ))
            }
            n if n < 0 => {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            _ => {}
        }
        if file.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the perf session closed its answer FIFO",
            ));
        }
        match byte[0] {
            b'\n' => return Ok(String::from_utf8_lossy(&line).into_owned()),
            0 => {}
            b => line.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::io::{BufRead, BufReader};
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;
    use std::thread;

    fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(
            rc,
            0,
            "mkfifo {}: {}",
            path.display(),
            io::Error::last_os_error()
        );
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Plays perf: answers `ack` to `enable` and `disable`, `?` otherwise,
    /// each with a NUL after it as perf sends it, and returns the commands
    /// it saw once the control FIFO closes.
    fn fake_perf(dir: PathBuf) -> thread::JoinHandle<Vec<String>> {
        thread::spawn(move || {
            let ctl = File::open(dir.join("s.ctl")).unwrap();
            let mut ack = File::options().write(true).open(dir.join("s.ack")).unwrap();
            let mut seen = Vec::new();
            for line in BufReader::new(ctl).lines() {
                let line = line.unwrap();
                let answer = if line == "enable" || line == "disable" {
                    "ack"
                } else {
                    "?"
                };
                ack.write_all(format!("{answer}\n\0").as_bytes()).unwrap();
                seen.push(line);
            }
            seen
        })
    }

    #[test]
    fn commands_are_sent_and_acknowledged() {
        let dir = scratch_dir("mydevice-bench-perf");
        mkfifo(&dir.join("s.ctl"));
        mkfifo(&dir.join("s.ack"));
        let perf = fake_perf(dir.clone());
        let rec = Recorder::open(&dir, "s").unwrap();
        rec.enable().unwrap();
        rec.disable().unwrap();
        let err = rec.command("stop").unwrap_err();
        assert!(err.to_string().contains("`?`"), "got {err}");
        drop(rec);
        assert_eq!(perf.join().unwrap(), ["enable", "disable", "stop"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_fifo_is_an_error() {
        let dir = scratch_dir("mydevice-bench-perf-missing");
        let err = Recorder::open(&dir, "none").err().unwrap();
        assert!(err.to_string().contains("none.ctl"), "got {err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
