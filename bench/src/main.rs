// SPDX-License-Identifier: GPL-2.0-only

//! `mydevice-bench`: benchmarks of `/dev/mydevice` against the kernel pipe.
//!
//! Runs as root in the test VM with the module loaded. Every workload runs
//! on the device and on a pipe of the same capacity, interleaved (device,
//! pipe, device, pipe, ...) for `--reps` repetitions, and is reported as the
//! median with its range and the device/pipe ratio. `--json` writes the raw
//! samples. The device is left as the selftests expect it: capacity 4096,
//! empty.

mod workloads;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mydevice_abi::sys::Device;
use mydevice_abi::MYDEV_BUFFER_DEFAULT;
use mydevice_bench::json::Json;
use mydevice_bench::perf::Recorder;
use mydevice_bench::stats::{self, Summary};
use mydevice_bench::sys;
use mydevice_bench::table::{Align, Table};
use workloads::{Chan, Kind, Limits};

const USAGE: &str = "\
usage: mydevice-bench [options]

Benchmarks /dev/mydevice against a pipe of the same capacity. Run as root
with the module loaded; the device is left at capacity 4096, empty.

options:
  --reps N           repetitions of each device/pipe pair (default 5)
  --scale F          multiply every run's work by F (default 1, or 16 with
                     --vm-mode kvm: the sizes are tuned for TCG)
  --smoke            a tiny run of everything, in seconds (reps 2, scale 1/256)
  --only LIST        comma-separated workloads: stream,io_uring,splice,
                     latency,wakeups,contended,roundtrip,control,idle
                     (default all)
  --row KEY          only the row(s) of KEY, e.g. stream-4k (see --list-rows)
  --side SIDE        device or pipe: run that side only (default both)
  --list-rows        print the row keys, one a line, and exit
  --perf-ctl DIR     switch two `perf record -D -1 --control` sessions, one
                     per side, on around each run of that side: through
                     DIR/device.ctl, DIR/device.ack, DIR/pipe.ctl, DIR/pipe.ack
  --json PATH        write the raw samples and the environment as JSON
  --vm-mode MODE     kvm or tcg, recorded in the JSON (default unknown)
  --idle-secs S      how long the idle readers sleep (default 2)
  --timeout SECS     per-run time limit before children are killed (default 120)
  -h, --help         this text
";

const WORKLOADS: [&str; 9] = [
    "stream",
    "io_uring",
    "splice",
    "latency",
    "wakeups",
    "contended",
    "roundtrip",
    "control",
    "idle",
];
/// The sizes of the round-trip rows: the small writes of the stream rows.
const ROUNDTRIP_SIZES: [usize; 2] = [64, 256];
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// The capacity of a stream row whose key does not name one.
const STREAM_CAP: usize = 64 * KIB;
/// The stream rows: capacity, write and read size, and bytes per run at
/// scale 1, sized so that a full run fits in a few minutes under TCG. The
/// small writes are bound by syscalls, so they move less data in a similar
/// time.
const STREAM_SHAPES: [(usize, usize, usize); 8] = [
    (STREAM_CAP, 64, MIB),
    (STREAM_CAP, 256, 4 * MIB),
    (STREAM_CAP, KIB, 8 * MIB),
    (STREAM_CAP, 4 * KIB, 16 * MIB),
    (STREAM_CAP, 64 * KIB, 32 * MIB),
    (MIB, 64, MIB),
    (MIB, 4 * KIB, 16 * MIB),
    (MIB, 64 * KIB, 32 * MIB),
];

/// What the command line asks for.
enum Action {
    Run(Config),
    Help,
    ListRows,
}

/// The command line.
struct Config {
    reps: usize,
    scale: f64,
    smoke: bool,
    only: Vec<String>,
    /// `--row`: only the row(s) with this key.
    row: Option<String>,
    /// `--side`: only this side of each pair.
    side: Option<Kind>,
    /// `--perf-ctl`: where the perf sessions' control FIFOs are.
    perf_ctl: Option<PathBuf>,
    json: Option<PathBuf>,
    vm_mode: String,
    idle_secs: f64,
    timeout_secs: u32,
}

