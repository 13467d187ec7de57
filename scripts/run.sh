#!/bin/sh
# run.sh - install what confabd needs, build it (in build-run/), and run it standalone
# (in-memory) on port 8080 serving the web client from this checkout. Run as root on Debian 12
# (apt-get installs). It keeps its state (accounts, offline inboxes) in ./run-state/.
# Extra arguments go to confabd, e.g. --listen 0.0.0.0:8080 to accept other machines.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh build
# Its own build directory: a release build without the unit tests must never be the cache
# that scripts/test.sh finds in build/.
cmake -S . -B build-run -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFAB_TESTS=OFF >/dev/null
cmake --build build-run -j"$(nproc)" --target confabd
echo "confabd: open http://127.0.0.1:8080/ (Ctrl-C stops it)"
export CONFAB_SERVER_WWW_DIR="$PWD/www"
# Accounts, the signing key and offline inboxes in the checkout (ignored by git), never in the
# system's /var/lib/confab: files root writes there would lock the package's _confab out.
export CONFAB_STATE_DIR="${CONFAB_STATE_DIR:-$PWD/run-state}"
if [ "$#" -eq 0 ]; then
	set -- --listen 127.0.0.1:8080
fi
exec ./build-run/confabd --config /dev/null "$@"
