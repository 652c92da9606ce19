// SPDX-License-Identifier: GPL-2.0-only

//! Real programs on the device, as they run on a pipe: a Python asyncio
//! event loop streaming records with `add_reader`/`add_writer`, two socat
//! processes copying a file through it, and stress-ng's device stressor.
//! A missing program is a skip that names it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mydevice_abi::{DEVICE_PATH, MYDEV_BUFFER_MAX, MYDEV_BUFFER_MIN, MYDEV_FLAG_HUNG_UP};
use mydevice_selftests::{
    diff, ensure, expect, expect_eq, pattern, record, sys, test, Context, Dev, Failure, TestResult,
    DEVICE_SUITE, T,
};

/// Records the asyncio client streams.
const ASYNCIO_RECORDS: usize = 2000;

/// The asyncio client. Arguments: the number of records and the device.
///
/// One event loop holds a non-blocking writer and a non-blocking reader of
/// the device. The writer callback writes one record (8 to 4096 bytes: a
/// sequence number, the length, a pattern) each time the loop says the
/// device is writable, and counts `EAGAIN`; the reader callback reads 1024
/// bytes at a time, so the device fills up, and checks every record in
/// order. It prints `records N`, `eagain N` and `error ...` and exits 0 when
/// every record arrived intact.
const ASYNCIO_CLIENT: &str = r#"
import asyncio, os, random, sys

N = int(sys.argv[1])
PATH = sys.argv[2]
CHUNK = 1024
TIMEOUT = 95
rng = random.Random(20261201)
sizes = [4096, 8] + [rng.randint(8, 4096) for _ in range(N - 2)]
base = bytes(range(256)) * 17

def record(i, n):
    off = (i * 7) % 256
    return i.to_bytes(4, "little") + n.to_bytes(4, "little") + base[off:off + n - 8]

records = [record(i, n) for i, n in enumerate(sizes)]
wfd = os.open(PATH, os.O_WRONLY | os.O_NONBLOCK)
rfd = os.open(PATH, os.O_RDONLY | os.O_NONBLOCK)
st = {"next": 0, "eagain": 0, "got": 0, "error": None}
buf = bytearray()
loop = asyncio.new_event_loop()

def fail(msg):
    if st["error"] is None:
        st["error"] = msg
    loop.stop()

def on_writable():
    i = st["next"]
    if i == N:
        loop.remove_writer(wfd)
        return
    try:
        n = os.write(wfd, records[i])
    except BlockingIOError:
        st["eagain"] += 1
        return
    if n != len(records[i]):
        fail(f"record {i}: a write of {len(records[i])} bytes stored {n}")
        return
    st["next"] = i + 1

def on_readable():
    global buf
    try:
        buf += os.read(rfd, CHUNK)
    except BlockingIOError:
        return
    while len(buf) >= 8:
        seq = int.from_bytes(buf[0:4], "little")
        n = int.from_bytes(buf[4:8], "little")
        if seq != st["got"] or n != sizes[seq]:
            fail(f"expected record {st['got']} of {sizes[st['got']]} bytes, got a header for {seq} of {n}")
            return
        if len(buf) < n:
            return
        if bytes(buf[:n]) != records[seq]:
            fail(f"record {seq} of {n} bytes is corrupted")
            return
        del buf[:n]
        st["got"] += 1
        if st["got"] == N:
            loop.stop()
            return

loop.add_writer(wfd, on_writable)
loop.add_reader(rfd, on_readable)
loop.call_later(TIMEOUT, fail, f"timed out after {TIMEOUT} s")
loop.run_forever()
print(f"records {st['got']}")
print(f"eagain {st['eagain']}")
print(f"error {st['error']}")
sys.exit(0 if st["error"] is None and st["got"] == N else 1)
"#;

