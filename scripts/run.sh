#!/usr/bin/env bash
# Starts Osprey on this machine: servers ready, jar built when sources changed, service on port 8080
# (OSPREY_HTTP_PORT overrides). Extra arguments go to the service, e.g. `scripts/run.sh --role api`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prereqs.sh
scripts/services.sh

jar=target/osprey.jar
if [ ! -f "$jar" ] || [ -n "$(find pom.xml conf src/main -newer "$jar" -print -quit)" ]; then
  echo "run: building $jar"
  mvn -B -q -DskipTests package
fi

# The shared test models are used when they sit beside the repository (models.dir, see docs/configuration.md).
if [ -z "${OSPREY_MODELS_DIR:-}" ] && [ -d ../shared/models ]; then
  export OSPREY_MODELS_DIR="$(cd ../shared/models && pwd)"
fi

exec java ${JAVA_OPTS:-} -jar "$jar" "$@"
