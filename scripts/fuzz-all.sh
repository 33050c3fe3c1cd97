#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs every libFuzzer harness for a given time and prints, per harness,
# executions, coverage (libFuzzer's cov: edges), corpus size and crashes.
#
#   scripts/fuzz-all.sh [SECONDS] [HARNESS...]
#
# Builds build/fuzz (clang, -DCTFLIVE_FUZZ=ON, ASan+UBSan) if needed. New
# inputs go to build/fuzz/corpus/<harness> (the committed seeds in
# fuzz/corpus/<harness> are read, never written); crashes to
# build/fuzz/crashes/<harness>/. Exit status 1 when any harness crashed.
# FUZZ_JOBS=N runs N harnesses at a time (default 1). With
# CTFLIVE_FIXTURES_DIR set, the TSDL harness is also seeded with every
# `metadata` file of the fixtures (copied under build/fuzz, never into the
# repository).
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build/fuzz
jobs=${FUZZ_JOBS:-1}

if [ ! -f "$build/build.ninja" ]; then
	CC=clang cmake -S "$src" -B "$build" -G Ninja -DCTFLIVE_FUZZ=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address,undefined >/dev/null
fi
ninja -C "$build" $(cd "$build" && ninja -t targets all | sed -n 's/^\(fuzz-[a-z0-9-]*-libfuzzer\):.*/\1/p') >/dev/null

if [ $# -eq 0 ]; then
	set -- $(ls "$build/fuzz" | sed -n 's/^fuzz-\(.*\)-libfuzzer$/\1/p')
fi

run_one() {
	h=$1
	mkdir -p "$build/corpus/$h" "$build/crashes/$h"
	log=$build/fuzz-$h.log
	seeds=$src/fuzz/corpus/$h
	[ -d "$seeds" ] || seeds=
	if [ "$h" = tsdl ] && [ -n "${CTFLIVE_FIXTURES_DIR:-}" ]; then
		mkdir -p "$build/seeds-tsdl"
		i=0
		find "$CTFLIVE_FIXTURES_DIR" -name metadata -type f | while read -r m; do
			i=$((i + 1))
			cp "$m" "$build/seeds-tsdl/fixture-$i"
		done
		seeds="$seeds $build/seeds-tsdl"
	fi
	# -fork=0: one process; a crash stops this harness only.
	"$build/fuzz/fuzz-$h-libfuzzer" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$build/crashes/$h/" -close_fd_mask=3 \
		"$build/corpus/$h" $seeds >"$log" 2>&1 || true
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(ls "$build/corpus/$h" | wc -l)
	crashes=$(ls "$build/crashes/$h" | wc -l)
	printf '%-12s %6ss  execs %-10s cov %-6s corpus %-6s crashes %s\n' \
		"$h" "$secs" "${execs:-?}" "${cov:-?}" "$corp" "$crashes"
}

status=0
n=0
for h in "$@"; do
	run_one "$h" &
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		wait
		n=0
	fi
done
wait
for h in "$@"; do
	[ -z "$(ls "$build/crashes/$h" 2>/dev/null)" ] || status=1
done
exit $status
