#!/usr/bin/env bash
# libctflive.so exports exactly its public API: every dynamic symbol it
# defines is a ctflive_* function marked CTFLIVE_API in a public header, and
# every such function is exported, in version node CTFLIVE_0; the SONAME is
# libctflive.so.0.
# Usage: check-exports.sh LIBCTFLIVE_SO INCLUDE_DIR
set -euo pipefail
lib=$1 inc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libctflive.so.0 ] || { echo "FAIL: SONAME '$soname'" >&2; exit 1; }

# Defined dynamic symbols, without the version node itself.
nm -D --defined-only "$lib" | awk '$3 != "CTFLIVE_0" { sub(/@.*/, "", $3); print $3 }' |
	sort -u >"$tmp/exported"
# Symbol versions: every defined symbol in CTFLIVE_0.
if nm -D --defined-only --with-symbol-versions "$lib" 2>/dev/null |
	awk '$3 != "CTFLIVE_0" { print $3 }' | grep -v '@@CTFLIVE_0$'; then
	echo "FAIL: symbols above are not in version CTFLIVE_0" >&2
	exit 1
fi
# Public API: names of the functions declared with CTFLIVE_API.
grep -hv '^#' "$inc"/ctflive/*.h | tr '\n' ' ' | grep -oE 'CTFLIVE_API[^;(]*\(' |
	grep -oE '[A-Za-z_][A-Za-z0-9_]*\($' | tr -d '(' | sort -u >"$tmp/public"

if grep -v '^ctflive_' "$tmp/exported"; then
	echo "FAIL: symbols above are exported and not named ctflive_*" >&2
	exit 1
fi
if ! diff -u "$tmp/public" "$tmp/exported"; then
	echo "FAIL: exported symbols (+) differ from the CTFLIVE_API functions (-)" >&2
	exit 1
fi
echo "ok: $(wc -l <"$tmp/exported") symbols exported, all ctflive_*, SONAME $soname"
