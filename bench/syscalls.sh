#!/bin/sh
# syscalls.sh - how many system calls confabd makes per delivery (issue 14, item 2): runs the
# fan-out scenario (1 room x N members, 1 publisher, R msg/s for D s) against a release build
# on loopback, counts confabd's syscalls for the sending part with perf's syscall tracepoints,
# and prints each syscall's count per 1,000 deliveries.
# Usage: sh bench/syscalls.sh [build-dir]   (default build-rel; built if missing)
#   RATES="100 500" MEMBERS=1000 DURATION=10 PORT=18766 sh bench/syscalls.sh
# Needs perf (linux-perf) and root for the tracepoints. Every run is bounded: a fixed number of
# connections for a fixed time, to 127.0.0.1 only.
set -eu
cd "$(dirname "$0")/.."
B=${1:-build-rel}
RATES=${RATES:-100 500}
MEMBERS=${MEMBERS:-1000}
DURATION=${DURATION:-10}
PORT=${PORT:-18766}
if [ ! -x "$B/confabd" ] || [ ! -x "$B/confab-loadgen" ]; then
	cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFAB_TESTS=OFF >/dev/null
	cmake --build "$B" -j"$(nproc)" >/dev/null
fi
command -v perf >/dev/null || { echo "syscalls.sh: perf is missing (apt-get install linux-perf)"; exit 1; }
TMP=$(mktemp -d)
PID=
trap 'kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT
EVENTS="syscalls:sys_enter_poll,syscalls:sys_enter_ppoll,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,\
syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_writev,\
syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,\
syscalls:sys_enter_accept4,syscalls:sys_enter_getsockopt,syscalls:sys_enter_setsockopt,\
syscalls:sys_enter_clock_gettime,syscalls:sys_enter_ioctl,syscalls:sys_enter_fcntl"

for rate in $RATES; do
	CONFAB_STATE_DIR="$TMP" CONFAB_LIMITS_RATE=1000000 CONFAB_LIMITS_BURST=1000000 \
	CONFAB_SERVER_MAX_CONNECTIONS=60000 CONFAB_SERVER_MAX_CONNECTIONS_PER_IP=60000 \
		"$B/confabd" --config /dev/null --listen "127.0.0.1:$PORT" 2>"$TMP/log" &
	PID=$!
	i=0
	until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "confabd did not start"; cat "$TMP/log"; exit 1; }
		sleep 0.05
	done
	# Count from the first message to the end of the drain: connecting is measured apart.
	"$B/confab-loadgen" --port "$PORT" --conns "$MEMBERS" --pubs 1 --rate "$rate" \
		--duration "$DURATION" --server-pid "$PID" --json >"$TMP/result" 2>"$TMP/report" &
	LG=$!
	# loadgen says "ready: ..." once every member has joined (bounded by its own
	# --connect-timeout); sending starts then.
	until grep -q '^ready:' "$TMP/report" 2>/dev/null || ! kill -0 $LG 2>/dev/null; do
		sleep 0.1
	done
	# The sending and one second of the drain, so that every delivery falls inside.
	perf stat -x, -e "$EVENTS" -p "$PID" -o "$TMP/perf" -- sleep $((DURATION + 1))
	wait $LG || true # its verdict is in the result; loss shows in the count
	deliveries=$(sed -n 's/.*"received":\([0-9]*\).*/\1/p' "$TMP/result")
	[ -n "$deliveries" ] && [ "$deliveries" -gt 0 ] || { echo "no deliveries"; cat "$TMP/report"; exit 1; }
	loss=$(sed -n 's/.*"loss":\([0-9]*\).*/\1/p' "$TMP/result")
	dropped=$(sed -n 's/.*"dropped":\([0-9]*\).*/\1/p' "$TMP/result")
	echo "== fan-out 1 room x $MEMBERS, $rate msg/s for ${DURATION} s: $deliveries deliveries," \
		"loss $loss, connections dropped $dropped"
	awk -F, -v d="$deliveries" '/syscalls:/ && $1 > 0 {
		sub("syscalls:sys_enter_", "", $3);
		printf "  %-14s %10d  %8.2f per 1,000 deliveries\n", $3, $1, $1 * 1000 / d }' "$TMP/perf"
	kill "$PID" && wait "$PID" || true
	PID=
done
