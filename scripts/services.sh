#!/usr/bin/env bash
# Makes PostgreSQL, Redis and RabbitMQ (with the rabbitmq_stream plugin) available on
# 127.0.0.1 at their standard ports, idempotently, on Debian 12 / Ubuntu:
#   - installs a missing server from Debian's packages (one apt-get call),
#   - starts a stopped server without systemd (containers and CI have none),
#   - enables rabbitmq_stream and waits for the stream port,
#   - lets stream frames carry large images: writes stream.frame_max = 64 MiB to a conf.d file
#     of RabbitMQ's (as docker/rabbitmq/rabbitmq.conf does) and restarts a running broker only
#     when that file changed and the running node has another value,
#   - ensures the PostgreSQL login role `osprey` (password `osprey`, CREATEDB) and the
#     database `osprey` owned by it.
# Runs as root, or as a normal user with sudo (sudo is needed only when something must be
# installed, started or created; the fast path, everything already up, needs none and
# takes well under a second).
#
# Usage: scripts/services.sh [--quiet]
set -euo pipefail

QUIET=0
for arg in "$@"; do
  case "$arg" in
    -q|--quiet) QUIET=1 ;;
    -h|--help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0 ;;
    *) echo "services.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# Fixed endpoints (the service's defaults).
HOST=127.0.0.1
PG_PORT=5432
REDIS_PORT=6379
AMQP_PORT=5672
STREAM_PORT=5552
WAIT_S=60

PG_ROLE=osprey
PG_PASSWORD=osprey
PG_DB=osprey

REDIS_DIR=/var/lib/redis
REDIS_LOG=/var/log/redis/osprey.log

# Debian's RabbitMQ tools live in /usr/sbin, which a normal user's PATH may lack.
RABBITMQ_SERVER=/usr/sbin/rabbitmq-server
RABBITMQ_PLUGINS=/usr/sbin/rabbitmq-plugins
RABBITMQCTL=/usr/sbin/rabbitmqctl

# Created annotations travel to the stream with their image: frames up to 64 MiB (RabbitMQ's
# default is 1 MiB). Osprey's stream.max_message_bytes (60 MiB) stays below it.
RABBIT_FRAME_MAX=67108864
RABBIT_CONF_NAME=90-osprey.conf
RABBIT_CONF_CONTENT="# Written by Osprey scripts/services.sh
stream.frame_max = $RABBIT_FRAME_MAX
"

log() { if [ "$QUIET" -eq 0 ]; then echo "$*"; fi; }
err() { echo "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif have sudo; then
    sudo "$@"
  else
    err "services.sh: need root for: $*  (run as root, or install sudo)"
    return 1
  fi
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -u postgres "$@")
  fi
}

# Output of started daemons goes to a file of ours (never to our stdout: a daemon holding
# the caller's pipe open would make `$(services.sh)` or a CI log reader hang).
START_LOG=""
ensure_start_log() {
  if [ -z "$START_LOG" ]; then
    START_LOG=$(mktemp "${TMPDIR:-/tmp}/osprey-services.XXXXXX")
    trap 'rm -f "$START_LOG"' EXIT
  fi
}
# Runs a start command in its own session, output to START_LOG.
launch() {
  ensure_start_log
  as_root setsid -w "$@" </dev/null >>"$START_LOG" 2>&1
}
# Runs a command with its stdout dropped under --quiet.
quietly() {
  if [ "$QUIET" -eq 1 ]; then "$@" >/dev/null; else "$@"; fi
}
show_start_log() {
  if [ -n "$START_LOG" ] && [ -s "$START_LOG" ]; then
    err "--- output of start commands ($START_LOG) ---"
    tail -n 20 "$START_LOG" >&2 || true
    trap - EXIT
  fi
}

# ---------------------------------------------------------------- probes (cheap)
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

pg_up() {
  if have pg_isready; then
    pg_isready -h "$HOST" -p "$PG_PORT" -q 2>/dev/null
  else
    tcp_open "$PG_PORT"
  fi
}

