#!/usr/bin/env bash
# The main job, end to end, on one machine: build ctflive, start
# ctflive-relayd, record a live LTTng session of the sample traced program
# into it, and watch the events live with babeltrace2 (or `ctflive view`,
# with --viewer ctflive) while they are being recorded.
#
# Usage: scripts/demo.sh [--events N] [--interval-ms MS] [--viewer babeltrace2|ctflive]
#                        [--no-install] [--keep]
# Run it as root on a fresh Debian 12 machine (it installs the packages it
# needs); as another user it needs the packages already installed.
set -euo pipefail

events=100
interval_ms=100
viewer=babeltrace2
install=1
keep=0
# Usage errors: one line, exit status 2, before anything is done.
usage_error() { echo "demo.sh: $*" >&2; exit 2; }
value_of() { [ $# -ge 2 ] || usage_error "option '$1' requires a value (try --help)"; }
while [ $# -gt 0 ]; do
	case "$1" in
	--events) value_of "$@"; events=$2; shift 2 ;;
	--interval-ms) value_of "$@"; interval_ms=$2; shift 2 ;;
	--viewer) value_of "$@"; viewer=$2; shift 2 ;;
	--no-install) install=0; shift ;;
	--keep) keep=1; shift ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) usage_error "unknown option '$1' (try --help)" ;;
	esac
done
# Decimal integers of at most 9 digits (no overflow, no octal in $((...))).
is_count() { [[ $1 =~ ^[0-9]{1,9}$ ]]; }
is_count "$events" && [ $((10#$events)) -gt 0 ] ||
	usage_error "--events must be a positive integer, not '$events'"
is_count "$interval_ms" && [ $((10#$interval_ms)) -le 4294967 ] ||
	usage_error "--interval-ms must be an integer from 0 to 4294967, not '$interval_ms'"
events=$((10#$events)) interval_ms=$((10#$interval_ms))
case "$viewer" in
babeltrace2|ctflive) ;;
*) usage_error "--viewer must be babeltrace2 or ctflive, not '$viewer'" ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$install" = 1 ] && [ "$(id -u)" = 0 ] && ! command -v lttng-sessiond >/dev/null; then
	echo "== installing dependencies"
	scripts/install-deps.sh
fi

echo "== building"
cmake --preset dev >/dev/null
cmake --build --preset dev >/dev/null
bin=$top/build/dev

work=$(mktemp -d /tmp/ctflive-demo.XXXXXX)
chmod 755 "$work"
relay_pid= sessiond_pid_file=
cleanup() {
	set +e
	[ -n "$sessiond_pid_file" ] && [ -f "$sessiond_pid_file" ] && kill "$(cat "$sessiond_pid_file")" 2>/dev/null
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
	if [ "$keep" = 1 ]; then echo "== kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Only one lttng-sessiond may run as root per machine: as root, run the
# tracing side as an unprivileged user with its own LTTNG_HOME.
run_as=()
if [ "$(id -u)" = 0 ]; then
	id ctflive-demo >/dev/null 2>&1 || useradd --system --create-home ctflive-demo
	chown ctflive-demo "$work"
	run_as=(runuser -u ctflive-demo --)
	# The sample program must be reachable by that user.
	install -m 755 "$bin/examples/ctflive-sample-app" "$work/ctflive-sample-app"
	app=$work/ctflive-sample-app
else
	app=$bin/examples/ctflive-sample-app
fi
as_tracer() { "${run_as[@]}" env LTTNG_HOME="$work" "$@"; }

echo "== starting ctflive-relayd (output: $work/traces)"
mkdir -p "$work/traces"
"$bin/src/relayd/ctflive-relayd" -o "$work/traces" -C tcp://127.0.0.1:0 -D tcp://127.0.0.1:0 \
	-L tcp://127.0.0.1:0 --port-file "$work/ports" -v &
relay_pid=$!
for _ in $(seq 50); do [ -f "$work/ports" ] && break; sleep 0.1; done
ctrl=$(awk '$1 == "control" {print $2}' "$work/ports")
data=$(awk '$1 == "data" {print $2}' "$work/ports")
live=$(awk '$1 == "live" {print $2}' "$work/ports")

echo "== starting lttng-sessiond and a live session 'demo'"
as_tracer lttng-sessiond --daemonize
sessiond_pid_file=$work/.lttng/lttng-sessiond.pid
as_tracer lttng create demo --live 200000 --ctrl-url "tcp://127.0.0.1:$ctrl" \
	--data-url "tcp://127.0.0.1:$data" >/dev/null
as_tracer lttng enable-event -u -s demo 'ctflive_sample:*' >/dev/null
as_tracer lttng start demo >/dev/null

url="net://127.0.0.1:$live/host/$(hostname)/demo"
echo "== watching $url live with $viewer"
if [ "$viewer" = ctflive ]; then
	"$bin/src/cli/ctflive" view "$url" &
else
	babeltrace2 -i lttng-live "$url" &
fi
viewer_pid=$!
sleep 1

echo "== running the sample program: $events events, one every $interval_ms ms"
as_tracer "$app" --count "$events" --interval-us $((interval_ms * 1000)) --name demo
sleep 1
as_tracer lttng destroy demo >/dev/null
status=0
wait "$viewer_pid" || status=$?
echo "== session destroyed, viewer exited with status $status; trace written by the relay:"
find "$work/traces" -maxdepth 6 -type d -path '*64-bit'
[ "$keep" = 1 ] || echo "   (removed at exit; run with --keep to keep it)"
exit "$status"
