// SPDX-License-Identifier: GPL-2.0-only

//! Errors, what each errno means for this device, and the exit codes.

use core::fmt;
use std::io;
use std::path::PathBuf;

use mydevice_abi::sys::Errno;
use mydevice_abi::{MYDEV_BUFFER_MAX, MYDEV_BUFFER_MIN, PROC_PATH};

/// Exit code: the command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the device, or the system, refused an operation.
pub const EXIT_DEVICE: u8 = 1;
/// Exit code: bad usage; nothing was sent to the device.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the device node or `/proc/mydevice` is missing.
pub const EXIT_MISSING: u8 = 3;

/// An ioctl of `/dev/mydevice`, with its argument where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ioctl {
    /// `MYDEV_STATUS`.
    Status,
    /// `MYDEV_STATS`.
    Stats,
    /// `MYDEV_CLEAR`.
    Clear,
    /// `MYDEV_RESIZE` to this many bytes.
    Resize(u32),
    /// `MYDEV_HANGUP`.
    Hangup,
}

impl Ioctl {
    /// The name of the command in the UAPI header.
    pub fn name(self) -> &'static str {
        match self {
            Self::Status => "MYDEV_STATUS",
            Self::Stats => "MYDEV_STATS",
            Self::Clear => "MYDEV_CLEAR",
            Self::Resize(_) => "MYDEV_RESIZE",
            Self::Hangup => "MYDEV_HANGUP",
        }
    }
}

/// The system call that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `open(2)` of the device, read-only or read-write.
    Open {
        /// Whether write access was asked for.
        write: bool,
    },
    /// `ioctl(2)` on the open device.
    Ioctl(Ioctl),
    /// Reading `/proc/mydevice`.
    ReadProc,
}

/// Everything that makes mydevctl fail.
#[derive(Debug)]
pub enum Error {
    /// The command line is wrong; the text says how.
    Usage(String),
    /// A system call on the device or its proc file failed.
    Device {
        /// The subcommand that was running.
        command: &'static str,
        /// The call that failed.
        op: Op,
        /// The device node, or the proc file for [`Op::ReadProc`].
        path: PathBuf,
        /// The error number.
        errno: Errno,
    },
    /// A counter in `/proc/mydevice` is not an integer, so mydevctl and the
    /// module disagree on the file's format.
    ProcFormat {
        /// The key of the line.
        key: String,
        /// Its value.
        value: String,
    },
    /// Writing to standard output failed.
    Output(io::Error),
}

impl Error {
    /// The exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Device { op, errno, .. } => match (op, *errno) {
                (Op::Open { .. } | Op::ReadProc, Errno::ENOENT | Errno::ENODEV | Errno::ENXIO) => {
                    EXIT_MISSING
                }
                (Op::Ioctl(_), Errno::ENODEV) => EXIT_MISSING,
                _ => EXIT_DEVICE,
            },
            Self::ProcFormat { .. } | Self::Output(_) => EXIT_DEVICE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(text) => f.write_str(text),
            Self::Device {
                command,
                op,
                path,
                errno,
            } => {
                let path = path.display();
                write!(f, "{command}: ")?;
                match op {
                    Op::Open { write: false } => write!(f, "cannot open {path} for reading")?,
                    Op::Open { write: true } => write!(f, "cannot open {path} for writing")?,
                    Op::Ioctl(Ioctl::Resize(n)) => {
                        write!(f, "MYDEV_RESIZE to {n} bytes on {path} failed")?;
                    }
                    Op::Ioctl(ioctl) => write!(f, "{} on {path} failed", ioctl.name())?,
                    Op::ReadProc => write!(f, "cannot read {path}")?,
                }
                write!(
                    f,
                    ": {} ({})",
                    errno_name(*errno as i32),
                    errno_text(*errno as i32)
                )?;
                if let Some(meaning) = meaning(*op, *errno) {
                    write!(f, ": {meaning}")?;
                }
                Ok(())
            }
            Self::ProcFormat { key, value } => write!(
                f,
                "watch: {PROC_PATH}: {key} is {value:?}, not an unsigned integer; \
                 mydevctl does not know this module's format"
            ),
            Self::Output(err) => write!(f, "cannot write the output: {err}"),
        }
    }
}

impl std::error::Error for Error {}

/// The symbolic name of an errno, such as `ENOTTY`, or `errno N` for a
/// number the C library does not know.
pub fn errno_name(errno: i32) -> String {
    match Errno::from_raw(errno) {
        Errno::UnknownErrno => format!("errno {errno}"),
        known => format!("{known:?}"),
    }
}