redis_up() {
  if have redis-cli; then
    [ "$(timeout 2 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
  else
    tcp_open "$REDIS_PORT"
  fi
}

amqp_up() { tcp_open "$AMQP_PORT"; }
stream_up() { tcp_open "$STREAM_PORT"; }

# wait_for PROBE [SECONDS]
wait_for() {
  local probe=$1 limit=${2:-$WAIT_S}
  local deadline=$((SECONDS + limit))
  while ! "$probe"; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.25
  done
}

# ---------------------------------------------------------------- install checks
pg_installed() { have pg_ctlcluster && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }
redis_installed() { [ -x /usr/bin/redis-server ] || have redis-server; }
rabbitmq_installed() { [ -x "$RABBITMQ_SERVER" ]; }

# ---------------------------------------------------------------- PostgreSQL
PG_VER=""
pg_version() {
  # Newest version that has a `main` cluster; else the newest installed server.
  local v
  v=$(find /etc/postgresql -mindepth 3 -maxdepth 3 -path '*/main/postgresql.conf' 2>/dev/null \
        | awk -F/ '{print $4}' | sort -V | tail -n 1)
  if [ -z "$v" ]; then
    v=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null \
          | awk -F/ '{print $5}' | sort -V | tail -n 1)
  fi
  printf '%s' "$v"
}
pg_log() { printf '/var/log/postgresql/postgresql-%s-main.log' "${PG_VER:-<ver>}"; }

pg_start() {
  PG_VER=$(pg_version)
  if [ -z "$PG_VER" ]; then
    err "postgres: no server version found under /usr/lib/postgresql"
    return 1
  fi
  if [ ! -f "/etc/postgresql/$PG_VER/main/postgresql.conf" ]; then
    log "postgres: creating cluster $PG_VER/main"
    ensure_start_log
    as_root pg_createcluster "$PG_VER" main </dev/null >>"$START_LOG" 2>&1
  fi
  log "postgres: starting cluster $PG_VER/main"
  # Fails harmlessly when the cluster is already starting; the wait below decides.
  launch pg_ctlcluster --skip-systemctl-redirect "$PG_VER" main start || true
}

pg_role_ok() {
  # Cheap check as the role itself over TCP: no sudo needed.
  have psql || return 1
  local r
  r=$(PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=3 PGSSLMODE=prefer \
      psql -X -q -t -A -h "$HOST" -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DB" -c \
      "SELECT r.rolcanlogin AND r.rolcreatedb AND pg_get_userbyid(d.datdba) = '$PG_ROLE'
         FROM pg_roles r, pg_database d
        WHERE r.rolname = current_user AND d.datname = current_database()" \
      2>/dev/null) || return 1
  [ "$r" = "t" ]
}

pg_ensure_role() {
  if pg_role_ok; then return 0; fi
  if ! have psql || ! id postgres >/dev/null 2>&1; then
    err "postgres: cannot ensure role '$PG_ROLE' (no local psql or postgres user)"
    return 1
  fi
  log "postgres: ensuring role '$PG_ROLE' and database '$PG_DB'"
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_ROLE'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
SELECT 'ALTER DATABASE $PG_DB OWNER TO $PG_ROLE'
 WHERE EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB'
                AND pg_get_userbyid(datdba) <> '$PG_ROLE')\gexec
SQL
}

# ---------------------------------------------------------------- Redis
redis_start() {
  as_root mkdir -p "$REDIS_DIR" "$(dirname "$REDIS_LOG")"
  # `-::1` (optional IPv6 bind) needs Redis >= 6.2.
  local bind=("$HOST") ver
  ver=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9]*\.[0-9]*\).*/\1/p')
  if [ -n "$ver" ] && [ "$(printf '%s\n6.2\n' "$ver" | sort -V | head -n 1)" = "6.2" ]; then
    bind+=("-::1")
  fi
  log "redis: starting"
  launch redis-server --daemonize yes --bind "${bind[@]}" --port "$REDIS_PORT" \
    --save "" --appendonly no --dir "$REDIS_DIR" --logfile "$REDIS_LOG" || true
}

