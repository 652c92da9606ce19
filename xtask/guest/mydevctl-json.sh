#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs every mydevctl command with --json against the loaded module, and
# some that fail, keeping each run's output for the host to validate against
# docs/mydevctl.schema.json. Called by test.sh while the module is loaded;
# leaves the device hung up until its last file is closed, with data in it.
#
# Usage: mydevctl-json.sh OUT MYDEVCTL
#   OUT       directory for NAME.jsonl (standard output), NAME.stderr and
#             NAME.rc of each run
#   MYDEVCTL  the mydevctl binary

set -u
out=$1 mydevctl=$2
mkdir -p "$out"

# run NAME ARGS...: runs mydevctl --json ARGS with its results in OUT/NAME.*.
run() {
	local name=$1
	shift
	timeout 30 "$mydevctl" --json "$@" </dev/null \
		>"$out/$name.jsonl" 2>"$out/$name.stderr"
	echo $? >"$out/$name.rc"
}

# An empty buffer first, so that the write below cannot block.
run clear clear
printf 'hello' >/dev/mydevice
run status status
run stats stats
run resize resize 8K
run watch watch --count 2 --interval 0.1
run hangup hangup
# Errors: each must still print one valid object.
run error-usage resize 0
run error-enoent --device /nonexistent/mydevice status
run error-enotty --device /proc/mydevice stats