/// The full path of `program` in `PATH`, or a skip naming it.
fn need(program: &str) -> Result<PathBuf, Failure> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| Failure::Skip(format!("{program} is not installed (not found in PATH)")))
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Result<Self, Failure> {
        let dir = std::env::temp_dir().join(format!("mydevice-{}-{name}", sys::getpid()));
        std::fs::create_dir_all(&dir).context(format!("create {}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A program started with its output going to files.
struct Proc {
    what: String,
    child: std::process::Child,
    out: PathBuf,
    err: PathBuf,
}

/// How a program ended.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The last `n` lines of stderr and stdout, for messages.
    fn tail(&self, n: usize) -> String {
        let text = format!("{}{}", self.stderr, self.stdout);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join(" | ")
    }
}

impl Proc {
    /// Starts `program` with `args`; its output goes to files in `dir`.
    fn start(dir: &Scratch, tag: &str, program: &Path, args: &[&str]) -> Result<Self, Failure> {
        let what = format!("{} {}", program.display(), args.join(" "));
        let (out, err) = (
            dir.path(&format!("{tag}.out")),
            dir.path(&format!("{tag}.err")),
        );
        let stdout = File::create(&out).context(format!("create {}", out.display()))?;
        let stderr = File::create(&err).context(format!("create {}", err.display()))?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .context(format!("start {what}"))?;
        Ok(Proc {
            what,
            child,
            out,
            err,
        })
    }

    /// Waits up to `timeout` for the program to end; kills it after that.
    fn wait(mut self, timeout: Duration) -> Result<Ran, Failure> {
        let end = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context(format!("wait {}", self.what))?
            {
                break status;
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err = std::fs::read_to_string(&self.err).unwrap_or_default();
                return Err(Failure::fail(format!(
                    "`{}` still running after {timeout:?}; killed it. stderr: {}",
                    self.what,
                    err.trim()
                )));
            }
            sys::sleep_ms(20);
        };
        Ok(Ran {
            status,
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
        })
    }
}

/// The number after `key ` on a line of `text`.
fn field(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}

// A Python asyncio loop streams 2000 records of up to 4096 bytes through the device intact, with few EAGAINs.
fn asyncio_streams_records_with_few_eagains(t: &mut T) -> TestResult {
    let python = need("python3")?;
    let dir = Scratch::new("asyncio")?;
    let n = ASYNCIO_RECORDS.to_string();
    let args = ["-c", ASYNCIO_CLIENT, n.as_str(), DEVICE_PATH];
    let started = Instant::now();
    let ran = Proc::start(&dir, "python", &python, &args)?.wait(Duration::from_secs(110))?;
    let elapsed = started.elapsed();
    let records = field(&ran.stdout, "records ");
    let eagain = field(&ran.stdout, "eagain ");
    t.diag(format!(
        "asyncio: {} of {ASYNCIO_RECORDS} records in {elapsed:.1?}, {} EAGAINs on write",
        records.map_or("?".into(), |r| r.to_string()),
        eagain.map_or("?".into(), |e| e.to_string())
    ));
    expect!(
        t,
        ran.status.success(),
        "the asyncio client ended with {}: {}",
        ran.status,
        ran.tail(5)
    );
    expect_eq!(
        t,
        records,
        Some(ASYNCIO_RECORDS),
        "records received intact and in order"
    );
    let bound = ASYNCIO_RECORDS / 4;
    match eagain {
        Some(e) => {
            expect!(
                t,
                e <= bound,
                "the writer callback got EAGAIN {e} times for {ASYNCIO_RECORDS} records (at most \
                 {bound} expected): the loop called it writable without room for a record"
            );
        }
        None => t.fail(format!("no `eagain` line from the client: {}", ran.tail(5))),
    }
    Ok(())
}

// One socat copies a 256 KiB file into the device, another reads it out until the hangup's EOF; the copy is exact.
fn socat_copies_a_file_through_the_device(t: &mut T) -> TestResult {
    let socat = need("socat")?;
    let dir = Scratch::new("socat")?;
    let data = pattern(700, 256 * 1024);
    let (input, output) = (dir.path("in"), dir.path("out"));
    std::fs::write(&input, &data).context(format!("write {}", input.display()))?;
    let dev = Dev::rw_nonblock().context("open")?;
    let from_device = format!("OPEN:{DEVICE_PATH},rdonly");
    let to_file = format!("CREATE:{}", output.display());
    let reader = Proc::start(&dir, "reader", &socat, &["-u", &from_device, &to_file])?;
    let from_file = format!("OPEN:{},rdonly", input.display());
    let to_device = format!("OPEN:{DEVICE_PATH},wronly");
    let writer = Proc::start(&dir, "writer", &socat, &["-u", &from_file, &to_device])?;
    let w = writer.wait(Duration::from_secs(50));
    // The hangup gives the reader its EOF once it has drained the device,
    // as a pipe's reader sees EOF after the writer closed.
    dev.hangup().context("MYDEV_HANGUP")?;
    let r = reader.wait(Duration::from_secs(20))?;
    let w = w?;
    expect!(
        t,
        w.status.success(),
        "socat writing to the device ended with {}: {}",
        w.status,
        w.tail(5)
    );
    expect!(
        t,
        r.status.success(),
        "socat reading from the device ended with {}: {}",
        r.status,
        r.tail(5)
    );
    let got = std::fs::read(&output).context(format!("read {}", output.display()))?;
    expect!(
        t,
        got == data,
        "the file copied through the device: {}",
        diff(&got, &data)
    );
    Ok(())
}

// stress-ng --dev on the device exits 0, and the device works afterwards.
fn stress_ng_dev_stressor_leaves_the_device_working(t: &mut T) -> TestResult {
    let stress = need("stress-ng")?;
    let dir = Scratch::new("stress-ng")?;
    let help = Proc::start(&dir, "help", &stress, &["--help"])?.wait(Duration::from_secs(20))?;
    if !help.stdout.contains("--dev-file") && !help.stderr.contains("--dev-file") {
        return Err(Failure::Skip(format!(
            "{} has no --dev-file option",
            stress.display()
        )));
    }
    let args = [
        "--dev",
        "2",
        "--dev-file",
        DEVICE_PATH,
        "--timeout",
        "10s",
        "--metrics-brief",
    ];
    let ran = Proc::start(&dir, "stress", &stress, &args)?.wait(Duration::from_secs(60))?;
    let summary = format!("{}{}", ran.stderr, ran.stdout)
        .lines()
        .find(|l| l.contains("run completed"))
        .map_or_else(|| ran.tail(1), str::to_string);
    t.diag(summary.trim());
    expect!(
        t,
        ran.status.success(),
        "stress-ng --dev 2 --dev-file {DEVICE_PATH} ended with {}: {}",
        ran.status,
        ran.tail(8)
    );

    let dev = Dev::rw_nonblock().context("open after stress-ng")?;
    let st = dev.status().context("MYDEV_STATUS")?;
    expect_eq!(t, st.open_count, 1, "open_count after stress-ng ended");
    expect!(
        t,
        (MYDEV_BUFFER_MIN..=MYDEV_BUFFER_MAX).contains(&st.buffer_size)
            && st.bytes_used <= st.buffer_size,
        "MYDEV_STATUS after stress-ng: {} of {} bytes used",
        st.bytes_used,
        st.buffer_size
    );
    let stats = dev.stats().context("MYDEV_STATS")?;
    expect_eq!(
        t,
        stats.flags & MYDEV_FLAG_HUNG_UP,
        0,
        "hung-up flag after stress-ng ended"
    );
    dev.clear().context("MYDEV_CLEAR")?;
    let rec = record::record(7, 1);
    dev.write_all(&rec)?;
    let back = dev.read(4096).context("read the record")?;
    expect!(
        t,
        back == rec,
        "a record after stress-ng: {}",
        diff(&back, &rec)
    );
    ensure!(
        dev.fionread() == Ok(0),
        "FIONREAD after reading the record back: {:?}",
        dev.fionread()
    );
    Ok(())
}

fn main() {
    mydevice_selftests::run(
        &DEVICE_SUITE,
        &[
            test!(asyncio_streams_records_with_few_eagains, 120),
            test!(socat_copies_a_file_through_the_device, 80),
            test!(stress_ng_dev_stressor_leaves_the_device_working, 90),
        ],
    )
}
