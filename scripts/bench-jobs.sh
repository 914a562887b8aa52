#!/usr/bin/env bash
# A detection job end to end through the API against the engine alone, and status polling throughput against a
# trivial endpoint (src/test/java/io/osprey/bench/JobsBenchmark.java). Needs the servers (started here) and
# ../shared. Arguments go to the benchmark, e.g. scripts/bench-jobs.sh --runs 5 --clients 32
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
scripts/services.sh --quiet
mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
exec java -Xmx2g -cp "target/test-classes:target/classes:$(cat target/bench.classpath)" \
  io.osprey.bench.JobsBenchmark "$@"
