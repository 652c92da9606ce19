#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of the package test: install the two .debs with dpkg, let DKMS
# build and install the module for the running kernel, use it, remove it, and
# check that the readiness probe refuses a header tree without Rust metadata.
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
echo "1..10"

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

packaged_selftest() {
	/usr/lib/mydevice/kselftests/mydevice/ioctl
}

unloaded_and_removed() {
	rmmod mydevice &&
		dpkg -r mydevice-tools mydevice-dkms &&
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

probe_accepts_the_kernel() {
	"$1" "$kdir"
}

check prepare_modules_dir prepare_modules_dir
export DEBIAN_FRONTEND=noninteractive
# man-db's trigger would reindex every manual page, which takes minutes
# under emulation; this only changes the guest's overlay.
rm -f /var/lib/man-db/auto-update
check dpkg_install_builds_with_dkms timeout 1500 dpkg -i "$debs"/mydevice-dkms_*.deb "$debs"/mydevice-tools_*.deb
check dkms_status_installed dkms_installed
check modprobe_creates_the_node node_is_there
check mydevctl_status mydevctl status
check packaged_selftest_ioctl packaged_selftest
probe=$(ls /usr/src/mydevice-*/scripts/rust-check 2>/dev/null | head -n 1)
check probe_accepts_the_kernel probe_accepts_the_kernel "${probe:-/nonexistent}"
check probe_refuses_missing_metadata probe_refuses_missing_metadata "${probe:-/nonexistent}"
check dpkg_remove_removes_the_module unloaded_and_removed
check no_module_left test ! -e "/lib/modules/$kver/updates/dkms/mydevice.ko"

finish