impl Config {
    fn parse(args: &[String]) -> Result<Action, String> {
        let mut cfg = Config {
            reps: 5,
            scale: 1.0,
            smoke: false,
            only: WORKLOADS.iter().map(|s| s.to_string()).collect(),
            row: None,
            side: None,
            perf_ctl: None,
            json: None,
            vm_mode: "unknown".to_string(),
            idle_secs: 2.0,
            timeout_secs: 120,
        };
        let (mut reps, mut scale, mut idle) = (None, None, None);
        let mut only_given = false;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                "-h" | "--help" => return Ok(Action::Help),
                "--list-rows" => return Ok(Action::ListRows),
                "--smoke" => cfg.smoke = true,
                "--reps" => reps = Some(parse_num::<usize>("--reps", &value("--reps")?)?),
                "--scale" => scale = Some(parse_num::<f64>("--scale", &value("--scale")?)?),
                "--idle-secs" => {
                    idle = Some(parse_num::<f64>("--idle-secs", &value("--idle-secs")?)?)
                }
                "--timeout" => cfg.timeout_secs = parse_num("--timeout", &value("--timeout")?)?,
                "--json" => cfg.json = Some(PathBuf::from(value("--json")?)),
                "--perf-ctl" => cfg.perf_ctl = Some(PathBuf::from(value("--perf-ctl")?)),
                "--vm-mode" => {
                    let mode = value("--vm-mode")?;
                    if !matches!(mode.as_str(), "kvm" | "tcg" | "unknown") {
                        return Err(format!("--vm-mode must be kvm or tcg, not `{mode}`"));
                    }
                    cfg.vm_mode = mode;
                }
                "--only" => {
                    only_given = true;
                    let list = value("--only")?;
                    cfg.only = list.split(',').map(str::to_string).collect();
                    if let Some(bad) = cfg.only.iter().find(|w| !WORKLOADS.contains(&w.as_str())) {
                        return Err(format!("unknown workload `{bad}` in --only"));
                    }
                }
                "--row" => {
                    let key = value("--row")?;
                    if !row_keys().contains(&key) {
                        return Err(format!(
                            "unknown row `{key}` in --row; the rows are {}",
                            row_keys().join(",")
                        ));
                    }
                    cfg.row = Some(key);
                }
                "--side" => {
                    cfg.side = match value("--side")?.as_str() {
                        "device" => Some(Kind::Device),
                        "pipe" => Some(Kind::Pipe),
                        other => {
                            return Err(format!("--side must be device or pipe, not `{other}`"))
                        }
                    }
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if let Some(key) = &cfg.row {
            if only_given {
                return Err("--row and --only exclude each other".into());
            }
            cfg.only = vec![row_workload(key).to_string()];
        }
        if cfg.smoke {
            cfg.reps = 2;
            cfg.scale = 1.0 / 256.0;
            cfg.idle_secs = 0.2;
        }
        cfg.reps = reps.unwrap_or(cfg.reps);
        // The default sizes fit a full run in a few minutes under TCG; with
        // KVM they would be over in milliseconds.
        let default_scale = if cfg.vm_mode == "kvm" && !cfg.smoke {
            16.0
        } else {
            cfg.scale
        };
        cfg.scale = scale.unwrap_or(default_scale);
        cfg.idle_secs = idle.unwrap_or(cfg.idle_secs);
        if cfg.reps == 0
            || cfg.scale.is_nan()
            || cfg.scale <= 0.0
            || cfg.idle_secs.is_nan()
            || cfg.idle_secs < 0.0
        {
            return Err("--reps and --scale must be positive, --idle-secs not negative".into());
        }
        Ok(Action::Run(cfg))
    }

    fn runs(&self, workload: &str) -> bool {
        self.only.iter().any(|w| w == workload)
    }

    /// Whether the row(s) of `key` run: all do unless `--row` names one.
    fn wants(&self, key: &str) -> bool {
        self.row.as_ref().is_none_or(|row| row == key)
    }

    /// The sides each pair runs, in order.
    fn sides(&self) -> &'static [Kind] {
        match self.side {
            None => &[Kind::Device, Kind::Pipe],
            Some(Kind::Device) => &[Kind::Device],
            Some(Kind::Pipe) => &[Kind::Pipe],
        }
    }

    /// `base` scaled, at least `min`.
    fn scaled(&self, base: usize, min: usize) -> usize {
        ((base as f64 * self.scale) as usize).max(min)
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{name}: `{s}` is not a valid number"))
}

/// Which way a figure is better.
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
    /// The target is 0; both sides must stay there.
    Zero,
}

