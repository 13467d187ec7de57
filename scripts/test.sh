#!/bin/sh
# test.sh - install everything needed, build with warnings as errors, and run the whole test
# suite: unit tests (ctest), integration tests (pytest against the real binary) and the web
# client's browser tests (tests/browser, headless Chromium); then a selection of the
# integration tests again with confabd under valgrind (any error or definite leak fails the
# test that ran it; the selection is below); then a build with AddressSanitizer +
# UndefinedBehaviorSanitizer and both suites, whole, under it; then every libFuzzer harness for
# 15 s and the protocol fuzzer for 60 s (scripts/fuzz.sh); then the Debian package
# (tests/package/test-deb.sh: build, lintian, install, run as _confab, remove, purge). Run as
# root on Debian 12.
# CONFAB_SKIP_VALGRIND=1 / CONFAB_SKIP_ASAN=1 / CONFAB_SKIP_FUZZ=1 / CONFAB_SKIP_DEB=1 skip
# those passes (not in CI).
#
# CI time (.ci/run, 2 cores): about 18 minutes, under the 25 the project allows; each pass's
# time is in docs/fuzzing.md ("CI time"). Valgrind makes confabd 10-50 times slower and the
# whole suite under it takes more than 10 minutes, so it runs a selection instead (about 4
# minutes in two workers).
# The ASan+UBSan pass runs the whole suite and finds the same invalid accesses and leaks; what
# only valgrind finds is reads of uninitialised memory and descriptors left open (--track-fds),
# in the build that ships (no sanitizer). The selection therefore covers every module's code
# once, with the hostile inputs: the native protocol, each seed dialect, the REST API,
# accounts, inboxes and their state files, reload, hostile bytes for every parser, the
# hostile-client suite (test_hostile_*.py), and one cluster test (the bus and the Redis links,
# through a Redis restart). Left out: what exercises no C code of its own (nginx, systemd units
# and socket activation, TLS, which is OpenSSL's, the interop and packaging checks), what
# repeats the others under load (limits, rates, listeners, error codes), and the tests that
# start two nodes or wait for a drain (VALGRIND_SKIP, pytest -k): they are most of the time
# under valgrind and run whole under ASan. The whole suite under valgrind: CONFAB_VALGRIND=1
# CONFABD=build/confabd python3 -m pytest tests/integration.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh all
sh scripts/lint.sh
jobs=$(nproc)
t0=$(date +%s)
# Each pass says when it starts, so a CI log shows where the 25 minutes go.
step() {
	echo "test.sh: $(($(date +%s) - t0)) s: $*"
}

# The integration tests run in $jobs pytest workers at once (python3-pytest-xdist), a file's
# tests in one worker (their module fixtures are shared): most of a test's time is spent waiting
# for a server, so two workers on two cores take 0.6 of the time one does. Each test uses
# random free ports and temporary directories of its own (tests/integration/confabtest.py).
PYTEST_PAR="-n $jobs --dist loadfile"

run_suite() { # build-dir
	# --no-tests=error: a build without the unit tests fails here instead of passing.
	ctest --test-dir "$1" --output-on-failure --no-tests=error
	# shellcheck disable=SC2086
	CONFABD="$PWD/$1/confabd" /usr/bin/python3 -m pytest -q -p no:cacheprovider $PYTEST_PAR \
		tests/integration
}

step build
# Every option this build depends on is given, not taken from a cache another command left.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug -DCONFAB_WERROR=ON -DCONFAB_TESTS=ON \
	-DCONFAB_SANITIZE= >/dev/null
cmake --build build -j"$jobs"
step "unit and integration tests"
run_suite build
step "browser tests"
# The web client in two or three headless Chromium sessions at once against this build
# (one test starts two nodes on a Redis of its own).
CONFABD="$PWD/build/confabd" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/browser

VALGRIND_TESTS="test_native.py test_dialect_000.py test_dialect_001.py test_dialect_002.py
test_dialect_003.py test_dialect_004.py test_http.py test_accounts.py test_inbox.py
test_bad_input.py test_lifecycle.py test_cluster.py::test_redis_killed_and_restarted_loses_nothing
test_hostile_churn.py test_hostile_floods.py test_hostile_handshake.py test_hostile_identity.py
test_hostile_limits.py test_hostile_login.py test_hostile_logs.py test_hostile_names.py
test_hostile_pipelining.py test_hostile_slow.py test_dm_delivery.py test_hostile_inbox.py
test_jwt.py test_rules.py test_typing.py test_read.py test_directory.py
test_edit.py::test_edit_and_delete_reach_members_and_history test_admin.py"
VALGRIND_SKIP="cluster_ or two_nodes or sharded or draining"
if [ "${CONFAB_SKIP_VALGRIND:-0}" != 1 ]; then
	step "integration tests under valgrind (a selection)"
	# shellcheck disable=SC2086
	(cd tests/integration && CONFAB_VALGRIND=1 CONFABD="$PWD/../../build/confabd" \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider $PYTEST_PAR \
		-k "not ($VALGRIND_SKIP)" $VALGRIND_TESTS)
fi

if [ "${CONFAB_SKIP_ASAN:-0}" != 1 ]; then
	step "ASan+UBSan build and tests"
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCONFAB_WERROR=ON -DCONFAB_TESTS=ON \
		-DCONFAB_SANITIZE=address,undefined >/dev/null
	cmake --build build-asan -j"$jobs"
	CONFAB_ASAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1 run_suite build-asan
fi
if [ "${CONFAB_SKIP_FUZZ:-0}" != 1 ]; then
	step "fuzzers"
	FUZZ_JOBS="$jobs" FUZZ_PROTO_SECONDS=60 sh scripts/fuzz.sh 15
fi
if [ "${CONFAB_SKIP_DEB:-0}" != 1 ]; then
	step "Debian package"
	sh tests/package/test-deb.sh
fi
step "all suites passed"
