#!/usr/bin/env bash
# Runs one benchmark main from src/test/java/io/osprey/bench on the test classpath: scripts/bench.sh CLASS [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
main="$1"
shift
mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
exec java -Xmx2g -cp "target/test-classes:target/classes:$(cat target/bench.classpath)" "io.osprey.bench.$main" "$@"
