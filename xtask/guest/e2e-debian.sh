#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
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
#       the packaged selftests, mydevctl status and the taint flags
#       (e2e-common.sh).
#   e2e-debian.sh remove OUT KVER
#       In the chroot: the kernel's headers are purged, which leaves the
#       Rust metadata (Debian's headers packages run no removal hook); then
#       its image, whose postrm runs our kernel hook: the headers tree is
#       gone. Then the packages are purged.
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
# shellcheck source=e2e-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e-common.sh"

# --- install phase ---------------------------------------------------------

# install_is_skipped_with MESSAGE...: dpkg -i of both packages succeeds, DKMS
# only registers the module, its make.log holds every MESSAGE, no module is
# installed, and the headers carry nothing of ours.
install_is_skipped_with() {
	local log=/var/lib/dkms/mydevice/$version/build/make.log want
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

purge_then_install() {
	purge_packages && rm /usr/local/bin/rustc &&
		dpkg -i "$debs"/mydevice-dkms_*.deb "$debs"/mydevice-tools_*.deb
}

reinstall_linux_source() {
	rm -f /usr/local/bin/rustc
	dpkg -i /var/cache/apt/archives/linux-source-"$series"_*.deb
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
	version=$(dpkg-deb -f "$debs"/mydevice-dkms_*.deb Version)
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
	check purge_then_real_install purge_then_install
	check dkms_built_metadata_and_module built_for "$kver"
	check builder_is_idempotent builder_is_idempotent
	finish
}

# --- remove phase ----------------------------------------------------------

# purge_headers_leaves_the_list: after the headers package is purged, the
# only files left in its tree are the metadata and the list of it.
purge_headers_leaves_the_list() {
	local left listed
	metadata_listed "$kver" || return 1
	kbuild_target=$(readlink -f "$hdr/scripts/target.json")
	dpkg --purge "linux-headers-$kver" || return 1
	left=$(cd "$hdr" && find . -type f -printf '%P\n' | sort)
	listed=$({
		grep '^rust/' "$hdr/rust/.mydevice-rust-metadata"
		echo rust/.mydevice-rust-metadata
	} | sort)
	echo "left in $hdr:"
	echo "$left"
	[ -n "$left" ] && [ "$left" = "$listed" ]
}

# purge_image_removes_the_metadata: the image's postrm runs the kernel hook
# of mydevice-dkms, which removes the listed files and the emptied tree.
purge_image_removes_the_metadata() {
	ls /etc/kernel/postrm.d/
	dpkg --purge "linux-image-$kver" || return 1
	if [ -e "$hdr" ] || [ -e "$kbuild_target" ]; then
		find "$hdr" "$kbuild_target"
		return 1
	fi
}

remove_phase() {
	kver=$1
	hdr=/usr/src/linux-headers-$kver
	exec >"$out/remove.ktap" 2>&1
	echo "TAP version 13"
	echo "1..3"
	check purge_headers_leaves_the_list purge_headers_leaves_the_list
	check purge_image_removes_the_metadata purge_image_removes_the_metadata
	check purge_packages purge_packages
	finish
}

case $phase in
install) install_phase "$3" "$4" ;;
boot) boot_phase "$3" ;;
remove) remove_phase "$3" ;;
*)
	echo "usage: $0 install OUT DEB_DIR KVER | boot OUT KVER | remove OUT KVER" >&2
	exit 2
	;;
esac
