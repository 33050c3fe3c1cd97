#!/usr/bin/env bash
# Sets up and runs the test suite on its own: installs the Debian packages the
# build and the tests need (as root; as another user they must already be
# installed), then builds with gcc (warnings as errors) and runs every test.
#
# Usage: scripts/test.sh [--preset dev|asan] [--no-install] [CTEST_ARGS...]
#   --preset asan   clang with AddressSanitizer + UndefinedBehaviorSanitizer
#   --no-install    skip the package installation
# Remaining arguments go to ctest (e.g. -R it-sessions, -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

preset=dev
install=1
while [ $# -gt 0 ]; do
	case "$1" in
	--preset)
		[ $# -ge 2 ] || { echo "test.sh: --preset needs a value" >&2; exit 2; }
		preset=$2; shift 2 ;;
	--no-install) install=0; shift ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
case "$preset" in
dev|asan) ;;
*) echo "test.sh: unknown preset '$preset' (dev or asan)" >&2; exit 2 ;;
esac

if [ "$install" = 1 ]; then
	if [ "$(id -u)" = 0 ]; then
		scripts/install-deps.sh
	else
		echo "test.sh: not root: assuming the packages of scripts/install-deps.sh are installed" >&2
	fi
fi

cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset" "$@"
