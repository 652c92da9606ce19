#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Guest side of `cargo xtask bench --profile`: runs one row of the benchmark
# under `perf record -e cpu-clock -a -g`, with one recording for the device
# and one for the pipe, and writes perf's reports of each.
#
# Usage: profile.sh OUT MODULE BENCH VERDICT ROW [BENCH ARGS...]
#   OUT      host directory shared read-write; the reports, the bench
#            table, kallsyms and dmesg.log go there
#   MODULE   path of mydevice.ko
#   BENCH    path of the mydevice-bench program
#   VERDICT  the host's cached KVM verdict file ("kvm: ..." or "tcg: ...")
#   ROW      the row key, as `mydevice-bench --list-rows` prints it
#
# The two recordings run side by side from the start, with their events
# off; the benchmark switches each on for the runs of its side only
# (`--perf-ctl`), so the device's and the pipe's runs still alternate as in
# the table and a change of load on the host falls on both. It writes
# bench.txt, the table of the runs, and for each SIDE (device, pipe):
#   SIDE.report.txt    `perf report --stdio`: the whole system's call graph,
#                      entries by time including callees, down to 1%
#   SIDE.self.txt      the benchmark's processes only, flat, by self time,
#                      with sample counts; percentages of their samples
#   SIDE.children.txt  the same by time including callees
#   SIDE.comm.txt      samples per command: the benchmark, idle, the rest
#   SIDE.perf.data     the recording, unless it is larger than DATA_MAX
#   SIDE.record.log    perf record's messages
# Rust symbols are demangled, without their crate hashes. cpu-clock is a
# timer interrupt, not an NMI: time with interrupts off is charged to where
# they come back on (_raw_spin_unlock_irqrestore, finish_task_switch).

set -euo pipefail
out=$1 ko=$2 bench=$3 verdict=$4 row=$5
shift 5
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
trap 'dmesg > "$out/dmesg.log"' EXIT

# The sampling rate: low enough that the timer interrupts and the unwinding
# under emulation do not swamp what they measure.
FREQ=1000
# Recordings above this size (bytes) are not kept.
DATA_MAX=$((64 * 1024 * 1024))
SIDES=(device pipe)

# Kernel addresses, the module's among them, for perf: the test kernel has
# no debug info, so its symbols and the module's come from kallsyms.
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid

mode=$(cut -d: -f1 "$verdict")
perf --version > "$out/perf-version.txt"
insmod "$ko"
# After the insmod, so the module's symbols are in it: what `perf report
# --kallsyms` needs to read the recordings elsewhere.
cat /proc/kallsyms > "$out/kallsyms"

# Demangles Rust symbols and drops their crate hashes.
demangle() {
	c++filt | sed -E 's/\[[0-9a-f]{16}\]//g'
}

# perf maps its output file, which the 9p share does not allow.
data=$(mktemp -d)
declare -A perf_pid
for side in "${SIDES[@]}"; do
	mkfifo "$data/$side.ctl" "$data/$side.ack"
	# Held open read-write until the end, so that neither perf nor the
	# benchmark blocks opening its end.
	# shellcheck disable=SC2034 # the descriptors are held, never used
	exec {ctl_fd}<> "$data/$side.ctl" {ack_fd}<> "$data/$side.ack"
	perf record -e cpu-clock -F "$FREQ" -a -g --no-buildid-cache -D -1 \
		--control "fifo:$data/$side.ctl,$data/$side.ack" \
		-o "$data/$side.data" 2> "$out/$side.record.log" &
	perf_pid[$side]=$!
done

echo "profile: $row, device and pipe runs alternating, each side recorded apart"
rc=0
"$bench" --vm-mode "$mode" --row "$row" --perf-ctl "$data" "$@" \
	| tee "$out/bench.txt" || rc=$?

for side in "${SIDES[@]}"; do
	kill -INT "${perf_pid[$side]}"
	# perf exits with the signal's status when it is stopped this way.
	wait "${perf_pid[$side]}" || true
	tail -n 1 "$out/$side.record.log"
done
if [ "$rc" -ne 0 ]; then
	echo "profile: the benchmark failed (exit $rc)"
	rmmod mydevice
	exit "$rc"
fi

for side in "${SIDES[@]}"; do
	report=(perf report -i "$data/$side.data" --stdio --kallsyms /proc/kallsyms)
	"${report[@]}" --children --percent-limit 1 2> /dev/null | demangle \
		> "$out/$side.report.txt"
	# The samples sorted by command first: a filter on a command drops
	# whole entries, and an entry sorted by symbol alone mixes commands.
	# shellcheck disable=SC2054 # comm,sym is one argument
	flat=("${report[@]}" -g none -n --sort comm,sym --comms mydevice-bench
		--percentage relative)
	"${flat[@]}" --no-children --percent-limit 0.1 2> /dev/null | demangle \
		> "$out/$side.self.txt"
	"${flat[@]}" --children --percent-limit 0.5 2> /dev/null | demangle \
		> "$out/$side.children.txt"
	"${report[@]}" --no-children -g none -n --sort comm 2> /dev/null \
		> "$out/$side.comm.txt"
	if [ "$(stat -c %s "$data/$side.data")" -le "$DATA_MAX" ]; then
		cp "$data/$side.data" "$out/$side.perf.data"
	fi
done
rm -rf "$data"
rmmod mydevice
