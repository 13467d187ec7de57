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

cpu() { # utime+stime of the pids, in seconds
	t=0
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t $(getconf CLK_TCK)" | awk '{printf "%.2f", $1 / $2}'
}
delta() { echo "$1 $2" | awk '{printf "%.2f", $1 - $2}'; }
wait_ok() { # url
	i=0
	until curl -sf "$1" >/dev/null; do
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "no answer from $1"; cat "$DIR"/*.log; exit 1; }
		sleep 0.05
	done
}
redis() { # port var: starts a redis-server (a child of this shell, so wait works), its pid in var
	redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$DIR" --logfile "$DIR/redis-$1.log" >/dev/null &
	eval "$2=\$!"
	until redis-cli -p "$1" ping >/dev/null 2>&1; do sleep 0.05; done
}

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
		for n in 1 2; do
			mp=$((PORT + 9 + n))
			env CONFAB_LIMITS_RATE=1000000 CONFAB_LIMITS_BURST=1000000 \
				CONFAB_SERVER_MAX_CONNECTIONS=60000 \
				CONFAB_SERVER_MAX_CONNECTIONS_PER_IP=60000 \
				CONFAB_SERVER_NODE_ID="node$n" CONFAB_SERVER_REUSE_PORT=1 \
				CONFAB_ROOMS_MAX_ROOMS_PER_IP=100000 CONFAB_ROOMS_JOIN_RATE_PER_IP=100000 \
				CONFAB_ROOMS_JOIN_BURST_PER_IP=100000 \
				CONFAB_REDIS_SHARDS="$extra" \
				"$B/confabd" --config /dev/null --listen "127.0.0.1:$PORT" \
				--listen "127.0.0.1:$mp" --redis "redis://127.0.0.1:$RPORT1" \
				2>>"$DIR/node$n.log" &
			eval "N$n=\$!"
		done
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