impl Better {
    fn word(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
            Better::Zero => "0",
        }
    }
}

/// One side of a row: the per-run figures and anything raw beside them.
#[derive(Default)]
struct Side {
    capacity: usize,
    values: Vec<f64>,
    raw: Vec<Json>,
}

/// One row of the report.
struct Row {
    workload: &'static str,
    /// What `--row` selects it by; rows measured by one run share a key.
    key: String,
    name: String,
    unit: &'static str,
    better: Better,
    params: Vec<(&'static str, Json)>,
    device: Side,
    pipe: Side,
}

impl Row {
    fn new(
        workload: &'static str,
        key: &str,
        name: String,
        unit: &'static str,
        better: Better,
    ) -> Self {
        Self {
            workload,
            key: key.to_string(),
            name,
            unit,
            better,
            params: Vec::new(),
            device: Side::default(),
            pipe: Side::default(),
        }
    }

    fn side(&mut self, kind: Kind) -> &mut Side {
        match kind {
            Kind::Device => &mut self.device,
            Kind::Pipe => &mut self.pipe,
        }
    }

    fn json(&self) -> Json {
        let side = |s: &Side| {
            let sum = Summary::of(&s.values);
            Json::obj([
                ("capacity", Json::from(s.capacity)),
                ("median", Json::Num(sum.median)),
                ("min", Json::Num(sum.min)),
                ("q1", Json::Num(sum.q1)),
                ("q3", Json::Num(sum.q3)),
                ("max", Json::Num(sum.max)),
                ("runs", Json::nums(&s.values)),
                ("raw", Json::Arr(s.raw.clone())),
            ])
        };
        let d = stats::median(&self.device.values);
        let p = stats::median(&self.pipe.values);
        Json::obj([
            ("workload", Json::from(self.workload)),
            ("key", Json::from(self.key.as_str())),
            ("name", Json::from(self.name.as_str())),
            ("unit", Json::from(self.unit)),
            ("better", Json::from(self.better.word())),
            (
                "params",
                Json::Obj(
                    self.params
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                ),
            ),
            ("device", side(&self.device)),
            ("pipe", side(&self.pipe)),
            ("ratio", stats::ratio(d, p).map_or(Json::Null, Json::Num)),
            (
                "pair_ratios",
                Json::nums(&stats::pair_ratios(&self.device.values, &self.pipe.values)),
            ),
        ])
    }
}

/// What every run needs besides its own parameters.
struct Env<'a> {
    cfg: &'a Config,
    /// The device's control file.
    ctl: &'a Device,
    /// With `--perf-ctl`: the device's and the pipe's perf sessions.
    perf: Option<[Recorder; 2]>,
}

impl Env<'_> {
    /// The perf session of `kind`'s runs, if there are sessions.
    fn recorder(&self, kind: Kind) -> Option<&Recorder> {
        let [device, pipe] = self.perf.as_ref()?;
        Some(match kind {
            Kind::Device => device,
            Kind::Pipe => pipe,
        })
    }
}

/// Runs `run` for the device and the pipe, interleaved, `reps` times, if
/// the row(s) of `key` are wanted; `--side` leaves out one of the two.
/// With `--perf-ctl`, each run is recorded by its side's perf session.
fn interleave(
    env: &Env<'_>,
    key: &str,
    capacity: usize,
    label: &str,
    mut run: impl FnMut(Kind, &Chan) -> io::Result<()>,
) -> io::Result<()> {
    let (cfg, ctl) = (env.cfg, env.ctl);
    if !cfg.wants(key) {
        return Ok(());
    }
    eprint!("  {label} ");
    let start = Instant::now();
    for _ in 0..cfg.reps {
        for &kind in cfg.sides() {
            let chan = Chan::open(kind, ctl, capacity)?;
            let recorder = env.recorder(kind);
            if let Some(r) = recorder {
                r.enable()?;
            }
            run(kind, &chan)
                .map_err(|e| io::Error::new(e.kind(), format!("{label}, {}: {e}", kind.name())))?;
            if let Some(r) = recorder {
                r.disable()?;
            }
            drop(chan);
            ctl.clear()?;
            eprint!(".");
        }
    }
    eprintln!(" {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// A size in a row key: `64`, `4k`, `1m`.
fn size_key(n: usize) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{}m", n / MIB)
    } else if n >= KIB && n % KIB == 0 {
        format!("{}k", n / KIB)
    } else {
        n.to_string()
    }
}

