# lib.sh - shell helpers shared by bench/cluster.sh and bench/shards.sh (sourced, not run).
# Needs B (the build directory), DIR (a temp directory for logs) and PORT (the port the nodes
# share) set by the caller. Loopback only; every wait is bounded.

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
	i=0
	until redis-cli -p "$1" ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "no answer from redis on $1"; exit 1; }
		sleep 0.05
	done
}
node() { # n redis-url [shard-urls]: node n (node_id noden) on the shared PORT and its own
	# listener PORT+9+n (metrics, health), limits out of the way; its pid in Nn
	env CONFAB_LIMITS_RATE=1000000 CONFAB_LIMITS_BURST=1000000 \
		CONFAB_SERVER_MAX_CONNECTIONS=60000 CONFAB_SERVER_MAX_CONNECTIONS_PER_IP=60000 \
		CONFAB_SERVER_NODE_ID="node$1" CONFAB_SERVER_REUSE_PORT=1 \
		CONFAB_ROOMS_MAX_ROOMS_PER_IP=100000 CONFAB_ROOMS_JOIN_RATE_PER_IP=100000 \
		CONFAB_ROOMS_JOIN_BURST_PER_IP=100000 CONFAB_REDIS_SHARDS="${3:-}" \
		"$B/confabd" --config /dev/null --listen "127.0.0.1:$PORT" \
		--listen "127.0.0.1:$((PORT + 9 + $1))" --redis "$2" 2>>"$DIR/node$1.log" &
	eval "N$1=\$!"
}
