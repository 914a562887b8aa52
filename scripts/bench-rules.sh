#!/usr/bin/env bash
# Cost of the rules stage per image at 10, 100 and 1,000 detections (src/test/java/io/osprey/bench/RulesBenchmark.java).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
exec java -Xmx1g -cp "target/test-classes:target/classes:$(cat target/bench.classpath)" \
  io.osprey.bench.RulesBenchmark "$@"