/// The key of a stream row: `stream-4k` at the usual capacity,
/// `stream-4k-1m` at another.
fn stream_key(wsize: usize, cap: usize) -> String {
    if cap == STREAM_CAP {
        format!("stream-{}", size_key(wsize))
    } else {
        format!("stream-{}-{}", size_key(wsize), size_key(cap))
    }
}

/// Every row key in the order of the table. A workload other than stream
/// is one run, whose key is its name.
fn row_keys() -> Vec<String> {
    let stream = STREAM_SHAPES
        .iter()
        .map(|&(cap, wsize, _)| stream_key(wsize, cap));
    stream
        .chain(WORKLOADS[1..].iter().map(|w| w.to_string()))
        .collect()
}

/// The workload a row key belongs to.
fn row_workload(key: &str) -> &'static str {
    if key.starts_with("stream-") {
        return WORKLOADS[0];
    }
    WORKLOADS.iter().find(|&&w| w == key).copied().unwrap_or("")
}

fn size_name(n: usize) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n % KIB == 0 {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} B")
    }
}

fn run_all(env: &Env<'_>) -> io::Result<Vec<Row>> {
    let cfg = env.cfg;
    let lim = Limits {
        timeout_secs: cfg.timeout_secs,
    };
    let small = MYDEV_BUFFER_DEFAULT as usize;
    let mut rows = Vec::new();

    if cfg.runs("stream") {
        eprintln!("stream: 1 writer -> 1 reader");
        for (cap, wsize, base) in STREAM_SHAPES {
            let total = cfg.scaled(base, 16 * wsize) / wsize * wsize;
            let mut row = Row::new(
                "stream",
                &stream_key(wsize, cap),
                format!("{} writes, {} cap", size_name(wsize), size_name(cap)),
                "MiB/s",
                Better::Higher,
            );
            row.params = vec![
                ("write_size", wsize.into()),
                ("read_size", wsize.into()),
                ("capacity", cap.into()),
                ("total_bytes", total.into()),
            ];
            let (key, label) = (row.key.clone(), row.name.clone());
            interleave(env, &key, cap, &label, |kind, chan| {
                let v = workloads::stream(chan, lim, wsize, total)?;
                let side = row.side(kind);
                side.capacity = chan.capacity;
                side.values.push(v);
                Ok(())
            })?;
            rows.push(row);
        }
    }

    if cfg.runs("io_uring") {
        eprintln!(
            "io_uring: 1 writer -> 1 reader, {} requests in flight each",
            workloads::URING_DEPTH
        );
        let (wsize, cap) = (4 * KIB, 64 * KIB);
        let total = cfg.scaled(16 * MIB, 16 * wsize) / wsize * wsize;
        let mut row = Row::new(
            "io_uring",
            "io_uring",
            format!(
                "{} requests, depth {}, {} cap",
                size_name(wsize),
                workloads::URING_DEPTH,
                size_name(cap)
            ),
            "MiB/s",
            Better::Higher,
        );
        row.params = vec![
            ("write_size", wsize.into()),
            ("read_size", wsize.into()),
            ("queue_depth", workloads::URING_DEPTH.into()),
            ("capacity", cap.into()),
            ("total_bytes", total.into()),
        ];
        interleave(env, "io_uring", cap, &row.name.clone(), |kind, chan| {
            let v = workloads::uring_stream(chan, lim, wsize, total)?;
            let side = row.side(kind);
            side.capacity = chan.capacity;
            side.values.push(v);
            Ok(())
        })?;
        rows.push(row);
    }

    if cfg.runs("splice") {
        eprintln!("splice: pipe -> FIFO -> pipe, 1 writer -> 1 reader");
        let (chunk, cap) = (64 * KIB, 64 * KIB);
        let total = cfg.scaled(32 * MIB, 16 * chunk) / chunk * chunk;
        let mut row = Row::new(
            "splice",
            "splice",
            format!("{} splices, {} cap", size_name(chunk), size_name(cap)),
            "MiB/s",
            Better::Higher,
        );
        row.params = vec![
            ("splice_size", chunk.into()),
            ("capacity", cap.into()),
            ("total_bytes", total.into()),
        ];
        interleave(env, "splice", cap, &row.name.clone(), |kind, chan| {
            let side = row.side(kind);
            side.capacity = chan.capacity;
            side.values
                .push(workloads::splice_stream(chan, lim, chunk, total)?);
            Ok(())
        })?;
        rows.push(row);
    }

    if cfg.runs("latency") {
        eprintln!("latency: write -> blocked reader's read returns");
        let samples = cfg.scaled(1000, 20);
        let gap = Duration::from_micros(500);
        let row = |name: &str| Row::new("latency", "latency", name.into(), "us", Better::Lower);
        let (mut p50, mut p99) = (row("wake latency p50"), row("wake latency p99"));
        let params = vec![
            ("samples", samples.into()),
            ("gap_us", Json::from(gap.as_micros() as u64)),
            ("message_bytes", 16_u64.into()),
            ("capacity", small.into()),
        ];
        p50.params = params.clone();
        p99.params = params;
        p99.params.push(("raw", "in the p50 row".into()));
        interleave(env, "latency", small, "16 B messages", |kind, chan| {
            let ns = workloads::latency(chan, lim, samples, gap)?;
            let sorted = stats::sorted(&ns);
            let s50 = p50.side(kind);
            s50.capacity = chan.capacity;
            s50.values
                .push(stats::percentile_sorted(&sorted, 50.0) / 1e3);
            s50.raw.push(Json::nums(&ns));
            let s99 = p99.side(kind);
            s99.capacity = chan.capacity;
            s99.values
                .push(stats::percentile_sorted(&sorted, 99.0) / 1e3);
            Ok(())
        })?;
        rows.push(p50);
        rows.push(p99);
    }

    if cfg.runs("wakeups") {
        eprintln!("wakeups: 8 readers asleep, 1-byte writes");
        let bytes = cfg.scaled(100, 10);
        let mut row = Row::new(
            "wakeups",
            "wakeups",
            "ctx switches per byte, 8 readers".into(),
            "switches",
            Better::Lower,
        );
        row.params = vec![
            ("readers", 8_u64.into()),
            ("bytes", bytes.into()),
            ("capacity", small.into()),
        ];
        interleave(env, "wakeups", small, "1 B writes", |kind, chan| {
            let w = workloads::wakeups(chan, lim, 8, bytes)?;
            let side = row.side(kind);
            side.capacity = chan.capacity;
            side.values.push(w.per_byte);
            side.raw.push(workloads::wakeups_json(&w));
            Ok(())
        })?;
        rows.push(row);
    }

    if cfg.runs("contended") {
        eprintln!("contended: 4 writers, 4 readers, atomic records");
        let rec = 512;
        let cap = 64 * KIB;
        let records = cfg.scaled(2048, 16);
        let mut row = Row::new(
            "contended",
            "contended",
            format!("4x4, {} records, {} cap", size_name(rec), size_name(cap)),
            "MiB/s",
            Better::Higher,
        );
        row.params = vec![
            ("writers", 4_u64.into()),
            ("readers", 4_u64.into()),
            ("record_bytes", rec.into()),
            ("records_per_writer", records.into()),
            ("capacity", cap.into()),
        ];
        interleave(env, "contended", cap, &row.name.clone(), |kind, chan| {
            let v = workloads::contended(chan, lim, 4, 4, rec, records)?;
            let side = row.side(kind);
            side.capacity = chan.capacity;
            side.values.push(v);
            Ok(())
        })?;
        rows.push(row);
    }

    if cfg.runs("roundtrip") {
        eprintln!("roundtrip: one task writes and reads back");
        let cap = 64 * KIB;
        let calls = cfg.scaled(20_000, 1000);
        let mut sized: Vec<Row> = ROUNDTRIP_SIZES
            .iter()
            .map(|&size| {
                let mut row = Row::new(
                    "roundtrip",
                    "roundtrip",
                    format!("{} write + read, {} cap", size_name(size), size_name(cap)),
                    "ns/pair",
                    Better::Lower,
                );
                row.params = vec![
                    ("bytes", size.into()),
                    ("pairs", calls.into()),
                    ("capacity", cap.into()),
                ];
                row
            })
            .collect();
        interleave(env, "roundtrip", cap, "round trips", |kind, chan| {
            for (row, &size) in sized.iter_mut().zip(ROUNDTRIP_SIZES.iter()) {
                let v = workloads::roundtrip(chan, size, calls)?;
                let side = row.side(kind);
                side.capacity = chan.capacity;
                side.values.push(v);
            }
            Ok(())
        })?;
        rows.append(&mut sized);
    }

    if cfg.runs("control") {
        eprintln!("control: ioctl cost");
        let calls = cfg.scaled(20_000, 1000);
        let mut status = Row::new(
            "control",
            "control",
            "STATUS (device) vs FIONREAD (pipe)".into(),
            "ns/call",
            Better::Lower,
        );
        let mut fionread = Row::new(
            "control",
            "control",
            "FIONREAD (device) vs FIONREAD (pipe)".into(),
            "ns/call",
            Better::Lower,
        );
        status.params = vec![("calls", calls.into())];
        fionread.params = vec![("calls", calls.into())];
        interleave(env, "control", small, "ioctls", |kind, chan| {
            let fd = chan.rd();
            match kind {
                Kind::Device => {
                    let s = workloads::control(calls, || workloads::status_call(fd))?;
                    let f = workloads::control(calls, || workloads::fionread_call(fd))?;
                    status.device.values.push(s);
                    status.device.capacity = chan.capacity;
                    fionread.device.values.push(f);
                    fionread.device.capacity = chan.capacity;
                }
                Kind::Pipe => {
                    let f = workloads::control(calls, || workloads::fionread_call(fd))?;
                    status.pipe.values.push(f);
                    status.pipe.capacity = chan.capacity;
                    fionread.pipe.values.push(f);
                    fionread.pipe.capacity = chan.capacity;
                }
            }
            Ok(())
        })?;
        rows.push(status);
        rows.push(fionread);
    }

    if cfg.runs("idle") {
        eprintln!("idle: 8 readers asleep for {} s", cfg.idle_secs);
        let mut ticks = Row::new(
            "idle",
            "idle",
            "CPU ticks, 8 readers asleep".into(),
            "ticks",
            Better::Zero,
        );
        let mut ctx = Row::new(
            "idle",
            "idle",
            "ctx switches, 8 readers asleep".into(),
            "switches",
            Better::Zero,
        );
        let params = vec![
            ("readers", 8_u64.into()),
            ("seconds", Json::Num(cfg.idle_secs)),
        ];
        ticks.params = params.clone();
        ctx.params = params;
        interleave(env, "idle", small, "idle", |kind, chan| {
            let r = workloads::idle(chan, lim, 8, cfg.idle_secs)?;
            let t = ticks.side(kind);
            t.capacity = chan.capacity;
            t.values.push(r.ticks as f64);
            let c = ctx.side(kind);
            c.capacity = chan.capacity;
            c.values.push(r.ctx_switches as f64);
            Ok(())
        })?;
        rows.push(ticks);
        rows.push(ctx);
    }
    // Rows that `--row` left out have no runs.
    rows.retain(|r| !r.device.values.is_empty() || !r.pipe.values.is_empty());
    Ok(rows)
}

