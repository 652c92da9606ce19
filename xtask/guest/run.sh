#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
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

now_ms() { echo $(($(date +%s%N) / 1000000)); }
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
start=$(now_ms)
timeout 10 head -c 6 "$dev" >"$out/reader.out" &
reader=$!
sleep 1
# The reader is `head`, the child of `timeout`.
head_pid=$(pgrep -P "$reader" head || true)
state=$(awk '/^State:/ { print $2, $3 }' "/proc/${head_pid:-$reader}/status" 2>/dev/null || echo gone)
echo "reader (pid ${head_pid:-?}) after $(($(now_ms) - start)) ms: state $state"
echo "\$ echo world > $dev"
wrote=$(now_ms)
echo world >"$dev"
wait "$reader"
woke=$(now_ms)
echo "reader got: $(cat "$out/reader.out")"
echo "reader blocked for $((woke - start)) ms; returned $((woke - wrote)) ms after the write"
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
