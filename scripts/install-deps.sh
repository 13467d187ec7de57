#!/bin/sh
# install-deps.sh - install the Debian 12 packages needed to build, run and test confab.
# Run as root. Idempotent: apt-get skips what is already installed.
set -eu
export DEBIAN_FRONTEND=noninteractive

BUILD="build-essential cmake pkg-config libwebsockets-dev libwebsockets-evlib-ev libev-dev libhiredis-dev
libjansson-dev libsystemd-dev libinih-dev libssl-dev libcrypt-dev libjwt-dev zlib1g-dev uthash-dev"
TEST="libcmocka-dev redis-server redis-sentinel python3 python3-pytest python3-pytest-xdist python3-websockets python3-requests python3-jwt python3-cryptography
valgrind procps unicode-data clang libclang-rt-14-dev chromium chromium-driver python3-selenium systemd nginx openssl
debhelper dpkg-dev fakeroot lintian util-linux"

# nginx: tests/integration/test_nginx.py runs its own; on a host with systemd running, the
# package also starts nginx.service with Debian's default site on port 80.

case "${1:-all}" in
build) PKGS="$BUILD" ;;
all) PKGS="$BUILD $TEST" ;;
*) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac

apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
