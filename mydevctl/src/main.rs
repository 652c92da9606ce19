// SPDX-License-Identifier: GPL-2.0-only

//! The `mydevctl` command; see `mydevctl --help` or mydevctl(1).

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let code = mydevctl::run::main(
        std::env::args_os().skip(1),
        std::env::var_os(mydevctl::cli::DEVICE_ENV),
        &mut stdout.lock(),
        &mut std::io::stderr(),
        terminal,
    );
    ExitCode::from(code)
}