fn render(rows: &[Row]) -> String {
    let mut t = Table::new(&[
        ("workload", Align::Left),
        ("unit", Align::Left),
        ("device median [min, max]", Align::Right),
        ("pipe median [min, max]", Align::Right),
        ("dev/pipe", Align::Right),
        ("pairs", Align::Right),
        ("better", Align::Left),
    ]);
    let mut last = "";
    for row in rows {
        if row.workload != last {
            t.section(section_title(row.workload));
            last = row.workload;
        }
        let d = Summary::of(&row.device.values);
        let p = Summary::of(&row.pipe.values);
        t.row(vec![
            format!("  {}", row.name),
            row.unit.to_string(),
            d.display(),
            p.display(),
            stats::format_ratio(d.median, p.median),
            pairs_cell(row),
            row.better.word().to_string(),
        ]);
    }
    t.render()
}

/// The median and range of the per-pair ratios, e.g. `0.97x [0.90, 1.10]`.
fn pairs_cell(row: &Row) -> String {
    let r = Summary::of(&stats::pair_ratios(&row.device.values, &row.pipe.values));
    match r.n {
        0 => "n/a".to_string(),
        1 => format!("{:.2}x", r.median),
        _ => format!("{:.2}x [{:.2}, {:.2}]", r.median, r.min, r.max),
    }
}

