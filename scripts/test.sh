#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL, Redis and RabbitMQ (started or installed when needed).
# Each test class works in a database of its own that it creates and drops.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prereqs.sh --browser
scripts/services.sh

exec mvn -B test "$@"
