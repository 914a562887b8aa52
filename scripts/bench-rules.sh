#!/usr/bin/env bash
# Cost of the rules stage per image at 10, 100 and 1,000 detections (src/test/java/io/osprey/bench/RulesBenchmark.java).
exec "$(dirname "$0")/bench.sh" RulesBenchmark "$@"