# ---------------------------------------------------------------- RabbitMQ
rabbit_plugins_file() {
  local f="${RABBITMQ_ENABLED_PLUGINS_FILE:-}"
  if [ -z "$f" ] && [ -r /etc/rabbitmq/rabbitmq-env.conf ]; then
    f=$(sed -n 's/^[[:space:]]*\(RABBITMQ_\)\{0,1\}ENABLED_PLUGINS_FILE=["'\'']\{0,1\}\([^"'\'']*\).*/\2/p' \
          /etc/rabbitmq/rabbitmq-env.conf | tail -n 1)
  fi
  printf '%s' "${f:-/etc/rabbitmq/enabled_plugins}"
}
# rabbitmq_stream_management pulls rabbitmq_stream in too.
stream_plugin_listed() { grep -qs 'rabbitmq_stream' "$(rabbit_plugins_file)"; }

# RabbitMQ (3.9+, Debian 12's 3.10 included) reads rabbitmq.conf, then every *.conf of the
# folder RABBITMQ_CONFIG_FILES names (CONFIG_FILES in rabbitmq-env.conf), by default
# /etc/rabbitmq/conf.d; `rabbitmq-diagnostics status` lists them under "Config files".
rabbit_conf_dir() {
  local d="${RABBITMQ_CONFIG_FILES:-}"
  if [ -z "$d" ] && [ -r /etc/rabbitmq/rabbitmq-env.conf ]; then
    d=$(sed -n 's/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}\(RABBITMQ_\)\{0,1\}CONFIG_FILES=["'\'']\{0,1\}\([^"'\'']*\).*/\3/p' \
          /etc/rabbitmq/rabbitmq-env.conf | tail -n 1)
  fi
  d="${d:-/etc/rabbitmq/conf.d}"
  # The variable may also be a pattern (folder/*.conf): keep its folder.
  case "$d" in *'*'*) d=$(dirname "$d") ;; esac
  printf '%s' "${d%/}"
}
rabbit_conf_file() { printf '%s/%s' "$(rabbit_conf_dir)" "$RABBIT_CONF_NAME"; }
rabbit_conf_current() { printf '%s' "$RABBIT_CONF_CONTENT" | cmp -s - "$(rabbit_conf_file)"; }

# Writes the conf.d file (creating the folder on a fresh machine); the file is replaced whole, by
# a rename, so a broker starting meanwhile reads the old or the new one, never half of it.
rabbit_conf_write() {
  local f dir
  f=$(rabbit_conf_file)
  dir=$(dirname "$f")
  log "rabbitmq: writing $f (stream.frame_max = $RABBIT_FRAME_MAX)"
  as_root mkdir -p "$dir"
  printf '%s' "$RABBIT_CONF_CONTENT" | as_root tee "$f.tmp" >/dev/null
  as_root chmod 0644 "$f.tmp"
  as_root mv -f "$f.tmp" "$f"
}

# The running node's value (empty when it cannot be asked).
rabbit_frame_max_running() {
  as_root "$RABBITMQCTL" -q eval 'application:get_env(rabbitmq_stream, frame_max).' </dev/null 2>/dev/null \
    | sed -n 's/^{ok,\([0-9]*\)}$/\1/p'
}

# A config file is read only when the node boots: stop it (waiting until it is down), so that
# step 2 starts it again with the new setting.
rabbit_restart_for_conf() {
  log "rabbitmq: restarting to apply stream.frame_max = $RABBIT_FRAME_MAX"
  ensure_start_log
  as_root "$RABBITMQCTL" shutdown </dev/null >>"$START_LOG" 2>&1 \
    || as_root "$RABBITMQCTL" stop </dev/null >>"$START_LOG" 2>&1 || true
}

rabbit_vm_running() { have pgrep && pgrep -u rabbitmq beam >/dev/null 2>&1; }

rabbit_start() {
  # A node may still be booting (listeners not open yet) or still shutting down
  # (`rabbitmqctl stop` returns before the VM exits): give either a moment to settle.
  local deadline=$((SECONDS + 15))
  while rabbit_vm_running && ! amqp_up && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.25
  done
  if amqp_up; then return 0; fi
  log "rabbitmq: starting"
  # Fails harmlessly if a node of that name is up already; the wait below decides.
  launch "$RABBITMQ_SERVER" -detached || true
}

rabbit_log_hint() { printf '/var/log/rabbitmq/ (rabbit@*.log, startup_err)'; }

rabbit_enable_stream_online() {
  log "rabbitmq: enabling rabbitmq_stream"
  quietly as_root "$RABBITMQ_PLUGINS" enable rabbitmq_stream </dev/null
}

# ---------------------------------------------------------------- main
pg_running=0; redis_running=0; amqp_running=0
pg_up && pg_running=1
redis_up && redis_running=1
amqp_up && amqp_running=1

# 1. Install what is missing (only for servers that are not already answering).
missing=()
if [ "$pg_running" -eq 0 ] && ! pg_installed; then missing+=(postgresql); fi
if [ "$redis_running" -eq 0 ] && ! redis_installed; then missing+=(redis-server); fi
if [ "$amqp_running" -eq 0 ] && ! rabbitmq_installed; then missing+=(rabbitmq-server); fi
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  quietly as_root apt-get update -q
  quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null
  # A package's postinst may have started its server already.
  pg_up && pg_running=1
  redis_up && redis_running=1
  amqp_up && amqp_running=1
fi

# 1b. RabbitMQ's frame size, before the broker starts; a running broker restarts only when the
#     file changed and it runs with another value.
rabbit_conf_written=0
if rabbitmq_installed && ! rabbit_conf_current; then
  rabbit_conf_write
  rabbit_conf_written=1
  if [ "$amqp_running" -eq 1 ] && [ "$(rabbit_frame_max_running)" != "$RABBIT_FRAME_MAX" ]; then
    rabbit_restart_for_conf
    amqp_running=0
  fi
fi

# 2. Start what is stopped (Redis and PostgreSQL start in about a second; RabbitMQ then
#    boots while we wait for the others).
if [ "$redis_running" -eq 0 ]; then redis_start; fi
if [ "$pg_running" -eq 0 ]; then pg_start; fi
rabbit_started=0
if [ "$amqp_running" -eq 0 ]; then
  if ! stream_plugin_listed; then
    log "rabbitmq: enabling rabbitmq_stream (offline)"
    ensure_start_log
    as_root "$RABBITMQ_PLUGINS" enable --offline rabbitmq_stream </dev/null >>"$START_LOG" 2>&1
  fi
  rabbit_start
  rabbit_started=1
fi

# 3. Wait for each, and finish its setup.
if ! wait_for pg_up; then
  [ -n "$PG_VER" ] || PG_VER=$(pg_version)
  err "postgres: not ready on $HOST:$PG_PORT after ${WAIT_S}s; see $(pg_log)"
  show_start_log
  exit 1
fi
pg_ensure_role
log "postgres: ready"

if ! wait_for redis_up; then
  err "redis: not ready on $HOST:$REDIS_PORT after ${WAIT_S}s; see $REDIS_LOG"
  show_start_log
  exit 1
fi
log "redis: ready"

if ! wait_for amqp_up; then
  err "rabbitmq: AMQP not ready on $HOST:$AMQP_PORT after ${WAIT_S}s; see $(rabbit_log_hint)"
  show_start_log
  exit 1
fi
if ! stream_up; then
  if [ "$rabbit_started" -eq 1 ] && wait_for stream_up 15; then
    : # the freshly started node brought the stream listener up itself
  else
    # Running node without the plugin (or with it listed but not applied): enable online.
    rabbit_enable_stream_online
  fi
fi
if ! wait_for stream_up; then
  err "rabbitmq: stream port $HOST:$STREAM_PORT not open after ${WAIT_S}s; see $(rabbit_log_hint)"
  show_start_log
  exit 1
fi
log "rabbitmq: ready (amqp $AMQP_PORT, stream $STREAM_PORT)"
if [ "$rabbit_conf_written" -eq 1 ]; then
  # Only after a change: the node must run with the file's value (Osprey logs what it agrees, too).
  running=$(rabbit_frame_max_running || true)
  if [ "$running" != "$RABBIT_FRAME_MAX" ]; then
    err "rabbitmq: stream.frame_max is '${running:-unknown}', not $RABBIT_FRAME_MAX, after writing" \
      "$(rabbit_conf_file); restart the broker (large images go to the stream without their bytes until then)"
  fi
fi
