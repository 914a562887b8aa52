#!/usr/bin/env bash
# Prints the annotation stream decoded, one JSON line per message (io.osprey.outbox.StreamTail). Same configuration
# as the service (OSPREY_* variables). e.g. scripts/stream-tail.sh --from first --limit 10 --idle-seconds 5
set -euo pipefail
cd "$(dirname "$0")/.."
jar=target/osprey.jar
[ -f "$jar" ] || mvn -B -q -DskipTests package
exec java -cp "$jar" io.osprey.outbox.StreamTail "$@"
