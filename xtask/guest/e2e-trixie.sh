#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The phases of `cargo xtask e2e-trixie`, run inside a Debian trixie root
# with trixie-backports enabled, trixie's own toolchain, DKMS, and a first
# kernel with its headers (and its linux-source, for 7.2 and later). The
# packages of the second kernel wait in the root's apt cache.
#
#   e2e-trixie.sh install OUT DEB_DIR FROM
#       In the chroot: dpkg -i both packages. DKMS builds the Rust metadata
#       and the module for FROM or, for a kernel older than 7.2, skips it
#       with its BUILD_EXCLUSIVE message.
#   e2e-trixie.sh upgrade-kernel OUT FROM TO PACKAGE...
#       In the chroot: apt-get install -t trixie-backports PACKAGE... (TO's
#       image, headers and linux-source), as a user upgrades. DKMS's kernel
#       hook must build the module for TO with no manual step, and FROM
#       keeps its own.
#   e2e-trixie.sh boot OUT KVER
#       In a VM booted from KVER with this root: modprobe, mydevctl status,
#       the packaged selftests and the taint flags (e2e-common.sh).
#   e2e-trixie.sh upgrade-package OUT DEB_DIR FROM TO
#       In the chroot: dpkg -i both packages at a higher version built from
#       the same tree. DKMS must replace the module for every kernel that
#       had it, and leave nothing of the old version behind.
#
# OUT gets <phase>.ktap, one log per check in logs/, (boot) dmesg.log, and
# the `dkms status` after each upgrade in
# dkms-status-after-{kernel,package}-upgrade.txt.

set -u
phase=$1 out=$2
logs=$out/logs
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$logs"

# shellcheck source=ktap-check.sh
. "$(dirname "${BASH_SOURCE[0]}")/ktap-check.sh"
# shellcheck source=e2e-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e-common.sh"

# builds_for KVER: whether DKMS is to build the module for KVER, 7.2 or
# later (dkms.conf's BUILD_EXCLUSIVE_KERNEL_MIN).
builds_for() {
	local major=${1%%.*} minor=${1#*.}
	minor=${minor%%.*}
	[ "$major" -gt 7 ] || { [ "$major" -eq 7 ] && [ "$minor" -ge 2 ]; }
}

# --- install phase ---------------------------------------------------------

# toolchain_of KVER: shows the toolchain; for a kernel DKMS builds for, its
# rustc and bindgen must be the ones in the headers' .config.
toolchain_of() {
	local config=/usr/src/linux-headers-$1/.config
	rustc --version && bindgen --version && gcc --version | head -n 1 && dkms --version
	builds_for "$1" || return 0
	grep -E '^CONFIG_(RUSTC|BINDGEN|CC)_VERSION_TEXT=' "$config"
	grep -qxF "CONFIG_RUSTC_VERSION_TEXT=\"$(rustc --version)\"" "$config" &&
		grep -qxF "CONFIG_BINDGEN_VERSION_TEXT=\"$(bindgen --version)\"" "$config"
}

# dkms_skipped KVER LOG: DKMS refused KVER with its BUILD_EXCLUSIVE message
# (in LOG, the output of the install), installed nothing for it, and left
# its headers alone.
dkms_skipped() {
	dkms status mydevice
	grep -F "includes a BUILD_EXCLUSIVE directive" "$2" &&
		! dkms status mydevice | grep -q ", $1, .*: installed" &&
		! ls /lib/modules/"$1"/updates/dkms/mydevice.ko* 2>/dev/null &&
		test ! -e "/usr/src/linux-headers-$1/rust"
}

install_phase() {
	local debs=$1 from=$2
	exec >"$out/install.ktap" 2>&1
	echo "TAP version 13"
	echo "1..3"
	check "toolchain_for_$from" toolchain_of "$from"
	check dpkg_install dpkg -i "$debs"/mydevice-dkms_*.deb "$debs"/mydevice-tools_*.deb
	if builds_for "$from"; then
		check "dkms_built_metadata_and_module_for_$from" built_for "$from"
	else
		check "dkms_skips_$from" dkms_skipped "$from" "$logs/dpkg_install.log"
	fi
	finish
}

# --- kernel upgrade phase --------------------------------------------------

upgrade_kernel_phase() {
	local from=$1 to=$2
	shift 2
	exec >"$out/upgrade-kernel.ktap" 2>&1
	echo "TAP version 13"
	echo "1..4"
	check apt_install_the_new_kernel apt-get -o Acquire::Check-Valid-Until=false \
		install -y --no-install-recommends -t trixie-backports "$@"
	# The hooks of the image and the headers run `dkms autoinstall`; the
	# build shows in apt's output.
	check "dkms_hook_built_for_$to" grep -F "Autoinstall on $to succeeded for module(s) mydevice" \
		"$logs/apt_install_the_new_kernel.log"
	check "dkms_built_metadata_and_module_for_$to" built_for "$to"
	if builds_for "$from"; then
		check "dkms_keeps_the_module_for_$from" dkms_installed "$from"
	else
		check "dkms_still_skips_$from" dkms_skipped "$from" "$logs/dpkg_install.log"
	fi
	dkms status >"$out/dkms-status-after-kernel-upgrade.txt" 2>&1
	finish
}

# --- package upgrade phase -------------------------------------------------

# module_replaced KVER: DKMS installed the new version's own build for KVER,
# over the module that was there before the upgrade.
module_replaced() {
	local file built before after
	dkms_installed "$1" "$new" || return 1
	file=$(ls /lib/modules/"$1"/updates/dkms/mydevice.ko*) || return 1
	built=$(ls /var/lib/dkms/mydevice/"$new"/"$1"/*/module/mydevice.ko*) || return 1
	cmp "$file" "$built" || return 1
	before=$(awk -v f="$file" '$2 == f { print $1 }' "$out/modules-before.txt")
	after=$(stat -c %Y "$file")
	echo "$file: installed at ${before:-?}, now at $after; the same file as $built"
	[ -n "$before" ] && [ "$after" -gt "$before" ]
}

# no_stale_build KVER...: DKMS knows the new version only, nothing of the
# old one is left in its tree, in /usr/src or in /var/tmp, and each kernel
# has one mydevice module.
no_stale_build() {
	local entry k
	dkms status
	! dkms status mydevice | grep -v "^mydevice/$new, " | grep . || return 1
	test ! -e "/var/lib/dkms/mydevice/$old" && test ! -e "/usr/src/mydevice-$old" || return 1
	for entry in /var/lib/dkms/mydevice/*; do
		echo "$entry -> $(readlink "$entry")"
		case ${entry##*/} in
		"$new") ;;
		kernel-*) readlink "$entry" | grep -q "^$new/" || return 1 ;;
		*) return 1 ;;
		esac
	done
	for k in "$@"; do
		find /lib/modules/"$k" -name 'mydevice.ko*'
		[ "$(find /lib/modules/"$k" -name 'mydevice.ko*' | wc -l)" -eq 1 ] || return 1
	done
	no_scratch_left
}

