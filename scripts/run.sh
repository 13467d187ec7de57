#!/bin/sh
# run.sh - install what confabd needs, build it (in build-run/), and run it standalone
# (in-memory) on port 8080 serving the web client from this checkout. Run as root on Debian 12
# (apt-get installs).
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
if [ "$#" -eq 0 ]; then
	set -- --listen 127.0.0.1:8080
fi
exec ./build-run/confabd --config /dev/null "$@"
