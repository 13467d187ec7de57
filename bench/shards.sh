#!/bin/sh
# shards.sh - publishes/s through one Redis and through two Redis shards (redis.shards), in one
# run: two confabd nodes sharing the port (server.reuse_port), many rooms with one member each
# and many publishers, so that ordering (one script per publish in Redis) rather than fan-out is
# the work. Loopback only; every run is bounded (--duration).
# Usage: [SETUPS="1 2"] sh bench/shards.sh [build-dir] [rate ...]
#        (default build-rel; rates 2000 5000 10000; SETUPS: how many Redis, each in turn)
# Reports, per setup and rate, loadgen's result and the CPU seconds of each node and each
# redis-server over the run.
set -eu
cd "$(dirname "$0")/.."
B=${1:-build-rel}
[ $# -gt 0 ] && shift
RATES=${*:-2000 5000 10000}
if [ ! -x "$B/confabd" ] || [ ! -x "$B/confab-loadgen" ]; then
	cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFAB_TESTS=OFF >/dev/null
	cmake --build "$B" -j2 >/dev/null
fi
# Ports from the pid, so that runs of other people on this machine do not collide.
PORT=${PORT:-$((20000 + $$ % 10000 * 4))}
RPORT1=$((PORT + 1))
RPORT2=$((PORT + 2))
MPORT1=$((PORT + 10)) # the nodes' own listeners (metrics, health), not shared
MPORT2=$((PORT + 11))
ROOMS=${ROOMS:-200}
PUBS=${PUBS:-100}
DIR=$(mktemp -d)
PIDS=
trap '[ -z "$PIDS" ] || kill $PIDS 2>/dev/null; rm -rf "$DIR"' EXIT

. bench/lib.sh

for shards in ${SETUPS:-1 2}; do
	for rate in $RATES; do
		echo "== $shards Redis: $ROOMS rooms x 1 member, $PUBS publishers, $rate msg/s, 2 nodes"
		R2=
		redis "$RPORT1" R1
		extra=
		if [ "$shards" = 2 ]; then
			redis "$RPORT2" R2
			extra="redis://127.0.0.1:$RPORT2"
		fi
		node 1 "redis://127.0.0.1:$RPORT1" "$extra"
		node 2 "redis://127.0.0.1:$RPORT1" "$extra"
		PIDS="$R1 $R2 $N1 $N2"
		wait_ok "http://127.0.0.1:$MPORT1/healthz"
		wait_ok "http://127.0.0.1:$MPORT2/healthz"
		c1=$(cpu "$N1")
		c2=$(cpu "$N2")
		r1=$(cpu "$R1")
		r2=0
		[ -z "$R2" ] || r2=$(cpu "$R2")
		"$B/confab-loadgen" --port "$PORT" --conns "$ROOMS" --rooms "$ROOMS" \
			--pubs "$PUBS" --rate "$rate" --duration 10 -q 2>&1 | tail -6
		line="CPU: node1 $(delta "$(cpu "$N1")" "$c1") s, node2 $(delta "$(cpu "$N2")" "$c2") s"
		line="$line, redis1 $(delta "$(cpu "$R1")" "$r1") s"
		[ -z "$R2" ] || line="$line, redis2 $(delta "$(cpu "$R2")" "$r2") s"
		echo "$line"
		[ -z "$R2" ] || echo "publishes per shard: $(redis-cli -p "$RPORT1" info commandstats |
			grep -o 'cmdstat_evalsha:calls=[0-9]*') / $(redis-cli -p "$RPORT2" info commandstats |
			grep -o 'cmdstat_evalsha:calls=[0-9]*')"
		kill "$N1" "$N2"
		wait "$N1" "$N2" || true
		kill $R1 $R2
		wait $R1 $R2 || true
		PIDS=
	done
done
