#!/bin/sh
# test.sh - install everything needed, build with warnings as errors, and run the whole test
# suite: unit tests (ctest), integration tests (pytest against the real binary) and the web
# client's browser tests (tests/browser, headless Chromium); then the
# integration tests again with confabd under valgrind (any error or definite leak fails the
# test that ran it); then a build with AddressSanitizer + UndefinedBehaviorSanitizer and both
# suites under it; then the Debian package (tests/package/test-deb.sh: build, lintian, install,
# run as _confab, remove, purge). Run as root on Debian 12.
# CONFAB_SKIP_VALGRIND=1 / CONFAB_SKIP_ASAN=1 / CONFAB_SKIP_DEB=1 skip those passes (not in CI).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh all
sh scripts/lint.sh
jobs=$(nproc)

run_suite() { # build-dir
	# --no-tests=error: a build without the unit tests fails here instead of passing.
	ctest --test-dir "$1" --output-on-failure --no-tests=error
	CONFABD="$PWD/$1/confabd" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration
}

# Every option this build depends on is given, not taken from a cache another command left.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug -DCONFAB_WERROR=ON -DCONFAB_TESTS=ON \
	-DCONFAB_SANITIZE= >/dev/null
cmake --build build -j"$jobs"
run_suite build
# The web client in two headless Chromium sessions against this build.
CONFABD="$PWD/build/confabd" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/browser

if [ "${CONFAB_SKIP_VALGRIND:-0}" != 1 ]; then
	CONFAB_VALGRIND=1 CONFABD="$PWD/build/confabd" /usr/bin/python3 -m pytest -q \
		-p no:cacheprovider tests/integration
fi

if [ "${CONFAB_SKIP_ASAN:-0}" != 1 ]; then
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCONFAB_WERROR=ON -DCONFAB_TESTS=ON \
		-DCONFAB_SANITIZE=address,undefined >/dev/null
	cmake --build build-asan -j"$jobs"
	CONFAB_ASAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1 run_suite build-asan
fi
if [ "${CONFAB_SKIP_DEB:-0}" != 1 ]; then
	sh tests/package/test-deb.sh
fi
echo "test.sh: all suites passed"
