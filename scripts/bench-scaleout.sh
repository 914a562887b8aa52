#!/usr/bin/env bash
# Scale-out of detection jobs over worker processes (issue 19 item 3). Starts the packaged jar (target/osprey.jar)
# as one API process (--role api) and one worker process (--role worker), submits N jobs (default 20, one small image
# each, one shared model) and waits for them; then starts a second worker process beside the first and submits N more.
# Each process has its own HTTP port (health, /metrics); all share this machine's PostgreSQL, Redis and RabbitMQ,
# as processes on N machines would. Prints, for each round: the jobs each worker completed (its own
# inference_jobs_total{status="completed"} counter, read from its /metrics before and after the phase), the
# makespan (first job created -> last completed, from the jobs table) and the throughput ratio two/one.
#
#   scripts/bench-scaleout.sh [--jobs N] [--rounds R] [--model NAME] [--image FILE]
#
# Each round runs the one-worker phase and the two-worker phase, in turns first (the second worker is stopped after
# its phase);
# two warm-up jobs precede each phase so that model loading is not timed. Everything the run creates (database,
# Redis keys, queue, storage, processes) is removed at the end, on failure or Ctrl-C too. Needs ../shared (models and
# images; or OSPREY_TEST_MODELS / OSPREY_TEST_IMAGES). On one machine the worker processes share its cores: the ratio
# says whether the work spreads and what a second process costs, not what a second machine adds.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
root=$PWD
export LC_ALL=C

jobs=20
rounds=2
model=yolov8n_int8
shared="$(cd "$root/.." && pwd)/shared"
models="${OSPREY_TEST_MODELS:-$shared/models}"
image="${OSPREY_TEST_IMAGES:-$shared/data/images}/small-vehicles1.jpeg"
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    *) echo "bench-scaleout: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ! -f "$models/$model.onnx" ] || [ ! -f "$image" ]; then
  echo "bench-scaleout: needs the model $models/$model.onnx and the image $image" >&2
  exit 1
fi
models="$(cd "$models" && pwd)"

scripts/prereqs.sh
scripts/services.sh --quiet
jar=target/osprey.jar
if [ ! -f "$jar" ] || [ -n "$(find pom.xml conf src/main -newer "$jar" -print -quit)" ]; then
  echo "bench-scaleout: building $jar"
  mvn -B -q -DskipTests package
fi

tag="benchscale$(date +%s)$$"
work=$(mktemp -d /tmp/osprey-bench-scale.XXXXXX)
mkdir -p "$work/tmp" "$work/storage" "$work/auth"
declare -A pids=()
del_keys() { redis-cli -h 127.0.0.1 --scan --pattern "$1*" 2>/dev/null | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null; }
stop_proc() {
  local name=$1 pid=${pids[$1]:-}
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "pids[$name]"
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  for name in "${!pids[@]}"; do stop_proc "$name"; done
  psql -X -q -h 127.0.0.1 -U osprey -d postgres -c "DROP DATABASE IF EXISTS \"$tag\" WITH (FORCE)" >/dev/null 2>&1 \
    || echo "bench-scaleout: could not drop database $tag" >&2
  del_keys "$tag:"
  if command -v rabbitmqctl >/dev/null 2>&1; then
    rabbitmqctl -q list_queues name 2>/dev/null | grep -F "$tag" | while read -r q; do
      rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null 2>&1 || echo "bench-scaleout: could not delete queue $q" >&2
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log() { echo "[$(date -u +%H:%M:%S)] $*"; }

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

java -cp "$jar" io.osprey.auth.DevKeys --dir "$work/auth" --sub bench --permissions ANN,DATASET,ADM --minutes 120 \
  > "$work/auth/token"
token=$(cat "$work/auth/token")
declare -A ports=()
# One process of the given role. What every process shares (database, Redis prefix, queue, storage) is what N
# machines would share; the HTTP port is each process's own.
start_proc() {
  local name=$1 role=$2 port
  port=$(free_port)
  ports[$name]=$port
  env -u JWT_JWKS_URL -u OSPREY_CONFIG OSPREY_HTTP_HOST=127.0.0.1 OSPREY_HTTP_PORT="$port" \
    OSPREY_POSTGRES_DATABASE="$tag" OSPREY_REDIS_KEY_PREFIX="$tag:" OSPREY_JOBS_QUEUE="osprey.$tag" \
    OSPREY_STREAM_NAME="osprey-$tag" OSPREY_STREAM_PRODUCER_NAME="osprey-$tag" OSPREY_OUTBOX_ENABLED=false \
    OSPREY_STORAGE_ROOT="$work/storage" OSPREY_STORAGE_MIN_FREE_BYTES=0 OSPREY_NATIVE_CACHE_DIR="$work/native" \
    OSPREY_MODELS_DIR="$models" OSPREY_AUTH_JWKS_FILE="$work/auth/jwks.json" OSPREY_AUTH_JWKS_URL= \
    OSPREY_SHUTDOWN_GRACE_SECONDS=5 OSPREY_JOBS_RATE_LIMIT_PER_MINUTE=100000 java ${JAVA_OPTS:-} "-Djava.io.tmpdir=$work/tmp" -jar "$jar" --role "$role" \
    >> "$work/$name.log" 2>&1 &
  pids[$name]=$!
  local deadline=$((SECONDS + 180))
  until curl -fs -o /dev/null "http://127.0.0.1:$port/health/ready"; do
    if ! kill -0 "${pids[$name]}" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "bench-scaleout: $name ($role) did not start; its log:" >&2
      tail -n 30 "$work/$name.log" >&2
      return 1
    fi
    sleep 0.5
  done
}

completed_by() {
  curl -fs "http://127.0.0.1:${ports[$1]}/metrics" \
    | sed -n 's/^inference_jobs_total{status="completed",\{0,1\}} \([0-9.]*\).*/\1/p' | head -n 1 | awk '{print int($1 + 0)}'
}

api="http://127.0.0.1"
# Uploads first (not timed), then the predicts; answers the job ids, one a line.
submit() {
  local n=$1 out=$2 uploads=() i up
  for i in $(seq 1 "$n"); do
    up=$(curl -fs -H "Authorization: Bearer $token" -F "files=@$image" "$api:${ports[api]}/api/v1/inference/upload" \
      | sed -n 's/.*"upload_id" *: *"\([^"]*\)".*/\1/p')
    [ -n "$up" ] || { echo "bench-scaleout: upload failed" >&2; return 1; }
    uploads+=("$up")
  done
  : > "$out"
  local answer
  for up in "${uploads[@]}"; do
    answer=$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"upload_id\":\"$up\",\"config\":{\"model\":\"$model\"}}" "$api:${ports[api]}/api/v1/inference/predict")
    sed -n 's/.*"job_id" *: *"\([^"]*\)".*/\1/p' <<< "$answer" >> "$out"
    grep -q '"job_id"' <<< "$answer" || { echo "bench-scaleout: predict answered: $answer" >&2; return 1; }
  done
}