fn section_title(workload: &str) -> &'static str {
    match workload {
        "stream" => "streaming throughput, 1 writer -> 1 reader (ratio > 1: device faster)",
        "io_uring" => "io_uring streaming, 1 writer -> 1 reader (ratio > 1: device faster)",
        "splice" => "splice streaming, pipe -> FIFO -> pipe (ratio > 1: device faster)",
        "latency" => "wake latency, write -> read returns (ratio < 1: device faster)",
        "wakeups" => "wakeups per event, readers' context switches (ratio < 1: device better)",
        "contended" => "contended throughput, 4 writers, 4 readers (ratio > 1: device faster)",
        "roundtrip" => "per-call cost, no other task (ratio < 1: device cheaper)",
        "control" => "control path (ratio < 1: device cheaper)",
        _ => "idle cost over the sleep (both must be 0)",
    }
}

fn to_json(cfg: &Config, rows: &[Row], pipe_max: Option<usize>) -> Json {
    let (release, version, machine) = sys::uname();
    Json::obj([
        ("format", Json::from("mydevice-bench/1")),
        (
            "kernel",
            Json::obj([
                ("release", Json::from(release)),
                ("version", Json::from(version)),
                ("machine", Json::from(machine)),
            ]),
        ),
        ("vm_mode", Json::from(cfg.vm_mode.as_str())),
        ("cpus", Json::from(online_cpus())),
        ("reps", Json::from(cfg.reps)),
        ("scale", Json::Num(cfg.scale)),
        ("smoke", Json::Bool(cfg.smoke)),
        ("side", Json::from(cfg.side.map_or("both", |k| k.name()))),
        ("order", Json::from("device, pipe, device, pipe, ...")),
        ("pipe_max_size", pipe_max.map_or(Json::Null, Json::from)),
        ("results", Json::Arr(rows.iter().map(Row::json).collect())),
    ])
}

