#!/usr/bin/env bash
# Compiles every public header of libctflive on its own, as C17 and as
# C++17, warnings as errors: each header includes what it needs and is
# usable from C++ (extern "C").
# Usage: check-headers.sh INCLUDE_DIR [CC CXX]...  (default: gcc g++)
set -euo pipefail
inc=$1
shift
[ $# -gt 0 ] || set -- gcc g++
[ $(($# % 2)) = 0 ] || { echo "check-headers.sh: CC CXX pairs expected" >&2; exit 2; }
fail=0
n=0
while [ $# -gt 0 ]; do
	cc=$1 cxx=$2
	shift 2
	for h in "$inc"/ctflive/*.h; do
		name=ctflive/$(basename "$h")
		for lang in c c++; do
			if [ "$lang" = c ]; then
				comp=$cc std=-std=c17
			else
				comp=$cxx std=-std=c++17
			fi
			n=$((n + 1))
			if ! printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' \
				"$name" "$name" |
				"$comp" "$std" -Wall -Wextra -Wpedantic -Werror -I"$inc" \
					-x "$lang" -fsyntax-only -; then
				echo "FAIL: $name with $comp $std" >&2
				fail=1
			fi
		done
	done
done
[ "$fail" = 0 ] && echo "ok: $n header compilations"
exit "$fail"
