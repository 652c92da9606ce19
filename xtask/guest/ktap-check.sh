# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash disable=SC2154 # `logs` is the sourcer's.
#
# KTAP helpers for the guest scripts that run one check per command
# (dkms.sh, e2e-debian.sh, e2e-trixie.sh). Source it after setting `logs`,
# the directory that gets one log per check.

n=0
failed=0

# check NAME COMMAND...: runs COMMAND with its output in $logs/NAME.log and
# prints a KTAP line for it, with the log's tail when it failed.
check() {
	local name=$1 start=$SECONDS
	shift
	n=$((n + 1))
	if "$@" >"$logs/$name.log" 2>&1; then
		echo "ok $n $name"
	else
		failed=$((failed + 1))
		echo "not ok $n $name"
		sed 's/^/# /' "$logs/$name.log" | tail -n 25
	fi
	echo "# $name took $((SECONDS - start)) s"
}

# finish: prints the counts; fails when a check failed.
finish() {
	echo "# $((n - failed)) passed, $failed failed"
	[ "$failed" -eq 0 ]
}
