#!/usr/bin/env bash
# Engine overhead against the raw ONNX Runtime floor (see src/test/java/io/osprey/bench/EngineBenchmark.java).
# Needs ../shared (models and images) or OSPREY_SHARED. Arguments go to the benchmark, e.g.
#   scripts/bench-inference.sh --rounds 10 --soak 10000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
exec java -Xmx1g -cp "target/test-classes:target/classes:$(cat target/bench.classpath)" \
  io.osprey.bench.EngineBenchmark "$@"
