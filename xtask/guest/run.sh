#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Guest side of `cargo xtask run`: a short transcript of the device at work.
#
# Usage: run.sh OUT MODULE
#   OUT     host directory shared read-write; dmesg.log goes there
#   MODULE  path of mydevice.ko

set -eu
out=$1 ko=$2
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
trap 'dmesg > "$out/dmesg.log"' EXIT
dev=/dev/mydevice

show() { echo "\$ $*"; "$@"; }

echo "== load the module"
show insmod "$ko"
show modinfo "$ko"
show ls -l "$dev"
echo

echo "== write, then read back"
echo "\$ echo hello > $dev"
echo hello >"$dev"
echo "\$ head -c 6 $dev"
timeout 5 head -c 6 "$dev"
echo

echo "== a reader blocks on the empty device, a writer wakes it"
# Timestamps come from bash's EPOCHREALTIME, so taking one costs no fork.
# The reader records the time its read() returned.
(
	read -r -N 6 data <"$dev"
	echo "$EPOCHREALTIME $data" >"$out/reader.out"
) &
reader=$!
started=$EPOCHREALTIME
(sleep 20 && kill "$reader" 2>/dev/null) &
watchdog=$!
sleep 1
echo "reader (pid $reader), 1 s later: $(grep '^State:' "/proc/$reader/status")"
echo "\$ echo world > $dev"
wrote=$EPOCHREALTIME
echo world >"$dev"
wait "$reader"
kill "$watchdog" 2>/dev/null || true
read -r woke data <"$out/reader.out"
us() { echo "${1/./}"; }
echo "reader got: $data"
echo "reader slept $((($(us "$woke") - $(us "$started")) / 1000)) ms;" \
	"its read() returned $(($(us "$woke") - $(us "$wrote"))) us after the write began"
echo

echo "== /proc/mydevice"
show cat /proc/mydevice
echo

echo "== unload"
show rmmod mydevice
if [ -e "$dev" ]; then
	echo "$dev still exists after rmmod"
	exit 1
fi
echo "$dev is gone"
