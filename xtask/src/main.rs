//! Project automation for mydevice, run as `cargo xtask <command>`.
//!
//! Each command lives in its own module with a `run` function. The README
//! explains what the commands do and where they keep their logs.

mod bench;
mod build;
mod deb;
mod e2e_debian;
mod kernel;
mod ktap;
mod paths;
mod run;
mod setup;
mod shell;
mod soak;
mod test;
mod util;
mod vm;

use std::process::ExitCode;

use anyhow::bail;
use anyhow::Result;
use xshell::Shell;

use crate::kernel::Flavour;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup [--refresh]  install the toolchain, qemu, virtme-ng and the Linux source
                     (--refresh: look for a newer linux-source-7.2 package)
  kernel [--debug]   build the test kernel, or reuse the cached one
                     (--debug: the KASAN, kmemleak and fault-injection flavour)
  build [--debug]    build and lint the module against the test kernel
  paths [--debug]    print KDIR=<kernel build dir> and MODULE=<module path>
  test [--debug]     all of the above, host checks, then KUnit and the selftests in a VM,
                     and the packages with DKMS in a second VM (--debug: on the debug
                     kernel, with the debug_* selftests and a kmemleak scan)
  run                load the module in a VM and show the device at work
  shell              interactive VM shell with the module loaded
  deb                build the mydevice-dkms and mydevice-tools packages into target/deb/
  bench [--smoke]    the device against the kernel pipe in a VM; results in target/bench/
  soak [--minutes N] [--cpus N] [--debug]
                     the churn stress for N minutes (default 10) on N vCPUs (default 2),
                     with its counts, throughput and any failure
  e2e-debian         the packages on Debian's own kernel: DKMS builds the Rust metadata
                     and the module in a sid root, then a VM boots that kernel and runs the selftests
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
        ["setup"] => setup::run(&sh, false),
        ["setup", "--refresh"] => setup::run(&sh, true),
        ["kernel"] => kernel::run(&sh, Flavour::Base),
        ["kernel", "--debug"] => kernel::run(&sh, Flavour::Debug),
        ["build"] => build::run(&sh, Flavour::Base),
        ["build", "--debug"] => build::run(&sh, Flavour::Debug),
        ["paths"] => paths::run(&sh, Flavour::Base),
        ["paths", "--debug"] => paths::run(&sh, Flavour::Debug),
        ["test"] => test::run(&sh, Flavour::Base),
        ["test", "--debug"] => test::run(&sh, Flavour::Debug),
        ["run"] => run::run(&sh),
        ["shell"] => shell::run(&sh),
        ["deb"] => deb::run(&sh),
        ["bench"] => bench::run(&sh, false),
        ["bench", "--smoke"] => bench::run(&sh, true),
        ["soak", opts @ ..] => soak::run(&sh, &soak::Options::parse(opts)?),
        ["e2e-debian"] => e2e_debian::run(&sh),
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
