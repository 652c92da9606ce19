#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Guest side of the package test: install the .debs with dpkg, let DKMS
# build and install the module for the running kernel, use it, run the
# package's autopkgtest (debian/tests), remove it, and check that the
# readiness probe refuses a header tree without Rust metadata.
# Runs as root in the test VM, whose root file system is an overlay on the
# host's, so the host is never touched. Writes KTAP to OUT/dkms.ktap.
#
# Usage: dkms.sh OUT KDIR DEB_DIR
#   OUT      host directory shared read-write; dkms.ktap, the log of each
#            step (logs/) and dmesg.log go there
#   KDIR     the test kernel's build tree
#   DEB_DIR  directory holding mydevice-dkms_*.deb and mydevice-tools_*.deb

set -u
out=$1 kdir=$2 debs=$3
logs=$out/logs
# DKMS needs the rustc that built the kernel: the one setup installed.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$HOME/.cargo/bin
kver=$(uname -r)
mkdir -p "$logs"
trap 'dmesg > "$out/dmesg.log"' EXIT
exec > >(tee "$out/dkms.ktap")

# shellcheck source=ktap-check.sh
. "$(dirname "${BASH_SOURCE[0]}")/ktap-check.sh"

echo "TAP version 13"
echo "1..13"

# The guest's /lib/modules/<release> is a link into the read-only kernel
# tree. Make it a directory of the overlay, holding the `build` link DKMS
# looks for, so that the module can be installed next to the kernel's own.
prepare_modules_dir() {
	local dir=/lib/modules/$kver real
	if [ -L "$dir" ]; then
		real=$(readlink -f "$dir")
		rm "$dir"
		mkdir -p "$dir"
		cp -a "$real/." "$dir/"
	fi
	mkdir -p "$dir"
	ln -sfn "$kdir" "$dir/build"
	depmod -a "$kver"
}

dkms_installed() {
	dkms status mydevice
	dkms status mydevice | grep -q "$kver.*: installed"
}

node_is_there() {
	modprobe mydevice && test -c /dev/mydevice
}

# The package's udev rule gives the group "mydevice", which its sysusers.d
# file creates, read and write access to the node: a member opens it, a
# user outside the group gets EACCES.
group_members_only() {
	local udevd err gid
	getent group mydevice || return 1
	if ! udevadm control --ping 2>/dev/null; then
		for udevd in /usr/lib/systemd/systemd-udevd /lib/systemd/systemd-udevd; do
			[ -x "$udevd" ] && "$udevd" --daemon && break
		done
	fi
	udevadm control --reload &&
		udevadm trigger --action=add --sysname-match=mydevice &&
		udevadm settle || return 1
	stat -c '%U %G %a' /dev/mydevice
	[ "$(stat -c '%G %a' /dev/mydevice)" = "mydevice 660" ] || return 1
	# The guest's /etc is not writable for useradd: run as nobody, with
	# and without the group.
	gid=$(getent group mydevice | cut -d: -f3)
	setpriv --reuid=65534 --regid=65534 --groups="$gid" \
		sh -c 'exec 3<>/dev/mydevice' || return 1
	err=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c 'exec 3<>/dev/mydevice' 2>&1) && return 1
	echo "$err"
	grep -q "Permission denied" <<<"$err"
}

# mydevice-dev's header compiles from its own directory.
uapi_header_compiles() {
	echo '#include <mydevice/mydevice.h>' | cc -fsyntax-only -x c -
}

# The package's autopkgtest, as a distribution's CI runs it: DKMS's build
# for the running kernel loads, and every packaged selftest passes through
# the packaged run_kselftest.sh.
autopkgtest() {
	(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && sh "debian/tests/$1")
}

unloaded_and_removed() {
	rmmod mydevice &&
		dpkg -r mydevice-dev mydevice-tools mydevice-dkms &&
		! modinfo -k "$kver" mydevice &&
		! dkms status mydevice | grep -q . &&
		! test -e /usr/bin/mydevctl
}

# The probe against the test kernel tree with its rust/ hidden under an
# empty directory: it must fail with its one-paragraph explanation.
probe_refuses_missing_metadata() {
	local probe=$1 empty out
	empty=$(mktemp -d)
	mount --bind "$empty" "$kdir/rust" || return 1
	out=$("$probe" "$kdir" 2>&1)
	local rc=$?
	umount "$kdir/rust"
	echo "$out"
	echo "exit status: $rc"
	[ "$rc" -eq 1 ] &&
		grep -q "lack the Rust build metadata" <<<"$out" &&
		grep -q "rust/libkernel.rmeta" <<<"$out" &&
		grep -q "linux-lib-rust" <<<"$out"
}

# This guest's DKMS is bookworm's 3.0.10, older than 3.1.5, which ignores
# the pre-build step's skip. With the tree's Rust metadata hidden, dpkg -i
# must still succeed: dkms.conf's exclusion (scripts/dkms-exclude) makes
# DKMS skip the kernel itself, the package is configured, and the module
# is only added. Then the metadata is back for the real build.
old_dkms_skips_an_unready_tree() {
	local empty out rc
	dkms --version
	empty=$(mktemp -d)
	mount --bind "$empty" "$kdir/rust" || return 1
	out=$(dpkg -i "$debs"/mydevice-dkms_*.deb "$debs"/mydevice-tools_[0-9]*.deb \
		"$debs"/mydevice-dev_*.deb 2>&1)
	rc=$?
	umount "$kdir/rust"
	echo "$out"
	echo "dpkg -i: exit status $rc"
	dkms status mydevice
	[ "$rc" -eq 0 ] &&
		[ "$(dpkg-query -W -f='${db:Status-Abbrev}' mydevice-dkms)" = "ii " ] &&
		grep -q "Skipped" <<<"$out" &&
		dkms status mydevice | grep -q ": added" &&
		! dkms status mydevice | grep -q "installed"
}

probe_accepts_the_kernel() {
	"$1" "$kdir"
}

check prepare_modules_dir prepare_modules_dir
export DEBIAN_FRONTEND=noninteractive
# man-db's trigger would reindex every manual page, which takes minutes
# under emulation; this only changes the guest's overlay.
rm -f /var/lib/man-db/auto-update
check old_dkms_skips_an_unready_tree old_dkms_skips_an_unready_tree
check dkms_autoinstall_builds_once_ready timeout 1500 dkms autoinstall -k "$kver"
check dkms_status_installed dkms_installed
check modprobe_creates_the_node node_is_there
check group_members_only group_members_only
check uapi_header_compiles uapi_header_compiles
check mydevctl_status mydevctl status
check autopkgtest_dkms_selftests autopkgtest dkms-selftests
probes=(/usr/src/mydevice-*/scripts/rust-check)
probe=${probes[0]}
check probe_accepts_the_kernel probe_accepts_the_kernel "${probe:-/nonexistent}"
check probe_refuses_missing_metadata probe_refuses_missing_metadata "${probe:-/nonexistent}"
check dpkg_remove_removes_the_module unloaded_and_removed
check no_module_left test ! -e "/lib/modules/$kver/updates/dkms/mydevice.ko"

finish
