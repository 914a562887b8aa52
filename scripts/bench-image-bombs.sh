#!/usr/bin/env bash
# Resident memory of a service process under 20 concurrent annotation creates of the largest image the pixel budget
# allows (8192x8192 JPEG, then PNG), and of 20000x20000 PNG bombs (refused from the header)
# (src/test/java/io/osprey/bench/ImageBombBenchmark.java). Starts the servers.
# e.g. scripts/bench-image-bombs.sh --clients 20;  --budget 1099511627776 runs it without the decode gate
"$(dirname "$0")/services.sh" --quiet
exec "$(dirname "$0")/bench.sh" ImageBombBenchmark "$@"