# purged_clean KVER...: purging both packages after the upgrade leaves
# nothing: DKMS knows no mydevice, its tree and the sources are gone, no
# kernel has a mydevice module, the Rust metadata is gone from every
# headers tree (with the list that named it), and so are the conffiles.
purged_clean() {
	local k left
	dpkg --purge mydevice-tools mydevice-dkms || return 1
	dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' mydevice-dkms mydevice-tools 2>&1
	! dkms status mydevice | grep . || return 1
	left=$(ls -d /var/lib/dkms/mydevice /usr/src/mydevice-* /etc/modprobe.d/mydevice.conf \
		/usr/lib/udev/rules.d/60-mydevice.rules /lib/udev/rules.d/60-mydevice.rules 2>/dev/null)
	[ -z "$left" ] || {
		echo "left behind: $left"
		return 1
	}
	for k in "$@"; do
		left=$(find /lib/modules/"$k" -name 'mydevice.ko*'
			ls -d /usr/src/linux-headers-"$k"/rust /usr/src/linux-headers-"$k"/scripts/target.json 2>/dev/null)
		[ -z "$left" ] || {
			echo "left behind for $k: $left"
			return 1
		}
	done
	no_scratch_left
}

version_is_higher() {
	echo "$old -> $new"
	dpkg --compare-versions "$new" gt "$old"
}

upgrade_package_phase() {
	local debs=$1 from=$2 to=$3 kernels=$3 skipped=0 k
	old=$(dpkg-query -W -f='${Version}' mydevice-dkms)
	new=$(dpkg-deb -f "$debs"/mydevice-dkms_*.deb Version)
	if builds_for "$from"; then
		kernels="$from $to"
	else
		skipped=1
	fi
	for k in $kernels; do
		stat -c '%Y %n' /lib/modules/"$k"/updates/dkms/mydevice.ko*
	done >"$out/modules-before.txt" 2>&1
	exec >"$out/upgrade-package.ktap" 2>&1
	echo "TAP version 13"
	# shellcheck disable=SC2086 # $kernels is a list
	set -- $kernels
	echo "1..$((4 + $# + skipped))"
	check new_version_is_higher version_is_higher
	check dpkg_upgrade dpkg -i "$debs"/mydevice-dkms_*.deb "$debs"/mydevice-tools_*.deb
	for k in "$@"; do
		check "dkms_replaced_the_module_for_$k" module_replaced "$k"
	done
	if [ "$skipped" -eq 1 ]; then
		check "dkms_skips_${from}_again" dkms_skipped "$from" "$logs/dpkg_upgrade.log"
	fi
	check no_stale_build no_stale_build "$@"
	dkms status >"$out/dkms-status-after-package-upgrade.txt" 2>&1
	check purge_after_upgrade_leaves_nothing purged_clean "$@"
	finish
}

case $phase in
install) install_phase "$3" "$4" ;;
upgrade-kernel) upgrade_kernel_phase "${@:3}" ;;
boot) boot_phase "$3" ;;
upgrade-package) upgrade_package_phase "$3" "$4" "$5" ;;
*)
	echo "usage: $0 install OUT DEB_DIR FROM | upgrade-kernel OUT FROM TO PACKAGE..." \
		"| boot OUT KVER | upgrade-package OUT DEB_DIR FROM TO" >&2
	exit 2
	;;
esac
