#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Guest side of `cargo xtask soak`, and of the churn run on more vCPUs in
# `cargo xtask test`: loads the module, runs the churn selftest for SECS
# seconds, and unloads the module.
#
# Usage: soak.sh OUT MODULE CHURN SECS [VAR=VALUE...]
#   OUT     host directory shared read-write; selftests/churn.ktap,
#           churn.stderr, churn.rc and dmesg.log go there
#   MODULE  path of mydevice.ko
#   CHURN   path of the churn selftest program
#   SECS    how long the records stream (MYDEVICE_SOAK_SECS)
#   VAR=VALUE  more variables for the churn, e.g. MYDEVICE_CHURN_LOG_WORDS

set -u
out=$1 ko=$2 churn=$3 secs=$4
shift 4
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$out/selftests"
trap 'dmesg > "$out/dmesg.log"' EXIT

echo "guest: $(nproc) CPUs; insmod $ko"
insmod "$ko" || exit 1
echo "guest: churn for $secs s${*:+ with $*}"
(cd "$out/selftests" && env MYDEVICE_SOAK_SECS="$secs" "$@" "$churn") </dev/null \
	2>"$out/selftests/churn.stderr" | tee "$out/selftests/churn.ktap"
rc=${PIPESTATUS[0]}
echo "$rc" >"$out/selftests/churn.rc"
echo "guest: churn exited $rc; rmmod mydevice"
rmmod mydevice || exit 1
exit "$rc"
