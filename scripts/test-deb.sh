#!/usr/bin/env bash
# The Debian packages on a fresh Debian 12 system (slow, opt-in; as root):
# builds them (scripts/build-deb.sh, lintian included), then runs
# tests/integration/test_package_fresh_root.py: `apt install ./*.deb` in a
# new `mmdebstrap --variant=minbase bookworm` root, `systemd-analyze verify`
# of the installed unit, the installed daemon started as the unit starts it
# reporting READY=1 through NOTIFY_SOCKET, a live LTTng session streamed
# into it and read with babeltrace2.
#
# Usage: scripts/test-deb.sh [--no-install] [PYTEST_ARGS...]
# The minbase root is made once and cached in $CTFLIVE_FRESH_ROOT_TAR
# (default /var/cache/ctflive-tests/bookworm-minbase.tar); remove it to
# start from today's bookworm.
set -euo pipefail
cd "$(dirname "$0")/.."

install=()
if [ "${1:-}" = --no-install ]; then
	install=(--no-install)
	shift
fi
case "${1:-}" in -h|--help) sed -n '2,13p' "$0"; exit 0 ;; esac
[ "$(id -u)" = 0 ] || { echo "test-deb.sh: run as root (chroot, mounts)" >&2; exit 2; }

scripts/build-deb.sh "${install[@]}" build/deb
# The live session comes from the host's LTTng and its sample program.
cmake --preset dev >/dev/null
cmake --build --preset dev --target ctflive-sample-app

tar=${CTFLIVE_FRESH_ROOT_TAR:-/var/cache/ctflive-tests/bookworm-minbase.tar}
if [ ! -f "$tar" ]; then
	mkdir -p "$(dirname "$tar")"
	mmdebstrap --variant=minbase --format=tar bookworm "$tar.tmp"
	mv "$tar.tmp" "$tar"
fi
export CTFLIVE_FRESH_ROOT_TAR=$tar
export CTFLIVE_DEB_DIR=$PWD/build/deb
export CTFLIVE_BUILD_DIR=$PWD/build/dev
/usr/bin/python3 -m pytest -p no:cacheprovider -v -s \
	tests/integration/test_package_fresh_root.py "$@"
