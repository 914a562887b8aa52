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

# Developer mode, only when no identity service is configured: tokens are checked against a local key pair
# (var/dev-auth), and a token with every permission is written to var/dev-auth/token for curl and the UIs.
if [ -z "${JWT_JWKS_URL:-}${OSPREY_AUTH_JWKS_URL:-}${OSPREY_AUTH_JWKS_FILE:-}" ]; then
  mkdir -p var/dev-auth
  java -cp "$jar" io.osprey.auth.DevKeys --dir var/dev-auth --sub developer --permissions ANN,DATASET,ADM \
    --minutes 720 > var/dev-auth/token.new
  mv var/dev-auth/token.new var/dev-auth/token
  export OSPREY_AUTH_JWKS_FILE="$PWD/var/dev-auth/jwks.json"
  # The console's "Use the developer token" button (GET /console/dev-token: this machine, same origin only).
  export OSPREY_CONSOLE_DEV_TOKEN_FILE="$PWD/var/dev-auth/token"
  echo "run: developer mode: send 'Authorization: Bearer \$(cat var/dev-auth/token)' (valid 12 h; new token:"
  echo "     java -cp $jar io.osprey.auth.DevKeys --permissions ANN --minutes 60)"
  echo "run: console: http://localhost:${OSPREY_HTTP_PORT:-8080}/ (Sign in -> Use the developer token)"
fi

exec java ${JAVA_OPTS:-} -jar "$jar" "$@"
