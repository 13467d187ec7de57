#!/bin/sh
# lint.sh - checks the compiler cannot make: patterns that compile and hang.
# `continue` inside lws_start_foreach_dll*() skips the macro's step to the next element and
# loops forever (it hung the valgrind run once).
set -eu
cd "$(dirname "$0")/.."
bad=$(awk '/lws_start_foreach_dll/ { inl = 1; start = FNR }
           inl && /(^|[^a-z_])continue;/ { print FILENAME ":" FNR ": continue inside the lws foreach loop at line " start }
           /lws_end_foreach_dll/ { inl = 0 }' $(find src -name '*.c') bench/*.c)
if [ -n "$bad" ]; then
	echo "$bad" >&2
	exit 1
fi
# Includes point down the layers of DESIGN.md principle 8 (docs/architecture.md "Layers").
/usr/bin/python3 scripts/layers.py --quiet
