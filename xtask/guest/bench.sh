#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Guest side of `cargo xtask bench`: loads the module at its default
# capacity, runs the benchmark against the device and a pipe, and unloads it.
#
# Usage: bench.sh OUT MODULE BENCH VERDICT [BENCH ARGS...]
#   OUT      host directory shared read-write; bench.json, bench.txt and
#            dmesg.log go there
#   MODULE   path of mydevice.ko
#   BENCH    path of the mydevice-bench program
#   VERDICT  the host's cached KVM verdict file ("kvm: ..." or "tcg: ...")

set -euo pipefail
out=$1 ko=$2 bench=$3 verdict=$4
shift 4
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
trap 'dmesg > "$out/dmesg.log"' EXIT

mode=$(cut -d: -f1 "$verdict")
insmod "$ko"
rc=0
"$bench" --vm-mode "$mode" --json "$out/bench.json" "$@" | tee "$out/bench.txt" || rc=$?
rmmod mydevice
exit "$rc"
