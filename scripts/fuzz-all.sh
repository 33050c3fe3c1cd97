#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs every libFuzzer harness, one after the other, and prints per harness:
# executions, seconds, executions per second, coverage (libFuzzer's cov:
# edges and ft: features), corpus size and crashes.
#
#   scripts/fuzz-all.sh [--runs N] [SECONDS] [HARNESS...]
#
# SECONDS (default 60) bounds each harness's run. With --runs N each harness
# runs N executions instead (-runs=N), however long that takes; a SECONDS
# given as well still bounds it. Examples:
#   scripts/fuzz-all.sh 120                 every harness, 2 minutes each
#   nice -n 19 scripts/fuzz-all.sh --runs 10000000 relayd index
#
# Builds build/fuzz (clang, -DCTFLIVE_FUZZ=ON, ASan+UBSan) if needed. Each
# harness runs as one process (-fork=0). New inputs go to
# $FUZZ_OUT/corpus/<harness> (FUZZ_OUT defaults to build/fuzz; the committed
# seeds in fuzz/corpus/<harness> are read, never written); crashes to
# $FUZZ_OUT/crashes/<harness>/, libFuzzer's output to
# $FUZZ_OUT/fuzz-<harness>.log. A corpus left by an earlier run is read
# again, so runs accumulate. Exit status 1 when any harness crashed.
# FUZZ_JOBS=N runs N harnesses at a time (default 1). With
# CTFLIVE_FIXTURES_DIR set, the TSDL harness is also seeded with every
# `metadata` file of the fixtures (copied under $FUZZ_OUT, never into the
# repository).
set -eu

runs=
if [ "${1:-}" = --runs ]; then
	[ $# -ge 2 ] || {
		echo "usage: $0 [--runs N] [SECONDS] [HARNESS...]" >&2
		exit 2
	}
	runs=$2
	shift 2
fi
secs=
case "${1:-}" in
[0-9]*)
	secs=$1
	shift
	;;
esac
[ -n "$secs" ] || [ -n "$runs" ] || secs=60
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build/fuzz
out=${FUZZ_OUT:-$build}
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
	mkdir -p "$out/corpus/$h" "$out/crashes/$h"
	log=$out/fuzz-$h.log
	seeds=$src/fuzz/corpus/$h
	[ -d "$seeds" ] || seeds=
	if [ "$h" = tsdl ] && [ -n "${CTFLIVE_FIXTURES_DIR:-}" ]; then
		mkdir -p "$out/seeds-tsdl"
		i=0
		find "$CTFLIVE_FIXTURES_DIR" -name metadata -type f | while read -r m; do
			i=$((i + 1))
			cp "$m" "$out/seeds-tsdl/fixture-$i"
		done
		seeds="$seeds $out/seeds-tsdl"
	fi
	limits=
	[ -z "$secs" ] || limits="-max_total_time=$secs"
	[ -z "$runs" ] || limits="$limits -runs=$runs"
	start=$(date +%s)
	# -fork=0: one process; a crash stops this harness only.
	"$build/fuzz/fuzz-$h-libfuzzer" $limits -fork=0 -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$h/" -close_fd_mask=3 \
		"$out/corpus/$h" $seeds >"$log" 2>&1 || true
	took=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(ls "$out/corpus/$h" | wc -l)
	crashes=$(ls "$out/crashes/$h" | grep -cv '^slow-unit-' || true)
	rate=?
	[ -z "$execs" ] || rate=$((execs / (took > 0 ? took : 1)))
	printf '%-12s execs %-10s %6ss %8s/s  cov %-6s ft %-7s corpus %-6s crashes %s\n' \
		"$h" "${execs:-?}" "$took" "$rate" "${cov:-?}" "${ft:-?}" "$corp" "$crashes"
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
	[ -z "$(ls "$out/crashes/$h" 2>/dev/null | grep -v '^slow-unit-')" ] || status=1
done
exit $status
