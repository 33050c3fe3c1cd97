#!/usr/bin/env bash
# Installs what ctflive needs to build, test and run its demo on Debian 12.
# Run as root (or through sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
# --no-upgrade: what is installed already stays as it is (a developer machine).
apt-get install -y --no-install-recommends --no-upgrade \
	build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev \
	scdoc man-db \
	libcmocka-dev libjson-c-dev libsystemd-dev systemd libmicrohttpd-dev python3 python3-pytest \
	chromium chromium-driver python3-selenium \
	lttng-tools liblttng-ust-dev babeltrace2 tshark python3-barectf \
	procps passwd util-linux ca-certificates mmdebstrap \
	libnats-dev libssl-dev openssl nats-server
