#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs the installed mydevice selftests, laid out as an installed kselftest
# tree: kselftest-list.txt names "collection:test" per line, and each test is
# the program <collection>/<test> beside this script, with the timeout from
# <collection>/settings. Each test prints KTAP; this prints one KTAP line per
# test, as the kernel's kselftest runner does, and a closing summary.
#
# Exit status: 0 when every test passed, 1 otherwise.

set -u
base=$(dirname "$(readlink -f "$0")")
list=$base/kselftest-list.txt
total=$(grep -c : "$list")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
n=0
pass=0
fail=0

echo "TAP version 13"
echo "1..$total"
while IFS=: read -r collection test; do
	n=$((n + 1))
	limit=$(sed -n 's/^timeout=//p' "$base/$collection/settings" 2>/dev/null)
	echo "# selftests: $collection: $test"
	(cd "$base/$collection" && timeout "${limit:-45}" "./$test") >"$out" 2>&1 </dev/null
	rc=$?
	sed 's/^/# /' "$out"
	case $rc in
	0)
		pass=$((pass + 1))
		echo "ok $n selftests: $collection: $test"
		;;
	4)
		# A skip is not a pass: the device or a requirement is missing.
		fail=$((fail + 1))
		echo "not ok $n selftests: $collection: $test # SKIP"
		;;
	124)
		fail=$((fail + 1))
		echo "not ok $n selftests: $collection: $test # TIMEOUT ${limit:-45} seconds"
		;;
	*)
		fail=$((fail + 1))
		echo "not ok $n selftests: $collection: $test # exit=$rc"
		;;
	esac
done <"$list"

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
