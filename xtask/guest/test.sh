#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Guest side of `cargo xtask test`; runs as root inside the test VM.
#
# Usage: test.sh OUT MODULE BIN_DIR TIMEOUT LIST ENV KMEMLEAK DROPIN TEST
#   OUT      host directory shared read-write; every result goes there
#   MODULE   path of mydevice.ko
#   BIN_DIR  directory of the selftest binaries (target/release)
#   TIMEOUT  seconds each selftest may take
#   LIST     file naming the selftests to run, one per line
#   ENV      file of `export MYDEVICE_...=...` lines for the selftests, such
#            as a fuzz seed to replay
#   KMEMLEAK "true" on a kernel with kmemleak: scan for leaks after the
#            unload and write the report to kmemleak.log
#   DROPIN   install directory of the kselftest drop-in (empty: none), whose
#            run_kselftest.sh runs TEST, e.g. mydevice:ioctl, into dropin.ktap
#            and dropin.rc
#
# Order: module_lifecycle (module not loaded; it loads and unloads the module
# itself), insmod, KUnit results from debugfs, the other selftests, the
# kselftest drop-in's runner, every mydevctl command with --json
# (mydevctl-json.sh, into mydevctl-json/), rmmod.
# Each selftest writes selftests/NAME.ktap (stdout), NAME.stderr, NAME.rc.
# The script always ends by writing dmesg.log.

set -u
out=$1 ko=$2 bin_dir=$3 per_test=$4 list=$5 env=$6 kmemleak=$7 dropin=$8 dropin_test=$9
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck source=/dev/null
. "$env"
export MYDEVICE_KO=$ko
mkdir -p "$out/kunit" "$out/selftests"
trap 'dmesg > "$out/dmesg.log"' EXIT

run_selftest() {
	local name=$1 rc
	echo "guest: selftest $name"
	(cd "$out/selftests" && timeout -k 5 "$per_test" "$bin_dir/$name") \
		</dev/null >"$out/selftests/$name.ktap" 2>"$out/selftests/$name.stderr"
	rc=$?
	echo "$rc" >"$out/selftests/$name.rc"
	echo "guest: selftest $name exited $rc"
}

if grep -qx module_lifecycle "$list"; then
	run_selftest module_lifecycle
	if grep -q '^mydevice ' /proc/modules; then
		echo "guest: module_lifecycle left the module loaded; unloading it"
		rmmod mydevice
	fi
fi

echo "guest: insmod $ko"
insmod "$ko" 2>"$out/insmod.stderr"
echo $? >"$out/insmod.rc"

if grep -q '^mydevice ' /proc/modules; then
	debugfs=/sys/kernel/debug
	mountpoint -q "$debugfs" || mount -t debugfs debugfs "$debugfs"
	for suite in "$debugfs"/kunit/mydevice_*; do
		[ -r "$suite/results" ] || continue
		cat "$suite/results" >"$out/kunit/${suite##*/}.ktap"
	done

	while read -r name; do
		if [ -n "$name" ] && [ "$name" != module_lifecycle ]; then
			run_selftest "$name"
		fi
	done <"$list"

	if [ -n "$dropin" ]; then
		echo "guest: kselftest drop-in: run_kselftest.sh -t $dropin_test"
		"$dropin/run_kselftest.sh" -t "$dropin_test" </dev/null >"$out/dropin.ktap" 2>&1
		echo $? >"$out/dropin.rc"
	fi

	echo "guest: mydevctl --json"
	bash "$(dirname "$0")/mydevctl-json.sh" "$out/mydevctl-json" "$bin_dir/mydevctl"

	echo "guest: rmmod mydevice"
	rmmod mydevice 2>"$out/rmmod.stderr"
	echo $? >"$out/rmmod.rc"
fi

if [ "$kmemleak" = true ]; then
	# Objects freed in the last few seconds can still look unreferenced:
	# let them settle, and scan twice, as the kmemleak documentation does.
	echo "guest: kmemleak scan"
	sleep 5
	echo scan >/sys/kernel/debug/kmemleak
	sleep 5
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >"$out/kmemleak.log"
fi

touch "$out/done"
