// SPDX-License-Identifier: GPL-2.0-only

//! Project automation for mydevice, run as `cargo xtask <command>`.
//!
//! Each command lives in its own module with a `run` function. The README
//! explains what the commands do and where they keep their logs.

mod bench;
mod build;
mod deb;
mod deb_chroot;
mod dropin;
mod e2e;
mod e2e_debian;
mod e2e_trixie;
mod kernel;
mod ktap;
mod paths;
mod run;
mod selftest;
mod setup;
mod shell;
mod soak;
mod suite;
mod test;
mod util;
mod vm;

use std::process::ExitCode;

use anyhow::bail;
use anyhow::Result;
use xshell::Shell;

use crate::kernel::Choice;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup [--refresh] [--series S]
                     install the toolchain, qemu, virtme-ng and the Linux source
                     (--refresh: look for a newer linux-source-<series> package)
  kernel [--series S] [--debug]
                     build the test kernel, or reuse the cached one
                     (--series: 7.2, the default, or 7.3;
                     --debug: the KASAN, kmemleak and fault-injection flavour)
  build [--series S] [--debug]
                     build and lint the module against the test kernel
  paths [--series S] [--debug]
                     print KDIR=<kernel build dir> and MODULE=<module path>
  test [--series S] [--debug]
                     all of the above, host checks, then KUnit and the selftests in a VM,
                     and the packages with DKMS in a second VM (--debug: on the debug
                     kernel, with the debug_* selftests and a kmemleak scan)
  run                load the module in a VM and show the device at work
  shell [--series S] interactive VM shell with the module loaded
  dropin DIR         write the selftests as a kselftest drop-in into DIR (e.g. a kernel
                     tree's tools/testing/selftests/mydevice), their crates vendored
  deb [--chroot]     build the mydevice-dkms and mydevice-tools packages into target/deb/;
                     --chroot: as Debian builds them, in a clean trixie root without
                     network, into target/deb-chroot/
  bench [--smoke] [--reps N] [--only NAME] [--scale X] [--profile ROW]
                     the device against the kernel pipe in a VM; results in target/bench/
                     (--reps: pairs per workload, --only: some of its workloads,
                     comma-separated, --scale: a factor on every run's work,
                     --profile: one row, e.g. stream-4k or contended, under perf,
                     device and pipe apart; reports in target/bench/profile-ROW/)
  soak [--minutes N] [--cpus N] [--debug]
                     the churn stress for N minutes (default 10) on N vCPUs (default 2),
                     with its counts, throughput and any failure
  e2e-debian [--kernel RELEASE]
                     the packages on Debian's own kernel: DKMS builds the Rust metadata
                     and the module in a sid root, then a VM boots that kernel and runs the selftests
                     (--kernel: sid's kernel release, default 7.2.13+deb14-amd64)
  e2e-trixie [--from RELEASE] [--to RELEASE]
                     the packages on Debian stable with the backports kernels: DKMS builds
                     for 7.2 (--from, default 7.2.12+deb13-amd64), then for 7.3 (--to,
                     default 7.3.4+deb13-amd64) from the kernel upgrade's own hook; both
                     kernels boot and run the selftests; then a package upgrade
";

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sh = Shell::new()?;
    // Cargo hands its own package's MSRV to this process; the kernel's
    // clippy-driver would read it and warn that it differs from the kernel's.
    let _msrv = sh.push_env("CARGO_PKG_RUST_VERSION", "");
    sh.change_dir(util::repo_root());
    match args.as_slice() {
        ["setup", opts @ ..] => {
            let opts = setup::Options::parse(opts)?;
            setup::run_for(&sh, opts.series, opts.refresh)
        }
        ["kernel", opts @ ..] => kernel::run(&sh, Choice::parse("kernel", opts, true)?),
        ["build", opts @ ..] => build::run(&sh, Choice::parse("build", opts, true)?),
        ["paths", opts @ ..] => paths::run(&sh, Choice::parse("paths", opts, true)?),
        ["test", opts @ ..] => test::run(&sh, Choice::parse("test", opts, true)?),
        ["run"] => run::run(&sh),
        ["shell", opts @ ..] => shell::run(&sh, Choice::parse("shell", opts, false)?.series),
        ["deb"] => deb::run(&sh),
        ["deb", "--chroot"] => deb_chroot::run(&sh),
        ["dropin", dir] => dropin::run(&sh, dir),
        ["bench", opts @ ..] => bench::run(&sh, &bench::Options::parse(opts)?),
        ["soak", opts @ ..] => soak::run(&sh, &soak::Options::parse(opts)?),
        ["e2e-debian", opts @ ..] => e2e_debian::run(&sh, &e2e_debian::Options::parse(opts)?),
        ["e2e-trixie", opts @ ..] => e2e_trixie::run(&sh, &e2e_trixie::Options::parse(opts)?),
        [] | ["help" | "-h" | "--help"] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            bail!("unknown command line: {}", args.join(" "))
        }
    }
}
