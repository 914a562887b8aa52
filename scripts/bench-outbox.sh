#!/usr/bin/env bash
# Outbox drain rate, create-to-stream latency p50/p99 and the raw stream-client producer rate for the same message
# size (src/test/java/io/osprey/bench/OutboxBenchmark.java). Starts the servers; needs ../shared.
# e.g. scripts/bench-outbox.sh --rows 2000 --latency-samples 300
"$(dirname "$0")/services.sh" --quiet
exec "$(dirname "$0")/bench.sh" OutboxBenchmark "$@"
