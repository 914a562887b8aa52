#!/usr/bin/env bash
# Live-event delivery latency p50/p99 at 100, 1,000 and 2,000 concurrent SSE subscribers
# (src/test/java/io/osprey/bench/EventsBenchmark.java). Starts the servers.
# e.g. scripts/bench-events.sh --subscribers 100,1000,2000 --events 30
"$(dirname "$0")/services.sh" --quiet
exec "$(dirname "$0")/bench.sh" EventsBenchmark "$@"
