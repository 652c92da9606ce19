// SPDX-License-Identifier: GPL-2.0-only

//! What `/proc/<pid>` says about a task: its state, CPU time and context switches.

use crate::failure::{Context, Failure};

/// The fields of `/proc/<pid>/stat` after the command name, which may hold spaces.
fn stat_fields(pid: i32) -> Result<Vec<String>, Failure> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context(format!("read /proc/{pid}/stat"))?;
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| Failure::fail(format!("/proc/{pid}/stat has no ')': {text:?}")))?;
    Ok(rest.split_whitespace().map(str::to_string).collect())
}

/// The state letter of the task (field 3 of `/proc/<pid>/stat`), such as `S`.
pub fn state(pid: i32) -> Result<char, Failure> {
    let f = stat_fields(pid)?;
    f.first()
        .and_then(|s| s.chars().next())
        .ok_or_else(|| Failure::fail(format!("/proc/{pid}/stat: no state field")))
}

/// Where the task is, for a failure message: its state, its wait channel
/// and, for root, its kernel stack (`/proc/<pid>/stack`), on one line.
pub fn describe(pid: i32) -> String {
    let state = state(pid).map_or_else(|_| "?".to_string(), |c| c.to_string());
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    let stack = std::fs::read_to_string(format!("/proc/{pid}/stack"))
        .map(|s| {
            s.lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .collect::<Vec<_>>()
                .join(" < ")
        })
        .unwrap_or_default();
    format!("state {state}, wchan {wchan:?}, stack [{stack}]")
}

/// `utime + stime` of the task, in clock ticks (fields 14 and 15).
pub fn cpu_ticks(pid: i32) -> Result<u64, Failure> {
    let f = stat_fields(pid)?;
    // Field 3 is index 0 here, so fields 14 and 15 are indices 11 and 12.
    let get = |i: usize| -> Result<u64, Failure> {
        f.get(i)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Failure::fail(format!("/proc/{pid}/stat: bad field {}", i + 3)))
    };
    Ok(get(11)? + get(12)?)
}

/// `(voluntary_ctxt_switches, nonvoluntary_ctxt_switches)` from `/proc/<pid>/status`.
pub fn ctxt_switches(pid: i32) -> Result<(u64, u64), Failure> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context(format!("read /proc/{pid}/status"))?;
    let field = |key: &str| -> Result<u64, Failure> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim_start_matches(':').trim().parse().ok())
            .ok_or_else(|| Failure::fail(format!("/proc/{pid}/status: no {key}")))
    };
    Ok((
        field("voluntary_ctxt_switches")?,
        field("nonvoluntary_ctxt_switches")?,
    ))
}

/// Clock ticks per second.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf() takes no pointers.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}