fn online_cpus() -> usize {
    // SAFETY: `sysconf` has no memory-safety requirement.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(0)
}

/// Restores the device to capacity 4096 and empty, also on early exits.
struct Restore<'a>(&'a Device);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let dev = self.0;
        if let Err(e) = dev.clear().and_then(|()| dev.resize(MYDEV_BUFFER_DEFAULT)) {
            eprintln!("warning: could not restore the device to {MYDEV_BUFFER_DEFAULT} bytes: {e}");
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match Config::parse(&args) {
        Ok(Action::Run(cfg)) => cfg,
        Ok(Action::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Action::ListRows) => {
            for key in row_keys() {
                println!("{key}");
            }
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: &Config) -> io::Result<()> {
    sys::install_signal_handlers()?;
    let ctl = workloads::open_device()?;
    let before = ctl.status()?;
    if before.bytes_used != 0 {
        eprintln!(
            "note: the device held {} bytes; they are discarded",
            before.bytes_used
        );
    }
    let restore = Restore(&ctl);
    let pipe_max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let (release, _, machine) = sys::uname();
    eprintln!(
        "mydevice-bench: kernel {release} {machine}, {} CPUs, vm {}, reps {}, scale {}{}{}",
        online_cpus(),
        cfg.vm_mode,
        cfg.reps,
        cfg.scale,
        if cfg.smoke { ", smoke" } else { "" },
        cfg.side
            .map_or(String::new(), |k| format!(", {} only", k.name()))
    );
    let perf = match &cfg.perf_ctl {
        Some(dir) => Some([
            Recorder::open(dir, Kind::Device.name())?,
            Recorder::open(dir, Kind::Pipe.name())?,
        ]),
        None => None,
    };
    let env = Env {
        cfg,
        ctl: &ctl,
        perf,
    };
    let start = Instant::now();
    let rows = run_all(&env)?;
    drop(restore);

    println!();
    println!(
        "mydevice-bench: device vs pipe of the same capacity, kernel {release}, vm {}, {} reps{}",
        cfg.vm_mode,
        cfg.reps,
        if cfg.smoke {
            " (smoke: figures mean nothing)"
        } else {
            ""
        }
    );
    println!(
        "medians over the runs, [min, max] across runs; dev/pipe is the ratio of the medians;"
    );
    println!("pairs is the median [min, max] of each back-to-back device/pipe pair's ratio");
    println!();
    print!("{}", render(&rows));
    let caps: Vec<String> = rows
        .iter()
        .filter(|r| cfg.side.is_none() && r.device.capacity != r.pipe.capacity)
        .map(|r| {
            format!(
                "{}: device {} B, pipe {} B",
                r.name, r.device.capacity, r.pipe.capacity
            )
        })
        .collect();
    if !caps.is_empty() {
        println!(
            "\ncapacities differ (pipes round to pages): {}",
            caps.join("; ")
        );
    }
    println!("\ntotal {:.1} s", start.elapsed().as_secs_f64());

    if let Some(path) = &cfg.json {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, to_json(cfg, &rows, pipe_max).to_pretty())
            .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))?;
        println!("raw samples: {}", path.display());
    }
    let after = ctl.status()?;
    if after.buffer_size != MYDEV_BUFFER_DEFAULT || after.bytes_used != 0 {
        return Err(io::Error::other(format!(
            "device left at capacity {} with {} bytes",
            after.buffer_size, after.bytes_used
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Config>, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Config::parse(&args).map(|action| match action {
            Action::Run(cfg) => Some(cfg),
            Action::Help | Action::ListRows => None,
        })
    }

    #[test]
    fn only_takes_every_workload() {
        let cfg = parse(&["--only", &WORKLOADS.join(",")]).unwrap().unwrap();
        assert_eq!(cfg.only, WORKLOADS);
        for w in WORKLOADS {
            let cfg = parse(&["--only", w]).unwrap().unwrap();
            assert!(cfg.runs(w), "--only {w} does not run {w}");
        }
    }

    #[test]
    fn only_refuses_unknown_workloads() {
        let err = parse(&["--only", "stream,uring"]).err().unwrap();
        assert!(err.contains("`uring`"), "got {err}");
    }

    #[test]
    fn explicit_reps_and_scale_beat_smoke() {
        let cfg = parse(&["--smoke", "--reps", "3", "--scale", "0.5"])
            .unwrap()
            .unwrap();
        assert_eq!((cfg.reps, cfg.scale), (3, 0.5));
        let cfg = parse(&["--smoke"]).unwrap().unwrap();
        assert_eq!((cfg.reps, cfg.scale), (2, 1.0 / 256.0));
    }

    #[test]
    fn row_keys_name_every_row_once() {
        let keys = row_keys();
        assert_eq!(keys.len(), STREAM_SHAPES.len() + WORKLOADS.len() - 1);
        for key in [
            "stream-64",
            "stream-256",
            "stream-1k",
            "stream-4k",
            "stream-64k",
        ] {
            assert!(keys.iter().any(|k| k == key), "no {key} in {keys:?}");
        }
        assert!(keys.iter().any(|k| k == "stream-4k-1m"), "{keys:?}");
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[..i].contains(key), "{key} twice in {keys:?}");
            assert!(!row_workload(key).is_empty(), "{key} has no workload");
        }
    }

    #[test]
    fn row_selects_its_workload_and_side() {
        let cfg = parse(&["--row", "stream-4k", "--side", "pipe"])
            .unwrap()
            .unwrap();
        assert_eq!(cfg.only, ["stream"]);
        assert!(cfg.wants("stream-4k") && !cfg.wants("stream-4k-1m"));
        assert_eq!(cfg.sides(), [Kind::Pipe]);
        let cfg = parse(&["--row", "contended"]).unwrap().unwrap();
        assert_eq!(cfg.only, ["contended"]);
        assert_eq!(cfg.sides(), [Kind::Device, Kind::Pipe]);
        let cfg = parse(&[]).unwrap().unwrap();
        assert!(cfg.wants("stream-64") && cfg.wants("idle"));
    }

    #[test]
    fn row_and_side_refuse_nonsense() {
        for bad in [
            &["--row", "stream-8k"][..],
            &["--row", "stream"],
            &["--row"],
            &["--side", "both"],
            &["--row", "stream-4k", "--only", "stream"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            Config::parse(&["--list-rows".to_string()]),
            Ok(Action::ListRows)
        ));
    }
}