sql() { psql -X -qtA -h 127.0.0.1 -U osprey -d "$tag" -c "$1"; }
ids_array() { echo "ARRAY[$(sed "s/.*/'&'::uuid/" "$1" | paste -sd,)]"; }
wait_jobs() {
  local arr deadline=$((SECONDS + 1800)) done
  arr=$(ids_array "$1")
  while :; do
    done=$(sql "SELECT count(*) FROM jobs WHERE job_id = ANY($arr) AND status IN ('completed','failed','cancelled')")
    [ "$done" -ge "$(wc -l < "$1")" ] && break
    [ "$SECONDS" -lt "$deadline" ] || { echo "bench-scaleout: jobs did not finish" >&2; return 1; }
    sleep 0.2
  done
  local failed
  failed=$(sql "SELECT count(*) FROM jobs WHERE job_id = ANY($arr) AND status <> 'completed'")
  [ "$failed" -eq 0 ] || echo "bench-scaleout: $failed jobs did not complete" >&2
}
makespan() {
  sql "SELECT round(extract(epoch FROM max(completed_at) - min(created_at))::numeric, 2) FROM jobs
       WHERE job_id = ANY($(ids_array "$1"))"
}

# One phase: warm-up, then N jobs; prints "makespan count-per-worker...".
phase() {
  local label=$1; shift
  local workers=("$@") before=() after=() w i
  submit 2 "$work/warm.ids" && wait_jobs "$work/warm.ids"
  for w in "${workers[@]}"; do before+=("$(completed_by "$w")"); done
  submit "$jobs" "$work/$label.ids"
  wait_jobs "$work/$label.ids"
  for w in "${workers[@]}"; do after+=("$(completed_by "$w")"); done
  local ms spread=""
  ms=$(makespan "$work/$label.ids")
  for i in "${!workers[@]}"; do spread+=" ${workers[$i]}=$((after[i] - before[i]))"; done
  echo "$ms$spread"
}

log "bench-scaleout: $jobs jobs per phase, model $model, image $(basename "$image"), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
start_proc api api
start_proc worker1 worker
results=()
for r in $(seq 1 "$rounds"); do
  # Odd rounds run one worker first, even rounds two first: a machine whose load drifts favours neither.
  if [ $((r % 2)) -eq 1 ]; then
    one=$(phase "r${r}one" worker1)
    log "round $r, one worker:  makespan ${one%% *} s; completed by:${one#* }"
    start_proc worker2 worker
    two=$(phase "r${r}two" worker1 worker2)
    log "round $r, two workers: makespan ${two%% *} s; completed by:${two#* }"
    stop_proc worker2
  else
    start_proc worker2 worker
    two=$(phase "r${r}two" worker1 worker2)
    log "round $r, two workers: makespan ${two%% *} s; completed by:${two#* }"
    stop_proc worker2
    one=$(phase "r${r}one" worker1)
    log "round $r, one worker:  makespan ${one%% *} s; completed by:${one#* }"
  fi
  t1=${one%% *}; t2=${two%% *}
  ratio=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
  results+=("round $r: one worker $(awk -v n="$jobs" -v t="$t1" 'BEGIN{printf "%.2f", n/t}') jobs/s, two workers $(awk -v n="$jobs" -v t="$t2" 'BEGIN{printf "%.2f", n/t}') jobs/s, ratio two/one $ratio; spread:${two#* }")
done
echo "RESULT bench-scaleout ($jobs jobs, $model, $(nproc) cores, load at end $(cut -d' ' -f1-3 /proc/loadavg)):"
printf '  %s\n' "${results[@]}"