/// The C library's description of an errno, such as `Permission denied`.
pub fn errno_text(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    let suffix = format!(" (os error {errno})");
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// What an errno means for this device and this call, where that is known.
pub fn meaning(op: Op, errno: Errno) -> Option<String> {
    const LOAD: &str = "the mydevice module is not loaded (try: sudo modprobe mydevice)";
    let text = match (op, errno) {
        (Op::Open { .. }, Errno::ENOENT) => format!("no such device node; {LOAD}"),
        (Op::Open { .. }, Errno::ENODEV | Errno::ENXIO) => {
            format!("the node has no driver behind it; {LOAD}")
        }
        (Op::Open { write: false }, Errno::EACCES | Errno::EPERM) => {
            "reading the device needs root, or membership of the group that a udev rule \
             gives /dev/mydevice (see FILES in mydevctl(1))"
                .to_owned()
        }
        (Op::Open { write: true }, Errno::EACCES | Errno::EPERM) => {
            "clear, resize and hangup need write access: run as root, or join the group \
             that a udev rule gives /dev/mydevice (see FILES in mydevctl(1))"
                .to_owned()
        }
        (Op::Open { write: true }, Errno::EROFS) => {
            "the node is on a read-only file system; use the one in /dev".to_owned()
        }
        (Op::Ioctl(Ioctl::Status), Errno::ENOTTY) => {
            "this is not a mydevice node (every mydevice module knows MYDEV_STATUS)".to_owned()
        }
        (Op::Ioctl(ioctl), Errno::ENOTTY) => format!(
            "this is not a mydevice node, or the loaded module is too old to know {}",
            ioctl.name()
        ),
        (Op::Ioctl(_), Errno::EBADF) => {
            "control needs write access, and the device was opened read-only".to_owned()
        }
        (Op::Ioctl(Ioctl::Resize(n)), Errno::EINVAL) => format!(
            "the kernel refused {n} bytes as a capacity \
             ({MYDEV_BUFFER_MIN}..={MYDEV_BUFFER_MAX})"
        ),
        (Op::Ioctl(_), Errno::EINVAL) => "the kernel rejected the request".to_owned(),
        (Op::Ioctl(Ioctl::Resize(n)), Errno::ENOMEM) => format!(
            "the kernel could not allocate a {n}-byte buffer; \
             the old buffer and its data are untouched"
        ),
        (Op::Ioctl(_), Errno::ENOMEM) => "the kernel is out of memory".to_owned(),
        (Op::Ioctl(_), Errno::EFAULT) => {
            "the kernel could not access the argument; this is a bug in mydevctl".to_owned()
        }
        (Op::Ioctl(_), Errno::ENODEV) => "the device went away; the module was unloaded".to_owned(),
        (Op::ReadProc, Errno::ENOENT) => format!(
            "{PROC_PATH} is missing; the mydevice module is not loaded \
             (try: sudo modprobe mydevice)"
        ),
        (Op::ReadProc, Errno::EACCES | Errno::EPERM) => {
            format!("{PROC_PATH} is not readable by this user")
        }
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(command: &'static str, op: Op, errno: Errno) -> Error {
        Error::Device {
            command,
            op,
            path: PathBuf::from("/dev/mydevice"),
            errno,
        }
    }

    fn check(err: Error, code: u8, text: &str) {
        assert_eq!(err.to_string(), text);
        assert_eq!(err.exit_code(), code, "exit code of {text:?}");
    }

    /// A missing node says the module is not loaded, and exits 3.
    #[test]
    fn enoent_on_open_means_module_not_loaded() {
        check(
            device("status", Op::Open { write: false }, Errno::ENOENT),
            EXIT_MISSING,
            "status: cannot open /dev/mydevice for reading: ENOENT (No such file or \
             directory): no such device node; the mydevice module is not loaded \
             (try: sudo modprobe mydevice)",
        );
    }

    /// A stale node without a driver is also a missing device.
    #[test]
    fn enodev_and_enxio_on_open_mean_module_not_loaded() {
        for (errno, name) in [
            (Errno::ENODEV, "ENODEV (No such device)"),
            (Errno::ENXIO, "ENXIO (No such device or address)"),
        ] {
            check(
                device("stats", Op::Open { write: false }, errno),
                EXIT_MISSING,
                &format!(
                    "stats: cannot open /dev/mydevice for reading: {name}: the node has no \
                     driver behind it; the mydevice module is not loaded \
                     (try: sudo modprobe mydevice)"
                ),
            );
        }
    }

    /// Permission errors point at root or the udev group.
    #[test]
    fn eacces_needs_root_or_udev_group() {
        check(
            device("status", Op::Open { write: false }, Errno::EACCES),
            EXIT_DEVICE,
            "status: cannot open /dev/mydevice for reading: EACCES (Permission denied): \
             reading the device needs root, or membership of the group that a udev rule \
             gives /dev/mydevice (see FILES in mydevctl(1))",
        );
        check(
            device("clear", Op::Open { write: true }, Errno::EACCES),
            EXIT_DEVICE,
            "clear: cannot open /dev/mydevice for writing: EACCES (Permission denied): \
             clear, resize and hangup need write access: run as root, or join the group \
             that a udev rule gives /dev/mydevice (see FILES in mydevctl(1))",
        );
        assert_eq!(
            meaning(Op::Open { write: true }, Errno::EPERM),
            meaning(Op::Open { write: true }, Errno::EACCES)
        );
    }

    /// EBADF on a control ioctl means the file lacks write access.
    #[test]
    fn ebadf_means_control_needs_write_access() {
        check(
            device("hangup", Op::Ioctl(Ioctl::Hangup), Errno::EBADF),
            EXIT_DEVICE,
            "hangup: MYDEV_HANGUP on /dev/mydevice failed: EBADF (Bad file descriptor): \
             control needs write access, and the device was opened read-only",
        );
    }

    /// EINVAL from RESIZE names the size and the range.
    #[test]
    fn einval_on_resize_names_the_range() {
        check(
            device("resize", Op::Ioctl(Ioctl::Resize(0)), Errno::EINVAL),
            EXIT_DEVICE,
            "resize: MYDEV_RESIZE to 0 bytes on /dev/mydevice failed: EINVAL (Invalid \
             argument): the kernel refused 0 bytes as a capacity (1..=1048576)",
        );
        assert_eq!(
            meaning(Op::Ioctl(Ioctl::Clear), Errno::EINVAL).as_deref(),
            Some("the kernel rejected the request")
        );
    }

    /// ENOMEM from RESIZE says the old buffer is untouched.
    #[test]
    fn enomem_on_resize_keeps_the_old_buffer() {
        check(
            device("resize", Op::Ioctl(Ioctl::Resize(1_048_576)), Errno::ENOMEM),
            EXIT_DEVICE,
            "resize: MYDEV_RESIZE to 1048576 bytes on /dev/mydevice failed: ENOMEM (Cannot \
             allocate memory): the kernel could not allocate a 1048576-byte buffer; the old \
             buffer and its data are untouched",
        );
    }

    /// ENOTTY means a wrong node or a module too old for the command.
    #[test]
    fn enotty_means_not_mydevice_or_too_old() {
        check(
            device("status", Op::Ioctl(Ioctl::Status), Errno::ENOTTY),
            EXIT_DEVICE,
            "status: MYDEV_STATUS on /dev/mydevice failed: ENOTTY (Inappropriate ioctl for \
             device): this is not a mydevice node (every mydevice module knows MYDEV_STATUS)",
        );
        check(
            device("stats", Op::Ioctl(Ioctl::Stats), Errno::ENOTTY),
            EXIT_DEVICE,
            "stats: MYDEV_STATS on /dev/mydevice failed: ENOTTY (Inappropriate ioctl for \
             device): this is not a mydevice node, or the loaded module is too old to know \
             MYDEV_STATS",
        );
    }

    /// ENODEV from an ioctl means the device vanished, which counts as missing.
    #[test]
    fn enodev_on_ioctl_is_missing() {
        check(
            device("watch", Op::Ioctl(Ioctl::Stats), Errno::ENODEV),
            EXIT_MISSING,
            "watch: MYDEV_STATS on /dev/mydevice failed: ENODEV (No such device): the \
             device went away; the module was unloaded",
        );
    }

    /// A missing proc file says the module is not loaded.
    #[test]
    fn enoent_on_proc_means_module_not_loaded() {
        let err = Error::Device {
            command: "watch",
            op: Op::ReadProc,
            path: PathBuf::from("/proc/mydevice"),
            errno: Errno::ENOENT,
        };
        check(
            err,
            EXIT_MISSING,
            "watch: cannot read /proc/mydevice: ENOENT (No such file or directory): \
             /proc/mydevice is missing; the mydevice module is not loaded \
             (try: sudo modprobe mydevice)",
        );
    }

    /// Errnos without a device-specific meaning still show name and text.
    #[test]
    fn unexplained_errnos_show_name_and_text() {
        check(
            device("status", Op::Ioctl(Ioctl::Status), Errno::EIO),
            EXIT_DEVICE,
            "status: MYDEV_STATUS on /dev/mydevice failed: EIO (Input/output error)",
        );
        assert_eq!(errno_name(4095), "errno 4095");
        assert!(!errno_text(Errno::EXDEV as i32).contains("os error"));
        assert!(!errno_text(Errno::EXDEV as i32).is_empty());
    }

    /// Names come from the errno enum, texts from the C library.
    #[test]
    fn errno_names_and_texts() {
        assert_eq!(errno_name(Errno::ENOTTY as i32), "ENOTTY");
        assert_eq!(
            errno_text(Errno::ENOTTY as i32),
            "Inappropriate ioctl for device"
        );
        assert_eq!(errno_name(0), "errno 0");
    }

    /// A malformed counter in the proc file names the key and exits 1.
    #[test]
    fn proc_format_names_the_key() {
        check(
            Error::ProcFormat {
                key: "bytes_used".to_owned(),
                value: "x".to_owned(),
            },
            EXIT_DEVICE,
            "watch: /proc/mydevice: bytes_used is \"x\", not an unsigned integer; mydevctl \
             does not know this module's format",
        );
    }

    /// Usage errors exit 2 and output errors exit 1.
    #[test]
    fn usage_and_output_exit_codes() {
        check(Error::Usage("bad".to_owned()), EXIT_USAGE, "bad");
        let err = Error::Output(io::Error::from(Errno::ENOSPC));
        assert_eq!(err.exit_code(), EXIT_DEVICE);
        assert!(err.to_string().starts_with("cannot write the output: "));
    }
}
