# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash disable=SC2154 # `out` and `logs` are the sourcer's.
#
# What the guest scripts of the end-to-end tests on Debian's own kernels
# (e2e-debian.sh, e2e-trixie.sh) share: the DKMS checks of their install
# phases and the whole boot phase. Source it after ktap-check.sh, with
# `out` and `logs` set.

# dkms_installed KVER [VERSION]: DKMS built and installed mydevice (at
# VERSION, when given) for KVER.
dkms_installed() {
	dkms status mydevice
	dkms status mydevice | grep -q "^mydevice/${2:-[^,]*}, $1, [^:]*: installed"
}

# metadata_installed KVER: rust-metadata installed the Rust build metadata
# into KVER's headers, listed it, and left no scratch directory behind.
metadata_installed() {
	local hdr=/usr/src/linux-headers-$1
	ls "$hdr/rust" "$hdr/scripts/target.json" &&
		cat "$hdr/rust/.mydevice-rust-metadata" &&
		test -e "$hdr/rust/libkernel.rmeta" &&
		metadata_listed "$1" &&
		no_scratch_left
}

# metadata_listed KVER: the list that rust-metadata keeps in KVER's headers,
# which the kernel hook removes, names every file of ours there: each
# rust/*.rmeta, rust/*.so and scripts/target.json, and nothing else. It
# names target.json by its real path, in linux-kbuild-<version>'s scripts/.
metadata_listed() {
	local hdr=/usr/src/linux-headers-$1 listed present scripts
	scripts=$(readlink -f "$hdr/scripts")
	listed=$(grep -v '^#' "$hdr/rust/.mydevice-rust-metadata" |
		sed "s|^$scripts/|scripts/|" | sort)
	present=$(cd "$hdr" && printf '%s\n' rust/*.rmeta rust/*.so scripts/target.json | sort)
	if [ -z "$listed" ] || [ "$listed" != "$present" ]; then
		diff <(echo "$listed") <(echo "$present")
		return 1
	fi
}

# built_for KVER: DKMS built the Rust metadata and the module for KVER.
built_for() {
	dkms_installed "$1" && metadata_installed "$1"
}

# no_scratch_left: rust-metadata left no scratch directory in /var/tmp.
no_scratch_left() {
	local left
	left=$(find /var/tmp -maxdepth 1 -name 'mydevice-rust-metadata.*')
	[ -z "$left" ] || {
		echo "left behind: $left"
		return 1
	}
}

# module_from_dkms KVER: the module modprobe finds is the one DKMS
# installed for KVER.
module_from_dkms() {
	local path
	path=$(modinfo -k "$1" -n mydevice) || return 1
	modinfo -k "$1" mydevice
	case $path in
	/lib/modules/"$1"/updates/dkms/mydevice.ko* | /usr/lib/modules/"$1"/updates/dkms/mydevice.ko*) ;;
	*)
		echo "modprobe would load $path"
		return 1
		;;
	esac
}

# taints_only_o_and_e: the module tainted the kernel with O (out of tree,
# bit 12) and E (unsigned, bit 13), and nothing else did.
taints_only_o_and_e() {
	local taint
	taint=$(cat /proc/sys/kernel/tainted)
	echo "tainted: $taint"
	[ $((taint & 4096)) -ne 0 ] && [ $((taint & ~(4096 | 8192))) -eq 0 ]
}

# packaged_selftests_pass: the packaged selftests through the packaged
# run_kselftest.sh. That runner is the kernel's own, for which a skip is a
# pass; for this project it is not, as in every KTAP it checks.
packaged_selftests_pass() {
	/usr/lib/mydevice/kselftests/run_kselftest.sh | tee "$logs/packaged_selftests.ktap"
	[ "${PIPESTATUS[0]}" -eq 0 ] && ! grep -q '^ok .* # SKIP' "$logs/packaged_selftests.ktap"
}

# boot_phase KVER: in a VM booted from Debian's kernel KVER with the root:
# modprobe, mydevctl status, the packaged selftests through the packaged
# run_kselftest.sh, and the taint flags. Writes $out/boot.ktap.
boot_phase() {
	local kver=$1
	trap 'dmesg > "$out/dmesg.log"' EXIT
	exec >"$out/boot.ktap" 2>&1
	echo "TAP version 13"
	echo "1..6"
	check running_debian_kernel test "$(uname -r)" = "$kver"
	check module_is_the_dkms_build module_from_dkms "$kver"
	check modprobe_creates_the_node eval 'modprobe mydevice && test -c /dev/mydevice'
	check mydevctl_status mydevctl status
	check packaged_selftests packaged_selftests_pass
	check taints_only_o_and_e taints_only_o_and_e
	# The selftests' own KTAP, for the record.
	sed 's/^/# /' "$logs/packaged_selftests.log"
	finish
}
