#!/bin/sh
# run.sh - the benchmark scenarios of docs/benchmarks.md, against a release build of confabd on
# loopback. Usage: sh bench/run.sh [build-dir]   (default build-rel; built if missing)
# Prints each scenario's loadgen report; the figures in docs/benchmarks.md come from here.
# Every run is bounded: fixed connection counts, fixed durations.
set -eu
cd "$(dirname "$0")/.."
B=${1:-build-rel}
if [ ! -x "$B/confabd" ] || [ ! -x "$B/confab-loadgen" ]; then
	cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFAB_TESTS=OFF >/dev/null
	cmake --build "$B" -j"$(nproc)" >/dev/null
fi
PORT=${PORT:-18765}
LOG=$(mktemp)
# confabd's state (a signing key) in a temp dir, never in the system's /var/lib/confab.
STATE=$(mktemp -d)
export CONFAB_STATE_DIR="$STATE"
PID=

start() {
	CONFAB_LIMITS_RATE=1000000 CONFAB_LIMITS_BURST=1000000 \
	CONFAB_SERVER_MAX_CONNECTIONS=60000 CONFAB_SERVER_MAX_CONNECTIONS_PER_IP=60000 \
		"$B/confabd" --config /dev/null --listen "127.0.0.1:$PORT" 2>"$LOG" &
	PID=$!
	i=0
	until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "confabd did not start"; cat "$LOG"; exit 1; }
		sleep 0.05
	done
}
stop() {
	kill "$PID" && wait "$PID" || true
	curl -s "http://127.0.0.1:$PORT/metrics" >/dev/null 2>&1 || true
}
latency() { # server-side delivery latency histogram (cumulative buckets)
	curl -s "http://127.0.0.1:$PORT/metrics" | grep '^confab_delivery_latency_seconds_bucket'
}
trap 'kill $PID 2>/dev/null; rm -f "$LOG"; rm -rf "$STATE"' EXIT

echo "== idle: 10,000 connections, 100 rooms"
start
"$B/confab-loadgen" --port "$PORT" --conns 10000 --rooms 100 --idle --duration 5 \
	--server-pid "$PID" 2>&1 | tail -4
stop

for rate in 100 200 500; do
	echo "== fan-out: 1 room x 1,000 members, 1 publisher, $rate msg/s ($((rate * 1000)) deliveries/s)"
	start
	"$B/confab-loadgen" --port "$PORT" --conns 1000 --pubs 1 --rate "$rate" --duration 10 \
		--server-pid "$PID" 2>&1 | tail -7
	latency
	stop
done

echo "== small rooms: 100 rooms x 10 members, 100 publishers, 10,000 msg/s (100,000 deliveries/s)"
start
"$B/confab-loadgen" --port "$PORT" --conns 1000 --rooms 100 --pubs 100 --rate 10000 \
	--duration 10 --server-pid "$PID" 2>&1 | tail -7
latency
stop
