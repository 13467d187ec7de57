#!/bin/sh
# cluster.sh - the cluster row of docs/benchmarks.md: the same fan-out scenario against one
# standalone confabd and against two confabd nodes sharing the port (server.reuse_port) through
# one redis-server, in one run. Loopback only; every run is bounded.
# Usage: sh bench/cluster.sh [build-dir]   (default build-rel; built if missing)
# Reports loadgen's result, each node's server-side delivery latency histogram, and the CPU
# seconds of every server process (confabd nodes and redis-server) over the run.
set -eu
cd "$(dirname "$0")/.."
B=${1:-build-rel}
if [ ! -x "$B/confabd" ] || [ ! -x "$B/confab-loadgen" ]; then
	cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFAB_TESTS=OFF >/dev/null
	cmake --build "$B" -j"$(nproc)" >/dev/null
fi
PORT=${PORT:-18765}
RPORT=${RPORT:-18766}
MPORT1=$((PORT + 10)) # metrics listeners of the nodes (not shared)
MPORT2=$((PORT + 11))
DIR=$(mktemp -d)
PIDS=
trap 'kill $PIDS 2>/dev/null; rm -rf "$DIR"' EXIT
# The standalone node keeps its state (a signing key) here, never in the system's /var/lib/confab.
export CONFAB_STATE_DIR="$DIR/state"

. bench/lib.sh

for rate in 100 500; do
	echo "== standalone: 1 room x 1,000 members, 1 publisher, $rate msg/s"
	env CONFAB_LIMITS_RATE=1000000 CONFAB_LIMITS_BURST=1000000 \
		CONFAB_SERVER_MAX_CONNECTIONS=60000 CONFAB_SERVER_MAX_CONNECTIONS_PER_IP=60000 \
		"$B/confabd" --config /dev/null --listen "127.0.0.1:$PORT" 2>>"$DIR/solo.log" &
	S=$!
	PIDS="$S"
	wait_ok "http://127.0.0.1:$PORT/healthz"
	c0=$(cpu "$S")
	"$B/confab-loadgen" --port "$PORT" --conns 1000 --pubs 1 --rate "$rate" --duration 10 \
		-q 2>&1 | tail -6
	echo "server CPU: $(delta "$(cpu "$S")" "$c0") s"
	curl -s "http://127.0.0.1:$PORT/metrics" | grep '^confab_delivery_latency_seconds_bucket' |
		grep -E 'le="0.001"|le="0.01"|Inf'
	kill "$S"
	wait "$S" || true

	echo "== cluster: 2 nodes sharing the port + redis-server, same load"
	redis "$RPORT" R
	node 1 "redis://127.0.0.1:$RPORT"
	node 2 "redis://127.0.0.1:$RPORT"
	PIDS="$R $N1 $N2"
	wait_ok "http://127.0.0.1:$MPORT1/healthz"
	wait_ok "http://127.0.0.1:$MPORT2/healthz"
	c1=$(cpu "$N1")
	c2=$(cpu "$N2")
	cr=$(cpu "$R")
	"$B/confab-loadgen" --port "$PORT" --conns 1000 --pubs 1 --rate "$rate" --duration 10 \
		-q 2>&1 | tail -6
	echo "CPU: node1 $(delta "$(cpu "$N1")" "$c1") s, node2 $(delta "$(cpu "$N2")" "$c2") s," \
		"redis $(delta "$(cpu "$R")" "$cr") s"
	for mp in $MPORT1 $MPORT2; do
		echo "node on :$mp: $(curl -s "http://127.0.0.1:$mp/metrics" |
			grep -E '^confab_(connections|deliveries_total) ' | tr '\n' ' ')"
		curl -s "http://127.0.0.1:$mp/metrics" |
			grep '^confab_delivery_latency_seconds_bucket' | grep -E 'le="0.001"|le="0.01"|Inf'
	done
	kill "$N1" "$N2"
	wait "$N1" "$N2" || true
	kill "$R"
	wait "$R" || true
	PIDS=
done
