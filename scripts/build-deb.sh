#!/usr/bin/env bash
# Builds the Debian packages (ctflive-relayd, ctflive, libctflive0,
# libctflive-dev) from a copy of this tree with `dpkg-buildpackage -us -uc -b`
# and checks them with lintian. Run as root, it first installs what that
# needs (scripts/install-deps.sh, debhelper, lintian).
#
# Usage: scripts/build-deb.sh [--no-install] [OUTDIR]
#   OUTDIR (default build/deb) receives the .deb files, the .changes and
#   lintian.txt (lintian's report). Exit status: non-zero on a build failure
#   or a lintian error.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

install=1
if [ "${1:-}" = --no-install ]; then
	install=0
	shift
fi
case "${1:-}" in -h|--help) sed -n '2,11p' "$0"; exit 0 ;; esac
out=$(realpath -m "${1:-build/deb}")

if [ "$install" = 1 ] && [ "$(id -u)" = 0 ]; then
	scripts/install-deps.sh
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		debhelper dpkg-dev fakeroot lintian
fi

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
rm -rf "$out"
mkdir -p "$out/src/ctflive-$version"
# The tracked and new (not ignored) files of the working tree.
git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t "$out/src/ctflive-$version"
# The unit tests run at build time read the shared fixtures in place.
fixtures=$(realpath -m "$src/../shared/fixtures")
export CTFLIVE_FIXTURES_DIR=$fixtures
(cd "$out/src/ctflive-$version" && dpkg-buildpackage -us -uc -b)
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
rm -rf "$out/src"
ls -l "$out"/*.deb
# Errors fail; warnings and the rest are reported.
set +e
lintian --info --display-info --pedantic "$out"/*.changes >"$out/lintian.txt" 2>&1
cat "$out/lintian.txt"
if grep -q '^E: ' "$out/lintian.txt"; then
	echo "build-deb.sh: lintian reports errors" >&2
	exit 1
fi
echo "build-deb.sh: packages in $out"
