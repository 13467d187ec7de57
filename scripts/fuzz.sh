#!/bin/sh
# fuzz.sh [SECONDS] - builds the libFuzzer harnesses of tests/fuzz (clang, ASan+UBSan, in
# build-fuzz) and runs each for SECONDS (default 300), then tests/fuzz/protofuzz.py for
# SECONDS (FUZZ_PROTO_SECONDS if set) against the sanitizer build of confabd. Prints the executions per target; fails if
# any target found something (a crash, a sanitizer report, a leak, a timeout of 10 s per
# input) or protofuzz saw a crash or a hang. Findings are written to build-fuzz/findings/
# (libFuzzer's crash-*, leak-*, timeout-* files: replay one with build-fuzz/fuzz_TARGET FILE).
# New inputs that reach new code go to build-fuzz/corpus/TARGET, not to the repository:
# copy the few worth keeping into tests/fuzz/corpus/TARGET.
# FUZZ_TARGETS="http token" runs only those; FUZZ_JOBS=2 runs two targets at a time.
# scripts/test.sh runs this with 20 s per target (CI).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-300}
jobs=${FUZZ_JOBS:-1}
# -O1 keeps the sanitizers' reports readable and runs several times faster than -O0; assert()
# stays on.
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCONFAB_FUZZ=ON -DCONFAB_TESTS=OFF \
	-DCONFAB_MAN=OFF >/dev/null
mkdir -p build-fuzz/findings build-fuzz/logs
# Not -Werror: clang warns where gcc (the -Werror build) does not, e.g. in uthash's macros.
if ! cmake --build build-fuzz -j2 >build-fuzz/logs/build.log 2>&1; then
	grep -E "error" build-fuzz/logs/build.log | head -20 >&2
	exit 1
fi
targets=${FUZZ_TARGETS:-$(cd build-fuzz && ls fuzz_* | sed 's/^fuzz_//')}
export CONFAB_SOURCE_DIR="$PWD"
# ASan's leak check runs at exit; UBSan reports are fatal (-fno-sanitize-recover=all).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1

run_target() { # target
	mkdir -p "build-fuzz/corpus/$1"
	if (cd build-fuzz && "./fuzz_$1" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="findings/$1-" "corpus/$1" \
		"../tests/fuzz/corpus/$1") >"build-fuzz/logs/$1.log" 2>&1; then
		echo ok >"build-fuzz/logs/$1.status"
	else
		echo FAILED >"build-fuzz/logs/$1.status"
	fi
}

n=0
for t in $targets; do
	rm -f "build-fuzz/logs/$t.status"
	run_target "$t" &
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		wait
		n=0
	fi
done
wait

fail=0
printf '%-16s %12s %10s  %s\n' target executions exec/s result
for t in $targets; do
	log=build-fuzz/logs/$t.log
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	status=$(cat "build-fuzz/logs/$t.status" 2>/dev/null || echo FAILED)
	printf '%-16s %12s %10s  %s\n' "$t" "${execs:-?}" "$(((${execs:-0}) / secs))" "$status"
	if [ "$status" != ok ]; then
		fail=1
		grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -5 | sed 's/^/    /'
	fi
done

if [ -z "${FUZZ_TARGETS:-}" ]; then
	if ! /usr/bin/python3 tests/fuzz/protofuzz.py --confabd build-fuzz/confabd \
		--seconds "${FUZZ_PROTO_SECONDS:-$secs}" --keep build-fuzz/findings/protofuzz; then
		fail=1
	fi
fi
if [ "$fail" != 0 ]; then
	echo "fuzz.sh: findings above (logs in build-fuzz/logs, inputs in build-fuzz/findings)" >&2
	exit 1
fi
echo "fuzz.sh: no findings"
