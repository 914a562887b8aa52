#!/usr/bin/env bash
# Annotation creates per second and latency p50/p99 with a ~200 KB image and 5 detections
# (src/test/java/io/osprey/bench/AnnotationsBenchmark.java). Starts the servers; needs ../shared.
# e.g. scripts/bench-annotations.sh --clients 1,4,16 --seconds 10
"$(dirname "$0")/services.sh" --quiet
exec "$(dirname "$0")/bench.sh" AnnotationsBenchmark "$@"
