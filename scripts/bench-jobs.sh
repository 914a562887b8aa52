#!/usr/bin/env bash
# A detection job end to end through the API against the engine alone, and status polling throughput against a
# trivial endpoint (src/test/java/io/osprey/bench/JobsBenchmark.java). Starts the servers; needs ../shared.
# e.g. scripts/bench-jobs.sh --runs 5 --clients 32
"$(dirname "$0")/services.sh" --quiet
exec "$(dirname "$0")/bench.sh" JobsBenchmark "$@"
