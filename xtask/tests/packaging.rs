// SPDX-License-Identifier: GPL-2.0-only

//! Checks of the tree that the Debian packages rely on: every file names its
//! licence, and the version sits in one place or agrees with it.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// The repository's root, above this crate.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository")
        .to_path_buf()
}

/// The tracked and the new, unignored files of the work tree that exist.
fn files() -> Vec<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root())
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .expect("running git ls-files");
    assert!(out.status.success(), "git ls-files failed: {out:?}");
    String::from_utf8(out.stdout)
        .expect("file names are UTF-8")
        .split('\0')
        .filter(|f| !f.is_empty() && root().join(f).is_file())
        .map(str::to_string)
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Files in a format with no comments, licence texts themselves, and the
/// plain-text README.Debian, which debian/copyright covers.
fn holds_no_spdx_line(path: &str) -> bool {
    path.ends_with(".json")
        || path.ends_with(".README.Debian")
        || path.starts_with("LICENSES/")
        || [
            "COPYING",
            "Cargo.lock",
            "xtask/Cargo.lock",
            "debian/changelog",
            "debian/copyright",
            "debian/source/format",
        ]
        .contains(&path)
}

/// Trees still on the deprecated plain `GPL-2.0` identifier, or without an
/// SPDX line, that are to move to `GPL-2.0-only`. The list only shrinks: an
/// entry whose files all comply fails the test until it is removed.
const NOT_YET_GPL_2_0_ONLY: &[&str] = &[
    // The kernel's kselftest runner, shipped unchanged with its own header.
    "scripts/kselftest/",
    "scripts/run_kselftest.sh",
];

/// The licence a file must name: the userspace API carries the syscall note,
/// so that programs using it are not bound by the GPL.
fn expected_licence(path: &str) -> &'static str {
    if path.starts_with("abi/") || path.starts_with("include/uapi/") {
        "GPL-2.0-only WITH Linux-syscall-note"
    } else {
        "GPL-2.0-only"
    }
}

/// The SPDX expression in a file's first lines, without a comment's closing
/// `*/` or `-->`.
fn spdx_expression(text: &str) -> Option<String> {
    text.lines().take(3).find_map(|line| {
        let (_, rest) = line.split_once("SPDX-License-Identifier:")?;
        let rest = rest.trim();
        let rest = rest.strip_suffix("*/").unwrap_or(rest);
        let rest = rest.strip_suffix("-->").unwrap_or(rest);
        Some(rest.trim().to_string())
    })
}

/// Every file names its licence in an SPDX line near its top.
#[test]
fn every_file_has_an_spdx_line() {
    let mut wrong = Vec::new();
    let mut pending_done: Vec<&str> = NOT_YET_GPL_2_0_ONLY.to_vec();
    for path in files().iter().filter(|p| !holds_no_spdx_line(p)) {
        let Ok(text) = std::fs::read_to_string(root().join(path)) else {
            continue; // Not text.
        };
        let found = spdx_expression(&text);
        let want = expected_licence(path);
        if found.as_deref() == Some(want) {
            continue;
        }
        if let Some(prefix) = NOT_YET_GPL_2_0_ONLY.iter().find(|p| path.starts_with(*p)) {
            pending_done.retain(|p| p != prefix);
            continue;
        }
        wrong.push(format!("{path}: expected {want:?}, found {found:?}"));
    }
    assert!(
        wrong.is_empty(),
        "files without the right SPDX-License-Identifier line:\n{}",
        wrong.join("\n")
    );
    assert!(
        pending_done.is_empty(),
        "these entries of NOT_YET_GPL_2_0_ONLY comply now; remove them: {pending_done:?}"
    );
}

/// The licence texts that the SPDX lines refer to are in the tree.
#[test]
fn licence_texts_are_in_the_tree() {
    for (path, header) in [
        (
            "LICENSES/preferred/GPL-2.0",
            "Valid-License-Identifier: GPL-2.0-only",
        ),
        (
            "LICENSES/exceptions/Linux-syscall-note",
            "SPDX-Exception-Identifier: Linux-syscall-note",
        ),
    ] {
        assert!(read(path).contains(header), "{path} lacks {header:?}");
    }
    let note = read("LICENSES/exceptions/Linux-syscall-note");
    let note = note
        .split_once("License-Text:\n")
        .expect("the note has a License-Text section")
        .1;
    // debian/copyright quotes the note verbatim, as a deb822 field's lines.
    let copyright = read("debian/copyright");
    for line in note.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            copyright.contains(&format!("\n {}\n", line.trim_end())),
            "debian/copyright does not quote the syscall note's line {line:?}"
        );
    }
    let copying = read("COPYING");
    for name in [
        "LICENSES/preferred/GPL-2.0",
        "LICENSES/exceptions/Linux-syscall-note",
    ] {
        assert!(copying.contains(name), "COPYING does not name {name}");
    }
    for manifest in ["Cargo.toml", "abi/Cargo.toml"] {
        let text = read(manifest);
        let licence = text
            .lines()
            .find_map(|l| l.strip_prefix("license = "))
            .unwrap_or_else(|| panic!("{manifest} has no license field"));
        let want = expected_licence(manifest);
        assert_eq!(licence, format!("\"{want}\""), "{manifest}'s license field");
    }
}

