#!/usr/bin/env bash
# Dataset export throughput per format (GET /annotations/export) and time to first bytes
# (src/test/java/io/osprey/bench/ExportBenchmark.java). Starts the servers.
# e.g. scripts/bench-export.sh --annotations 2000 --image-bytes 100000 --boxes 10 --rounds 2
"$(dirname "$0")/services.sh" --quiet
exec "$(dirname "$0")/bench.sh" ExportBenchmark "$@"
