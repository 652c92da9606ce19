#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Both halves of `cargo xtask e2e-debian`, run inside a Debian sid root that
# has the stock kernel, its headers, linux-source and the Rust toolchain.
#
#   e2e-debian.sh install OUT DEB_DIR KVER
#       In the chroot, at native speed: the negative tests (linux-source
#       missing, then a rustc that does not match: the install succeeds,
#       DKMS skips the build with the one-paragraph message, and nothing is
#       half-installed), then the real install, where DKMS builds the Rust
#       metadata and the module.
#   e2e-debian.sh boot OUT KVER
#       In a VM booted from Debian's own kernel with this root: modprobe,
#       the packaged selftests, mydevctl status and the taint flags.
#
# OUT gets <phase>.ktap, one log per check in logs/, and (boot) dmesg.log.

set -u
phase=$1 out=$2
logs=$out/logs
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$logs"

# shellcheck source=ktap-check.sh
. "$(dirname "${BASH_SOURCE[0]}")/ktap-check.sh"

# --- install phase ---------------------------------------------------------

# install_is_skipped_with MESSAGE...: dpkg -i of both packages succeeds, DKMS
# only registers the module, its make.log holds every MESSAGE, no module is
# installed, and the headers carry nothing of ours.
install_is_skipped_with() {
	local log=/var/lib/dkms/mydevice/0.1.0/build/make.log want
	dpkg -i "$debs"/mydevice-dkms_*.deb "$debs"/mydevice-tools_*.deb || return 1
	dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' mydevice-dkms mydevice-tools
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' mydevice-dkms)" = "ii " ] || return 1
	dkms status mydevice
	dkms status mydevice | grep -q ': added$' || return 1
	sed -n '/cannot build/,/apt install/p' "$log"
	# The message is folded at spaces: match it with the line breaks removed.
	for want in "$@"; do
		tr -d '\n' <"$log" | grep -qF -- "$want" || { echo "make.log lacks: $want"; return 1; }
	done
	! ls /lib/modules/"$kver"/updates/dkms/mydevice.ko* 2>/dev/null || return 1
	test ! -e "$hdr/rust" && test ! -e "$hdr/scripts/target.json"
}

purge_packages() {
	dpkg --purge mydevice-tools mydevice-dkms &&
		! dkms status mydevice | grep -q .
}

# A rustc that reports another version, first on PATH.
fake_rustc() {
	printf '#!/bin/sh\necho "rustc 1.96.0 (0123456789 2026-05-28)"\n' >/usr/local/bin/rustc &&
		chmod 755 /usr/local/bin/rustc
}

reinstall_linux_source() {
	rm -f /usr/local/bin/rustc
	dpkg -i /var/cache/apt/archives/linux-source-"$series"_*.deb
}

dkms_installed() {
	dkms status mydevice
	dkms status mydevice | grep -q "$kver.*: installed"
}

metadata_installed() {
	ls "$hdr/rust" "$hdr/scripts/target.json" &&
		cat "$hdr/rust/.mydevice-rust-metadata" &&
		test -e "$hdr/rust/libkernel.rmeta" &&
		ls -d /var/tmp/mydevice-rust-metadata.* 2>/dev/null | wc -l | grep -qx 0
}

builder_is_idempotent() {
	local before after
	before=$(stat -c %Y "$hdr/rust/libkernel.rmeta")
	/usr/lib/mydevice/rust-metadata "$kver" | tee /dev/stderr | grep -q "nothing to do" &&
		after=$(stat -c %Y "$hdr/rust/libkernel.rmeta") &&
		[ "$before" = "$after" ]
}

install_phase() {
	debs=$1 kver=$2
	hdr=/usr/src/linux-headers-$kver
	series=$(echo "$kver" | cut -d. -f1-2)
	exec >"$out/install.ktap" 2>&1
	echo "TAP version 13"
	echo "1..8"
	check remove_linux_source dpkg -r "linux-source-$series"
	check install_without_linux_source_is_skipped \
		install_is_skipped_with "linux-source-$series (= " "apt install linux-source-$series="
	check purge_after_skip purge_packages
	check reinstall_linux_source_fake_rustc eval 'reinstall_linux_source && fake_rustc'
	check install_with_other_rustc_is_skipped \
		install_is_skipped_with "but 'rustc' is 'rustc 1.96.0" "apt install rustc="
	check purge_then_real_install eval 'purge_packages && rm /usr/local/bin/rustc &&
		dpkg -i "$debs"/mydevice-dkms_*.deb "$debs"/mydevice-tools_*.deb'
	check dkms_built_metadata_and_module eval 'dkms_installed && metadata_installed'
	check builder_is_idempotent builder_is_idempotent
	finish
}

# --- boot phase ------------------------------------------------------------

not_proprietary() {
	local taint
	taint=$(cat /proc/sys/kernel/tainted)
	echo "tainted: $taint"
	# Bit 0 is P (proprietary); O (12) and E (13) are expected.
	[ $((taint & 1)) -eq 0 ]
}

boot_phase() {
	kver=$1
	trap 'dmesg > "$out/dmesg.log"' EXIT
	exec >"$out/boot.ktap" 2>&1
	echo "TAP version 13"
	echo "1..5"
	check running_debian_kernel test "$(uname -r)" = "$kver"
	check modprobe_creates_the_node eval 'modprobe mydevice && test -c /dev/mydevice'
	check mydevctl_status mydevctl status
	check packaged_selftests /usr/lib/mydevice/kselftests/run_kselftest.sh
	check taints_no_proprietary not_proprietary
	# The selftests' own KTAP, for the record.
	sed 's/^/# /' "$logs/packaged_selftests.log"
	finish
}

case $phase in
install) install_phase "$3" "$4" ;;
boot) boot_phase "$3" ;;
*)
	echo "usage: $0 install OUT DEB_DIR KVER | boot OUT KVER" >&2
	exit 2
	;;
esac