/// The upstream version, from debian/changelog's first entry: the version
/// without epoch and Debian revision.
fn changelog_version() -> String {
    let changelog = read("debian/changelog");
    let first = changelog
        .lines()
        .next()
        .expect("debian/changelog has an entry");
    let version = first
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(v, _)| v)
        .unwrap_or_else(|| panic!("no version in {first:?}"));
    let version = version.split_once(':').map_or(version, |(_, v)| v);
    let version = version.rsplit_once('-').map_or(version, |(v, _)| v);
    version.to_string()
}

/// The one version field of a file: the text between `before` and the next
/// `after`, at the first `before`.
fn field<'a>(text: &'a str, before: &str, after: char) -> Option<&'a str> {
    let start = text.find(before)? + before.len();
    text[start..].split(after).next()
}

/// The version sits in debian/changelog; the places that repeat it agree,
/// and DKMS takes it from the package.
#[test]
fn version_places_agree_with_the_changelog() {
    let version = changelog_version();
    let places = [
        ("Cargo.toml", "\nversion = \"", '"'),
        ("src/mydevice.rs", "b\"version=", '\\'),
        ("docs/mydevice.4", "\"mydevice ", '"'),
        ("mydevctl/mydevctl.1", "\"mydevctl ", '"'),
    ];
    for (path, before, after) in places {
        let text = read(path);
        assert_eq!(
            field(&text, before, after),
            Some(version.as_str()),
            "{path} disagrees with debian/changelog's version {version}"
        );
    }
    // The module's modinfo array is sized for its string and NUL.
    let module = read("src/mydevice.rs");
    let size = format!("[u8; {}]", "version=".len() + version.len() + 1);
    assert!(
        module.contains(&format!("MODINFO_VERSION: {size}")),
        "src/mydevice.rs: MODINFO_VERSION is not a {size}"
    );
    // DKMS's version is the package's: dh_dkms fills it in.
    let dkms = read("dkms.conf");
    assert!(
        dkms.lines()
            .any(|l| l == "PACKAGE_VERSION=\"#MODULE_VERSION#\""),
        "dkms.conf must leave PACKAGE_VERSION to dh_dkms (#MODULE_VERSION#)"
    );
    let rules = read("debian/rules");
    assert!(
        rules
            .lines()
            .any(|l| l.trim_start().starts_with("dh_dkms -V")),
        "debian/rules must run dh_dkms -V, which fills in #MODULE_VERSION#"
    );
}

/// The architectures the packages claim are the ones whose ioctl encoding
/// mydevice-abi and the module hard-code: those Rust-for-Linux supports.
#[test]
fn architectures_agree() {
    // Debian's name, Rust's target_arch, `uname -m`'s pattern in dkms.conf.
    let arches = [
        ("amd64", "x86_64", "x86_64"),
        ("arm64", "aarch64", "aarch64"),
        ("armhf", "arm", "armv7.*"),
        ("loong64", "loongarch64", "loongarch64"),
        ("riscv64", "riscv64", "riscv64"),
    ];
    let control = read("debian/control");
    let tools = control
        .split("\n\n")
        .find(|p| p.contains("Package: mydevice-tools\n"))
        .expect("debian/control has mydevice-tools");
    let listed: Vec<&str> = tools
        .lines()
        .find_map(|l| l.strip_prefix("Architecture: "))
        .expect("mydevice-tools has an Architecture")
        .split_whitespace()
        .collect();
    let debian: Vec<&str> = arches.iter().map(|a| a.0).collect();
    assert_eq!(listed, debian, "mydevice-tools' Architecture");
    let abi = read("abi/src/lib.rs");
    for (_, rust, _) in arches {
        assert!(
            abi.contains(&format!("target_arch = \"{rust}\"")),
            "abi/src/lib.rs does not allow target_arch {rust}"
        );
    }
    let dkms = read("dkms.conf");
    let uname: Vec<&str> = arches.iter().map(|a| a.2).collect();
    let want = format!("BUILD_EXCLUSIVE_ARCH=\"^({})$\"", uname.join("|"));
    assert!(dkms.lines().any(|l| l == want), "dkms.conf lacks {want}");
}
