#!/bin/sh
# closes.sh - server CPU for N idle confab.v1 clients that all drop at once, under a given
# descriptor limit (lws sizes its fd table by RLIMIT_NOFILE; Debian's lws scans that table on
# every close: docs/benchmarks.md, "Closes cost O(descriptor limit) too"). Loopback only.
#
#   sh bench/closes.sh BUILD_DIR NOFILE CONNS [PORT]
#
# Prints the server's CPU (utime+stime from /proc) from the drop until /healthz reports no
# connections. NOFILE must not exceed this shell's hard limit (ulimit -Hn).
set -eu
B=$1 NF=$2 N=$3 P=${4:-18650}
d=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$d"' EXIT
cat > "$d/c.conf" <<CONF
[server]
listen = 127.0.0.1:$P
max_connections = 100000
max_connections_per_ip = 100000
[state]
dir = $d
[rooms]
join_rate_per_ip = 100000
join_burst_per_ip = 100000
max_rooms_per_ip = 100000
create_rate_per_ip = 100000
CONF
prlimit --nofile="$NF:$NF" "$B/confabd" -c "$d/c.conf" 2>"$d/log" &
pid=$!
conns() {
	curl -s "127.0.0.1:$P/healthz" |
		python3 -c 'import sys, json; print(json.load(sys.stdin)["connections"])' 2>/dev/null ||
		echo -1
}
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
i=0
until [ "$(conns)" -ge 0 ]; do i=$((i + 1)); [ $i -lt 200 ] || exit 1; sleep 0.05; done
"$B/confab-loadgen" --port "$P" --conns "$N" --rooms $((N / 10)) --idle --duration 600 \
	--ramp 0 -q >/dev/null 2>&1 &
lg=$!
i=0
until [ "$(conns)" -ge "$N" ]; do i=$((i + 1)); [ $i -lt 1200 ] || exit 1; sleep 0.05; done
t0=$(ticks)
kill -9 $lg
i=0
until [ "$(conns)" -eq 0 ]; do i=$((i + 1)); [ $i -lt 1200 ] || exit 1; sleep 0.05; done
t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "limit $NF, $N connections: close CPU $(((t1 - t0) * 1000 / hz)) ms," \
	"$(((t1 - t0) * 1000000 / hz / N)) us per close"
