#!/usr/bin/env bash
# Engine overhead against the raw ONNX Runtime floor (src/test/java/io/osprey/bench/EngineBenchmark.java).
# Needs ../shared (models and images) or OSPREY_SHARED. e.g. scripts/bench-inference.sh --rounds 10 --soak 10000
exec "$(dirname "$0")/bench.sh" EngineBenchmark "$@"
