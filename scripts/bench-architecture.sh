#!/usr/bin/env bash
# Before/after benchmark of the architecture step (issue 16 item 9), in one run on one machine state:
#   - job status polling (`osprey load --scenario status --concurrency 16`) against the packaged service;
#   - live-event (SSE) delivery latency at 2,000 subscribers (EventsBenchmark);
#   - annotation creates with 4 clients (AnnotationsBenchmark).
# "before" is BASE_REF (default 4a068ce, the commit before the step), built in a temporary git worktree under
# /tmp; "after" is this working tree, run with OSPREY_HTTP_INSTANCES=1 and with OSPREY_HTTP_INSTANCES=<cores>
# (the base ignores that variable). Variants take turns at each position of a round (round r starts with the r-th) and
# each figure is the median over the rounds. Prints one table with ratios after/before and flags every figure that
# is more than 5 % worse (throughput lower, latency higher).
#
# Usage: scripts/bench-architecture.sh [--quick] [--rounds N] [BASE_REF]
#   --quick     smoke mode: one round, 3 s runs, 200 subscribers (proves the script, not the figures)
#   --rounds N  rounds of before/after (default 3; 1 with --quick)
# Needs ../shared (models and images; or OSPREY_TEST_MODELS / OSPREY_TEST_IMAGES). Everything it creates (worktree,
# databases, Redis keys, queues, services) is removed at the end, also on failure or Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

quick=0
rounds=""
base_ref=4a068ce
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench-architecture: unknown option $1" >&2; exit 2 ;;
    *) base_ref="$1" ;;
  esac
  shift
done
case "${rounds:-1}" in ''|*[!0-9]*|0) echo "bench-architecture: --rounds takes a number >= 1" >&2; exit 2 ;; esac
cores=$(nproc)
if [ "$quick" -eq 1 ]; then
  rounds=${rounds:-1}; status_s=3; warm_s=1; subscribers=200; events=10; ann_s=3; bench_timeout=300
else
  rounds=${rounds:-3}; status_s=10; warm_s=2; subscribers=2000; events=30; ann_s=10; bench_timeout=900
fi
# Java prints decimals in the default locale; the parsing below expects a dot.
export LC_ALL=C

shared="$(cd "$root/.." && pwd)/shared"
models="${OSPREY_TEST_MODELS:-$shared/models}"
images="${OSPREY_TEST_IMAGES:-$shared/data/images}"
if [ ! -f "$models/yolov8n_int8.onnx" ] || [ ! -f "$images/terrain1.jpg" ]; then
  echo "bench-architecture: needs the shared models and images ($models, $images)" >&2
  exit 1
fi
models="$(cd "$models" && pwd)"
images="$(cd "$images" && pwd)"
base_sha=$(git rev-parse --verify "$base_ref^{commit}")

# Everything of this run carries one tag: database names, Redis key prefix, queue and stream names.
tag="bencharch$(date +%s)$$"
tags=("$tag")
work=$(mktemp -d /tmp/osprey-bench-arch.XXXXXX)
# Every JVM of the run keeps its temporary files (a benchmark's storage folder, say) in here, removed at the end.
mkdir -p "$work/tmp"
jtmp="-Djava.io.tmpdir=$work/tmp"
service_pid=""
child_pid=""
databases=()
# An in-process benchmark (TestService) drops its own database, queue and stream when it ends, but not its Redis
# keys (prefix "<database>:"); ended by a signal it drops nothing. Its log names the database it created.
bench_out=""
bench_db() { sed -n 's/.*created database \(osprey_t_[a-z0-9_]*\).*/\1/p' "$1" 2>/dev/null | head -n 1; }
del_keys() { redis-cli -h 127.0.0.1 --scan --pattern "$1*" 2>/dev/null | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null; }
# A benchmark that failed or was killed may have left its database, queue and stream: removed at exit.
bench_abandoned() {
  local db
  db=$(bench_db "$bench_out")
  if [ -n "$db" ]; then databases+=("$db"); tags+=("$db"); fi
}
bench_end() {
  local db
  db=$(bench_db "$bench_out")
  [ -z "$db" ] || del_keys "$db:"
  bench_out=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  for pid in $child_pid $service_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null
    fi
  done
  if [ -n "$bench_out" ]; then
    bench_abandoned
    bench_end
  fi
  for db in "${databases[@]}"; do
    psql -X -q -h 127.0.0.1 -U osprey -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 \
      || echo "bench-architecture: could not drop database $db" >&2
  done
  del_keys "$tag:"
  # Queues and streams (a stream is a queue to rabbitmqctl) named with this run's tag.
  if command -v rabbitmqctl >/dev/null 2>&1; then
    rabbitmqctl -q list_queues name 2>/dev/null | grep -F "${tags[@]/#/-e}" | while read -r q; do
      rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null 2>&1 || echo "bench-architecture: could not delete queue $q" >&2
    done
  fi
  if [ -d "$work/base" ] && ! git -C "$root" worktree remove --force "$work/base" 2>/dev/null; then
    rm -rf "$work/base"
    git -C "$root" worktree prune 2>/dev/null
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "[$(date -u +%H:%M:%S)] $*"; }

# ---------------------------------------------------------------- build both trees
scripts/prereqs.sh
scripts/services.sh --quiet
log "base $base_ref ($base_sha) -> temporary worktree $work/base"
git worktree add --quiet --detach "$work/base" "$base_sha"
build() {
  log "building $1"
  local out="$work/build-$(basename "$1").log"
  if ! (cd "$1" && mvn -q -B -DskipTests package dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
      -Dmdep.includeScope=test) > "$out" 2>&1; then
    cat "$out" >&2
    echo "bench-architecture: build of $1 failed" >&2
    return 1
  fi
}
build "$work/base"
build "$root"

tree_of() { case "$1" in before) echo "$work/base" ;; *) echo "$root" ;; esac; }
# The variable is set only for the after variants: on the base it matches no key (it would only be warned about).
instances_of() { case "$1" in before) echo "" ;; after1) echo 1 ;; afterN) echo "$cores" ;; esac; }
cli_jar="$root/target/osprey.jar" # one load generator for every variant: only the service changes

# Developer keys per tree (each tree's own DevKeys), as scripts/run.sh makes them.
for v in before after1; do
  t=$(tree_of "$v"); d="$work/auth-$(basename "$t")"
  if [ ! -d "$d" ]; then
    mkdir -p "$d"
    java -cp "$t/target/osprey.jar" io.osprey.auth.DevKeys --dir "$d" --sub bench --permissions ANN,DATASET,ADM \
      --minutes 720 > "$d/token"
  fi
done
auth_of() { echo "$work/auth-$(basename "$(tree_of "$1")")"; }

failures=0
failed() { failures=$((failures + 1)); echo "bench-architecture: $*" >&2; }
results="$work/results.txt"
: > "$results"
record() { echo "$1 $2 $3" >> "$results"; }  # figure variant value

# Runs a command in the background (so that the trap can end it) and waits for it.
run_child() {
  "$@" &
  child_pid=$!
  local rc=0
  wait "$child_pid" || rc=$?
  child_pid=""
  return "$rc"
}

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# ---------------------------------------------------------------- status polling against the packaged service
start_service() {
  local v=$1 tree auth inst port
  tree=$(tree_of "$v"); auth=$(auth_of "$v"); inst=$(instances_of "$v"); port=$(free_port)
  databases+=("${tag}_$v")
  mkdir -p "$work/storage-$v"
  local envs=(OSPREY_HTTP_HOST=127.0.0.1 OSPREY_HTTP_PORT="$port" OSPREY_POSTGRES_DATABASE="${tag}_$v"
    OSPREY_REDIS_KEY_PREFIX="$tag:$v:" OSPREY_JOBS_QUEUE="osprey.$tag.$v" OSPREY_STREAM_NAME="osprey-$tag-$v"
    OSPREY_STREAM_PRODUCER_NAME="osprey-$tag-$v" OSPREY_OUTBOX_ENABLED=false OSPREY_STORAGE_ROOT="$work/storage-$v"
    OSPREY_STORAGE_MIN_FREE_BYTES=0 OSPREY_NATIVE_CACHE_DIR="$work/native-$(basename "$tree")"
    OSPREY_MODELS_DIR="$models" OSPREY_AUTH_JWKS_FILE="$auth/jwks.json" OSPREY_AUTH_JWKS_URL=
    OSPREY_SHUTDOWN_GRACE_SECONDS=5)
  [ -n "$inst" ] && envs+=(OSPREY_HTTP_INSTANCES="$inst")
  (cd "$tree" && exec env -u JWT_JWKS_URL -u OSPREY_CONFIG "${envs[@]}" java ${JAVA_OPTS:-} "$jtmp" -jar target/osprey.jar) \
    >> "$work/service-$v.log" 2>&1 &
  service_pid=$!
  url="http://127.0.0.1:$port"
  local deadline=$((SECONDS + 180))
  until curl -fs -o /dev/null "$url/health/live"; do
    if ! kill -0 "$service_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      failed "service ($v) did not start; its log:"
      tail -n 30 "$work/service-$v.log" >&2
      return 1
    fi
    sleep 0.5
  done
}

stop_service() {
  [ -n "$service_pid" ] || return 0
  kill "$service_pid" 2>/dev/null || true
  local i
  for i in $(seq 1 300); do kill -0 "$service_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$service_pid" 2>/dev/null || true
  wait "$service_pid" 2>/dev/null || true
  service_pid=""
}

# Only through run_child (it execs, so the background job's id is the JVM's).
osprey_cli() { exec java "$jtmp" -cp "$cli_jar" io.osprey.cli.OspreyCli --url "$url" --token "$token" "$@"; }

status_run() {
  local v=$1 out="$work/status-$v-$2.txt"
  token=$(cat "$(auth_of "$v")/token")
  start_service "$v" || { stop_service; return 0; }
  # The first round of a variant makes the job that every round polls (its database outlives the service).
  if [ ! -f "$work/job-$v" ]; then
    if run_child osprey_cli load --scenario detect --concurrency 1 --requests 1 --duration 300 > "$work/detect-$v.txt" 2>&1; then
      touch "$work/job-$v"
    else
      failed "could not make a job to poll ($v):"
      cat "$work/detect-$v.txt" >&2
      stop_service
      return 0
    fi
  fi
  run_child osprey_cli load --scenario status --concurrency 16 --duration "$warm_s" > /dev/null 2>&1 || true
  if run_child osprey_cli load --scenario status --concurrency 16 --duration "$status_s" > "$out" 2>&1; then
    local line
    line=$(grep '^status:' "$out")
    record status_rps "$v" "$(sed -n 's/.* = \([0-9.]*\) requests\/s.*/\1/p' <<< "$line")"
    record status_p99 "$v" "$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' <<< "$line")"
    log "status $v: $line"
  else
    failed "status polling failed ($v):"
    cat "$out" >&2
  fi
  stop_service
}

# ---------------------------------------------------------------- in-process benchmarks (each tree's test classpath)
# Only through run_child (it execs: the background job's id is timeout's, which passes a TERM on to the JVM).
bench_main() {
  local v=$1 main=$2 tree inst
  shift 2
  tree=$(tree_of "$v"); inst=$(instances_of "$v")
  local envs=(OSPREY_TEST_MODELS="$models" OSPREY_TEST_IMAGES="$images")
  [ -n "$inst" ] && envs+=(OSPREY_HTTP_INSTANCES="$inst")
  cd "$tree"
  exec env "${envs[@]}" timeout "$bench_timeout" java -Xmx2g "$jtmp" \
    -cp "target/test-classes:target/classes:$(cat target/bench.classpath)" "io.osprey.bench.$main" "$@"
}

events_run() {
  local v=$1 out="$work/events-$v-$2.txt" line
  bench_out=$out
  if run_child bench_main "$v" EventsBenchmark --subscribers "$subscribers" --events "$events" > "$out" 2>&1 \
      && line=$(grep '^subscribers' "$out"); then
    record sse_p50 "$v" "$(sed -n 's/.* p50 \([0-9.]*\) ms.*/\1/p' <<< "$line")"
    record sse_p99 "$v" "$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' <<< "$line")"
    record sse_max "$v" "$(sed -n 's/.* max \([0-9.]*\) ms.*/\1/p' <<< "$line")"
    log "events $v: $line"
  else
    failed "EventsBenchmark failed ($v):"
    tail -n 30 "$out" >&2
    bench_abandoned
  fi
  bench_end
}

annotations_run() {
  local v=$1 out="$work/annotations-$v-$2.txt" line
  bench_out=$out
  if run_child bench_main "$v" AnnotationsBenchmark --clients 4 --seconds "$ann_s" > "$out" 2>&1 \
      && line=$(grep '^clients' "$out"); then
    record ann_rps "$v" "$(sed -n 's/^clients *[0-9]*: *\([0-9.]*\) creates\/s.*/\1/p' <<< "$line")"
    record ann_p99 "$v" "$(sed -n 's/.* p99 *\([0-9.]*\) ms.*/\1/p' <<< "$line")"
    log "annotations $v: $line"
  else
    failed "AnnotationsBenchmark failed ($v):"
    tail -n 30 "$out" >&2
    bench_abandoned
  fi
  bench_end
}

# ---------------------------------------------------------------- rounds
# The variants take turns at each position (round r starts with the r-th of them): the run that follows another pays
# for what that one left behind (dirty pages written back, PostgreSQL's checkpoint and autovacuum), so with a fixed
# order the first variant of a round measured up to 15 % faster than the same tree measured third. Before each run
# the disks are synced, so that less of it carries over.
variants=(before after1 afterN)
settle() { sync; sleep 2; }
for r in $(seq 1 "$rounds"); do
  k=$(( (r - 1) % 3 ))
  order=("${variants[@]:k}" "${variants[@]:0:k}")
  log "round $r of $rounds: ${order[*]}"
  for v in "${order[@]}"; do settle; status_run "$v" "$r"; done
  for v in "${order[@]}"; do settle; events_run "$v" "$r"; done
  for v in "${order[@]}"; do settle; annotations_run "$v" "$r"; done
done

# ---------------------------------------------------------------- table
median() { # figure variant
  awk -v f="$1" -v v="$2" '$1 == f && $2 == v && $3 != "" { print $3 }' "$results" | sort -g \
    | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2];
                                else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# ratio after/before, and "WORSE" when more than 5 % worse in the figure's direction (higher = throughput)
compare() { # before after direction
  awk -v b="$1" -v a="$2" -v d="$3" 'BEGIN {
    if (b == "n/a" || a == "n/a" || b + 0 == 0) { printf "%-6s %-5s", "n/a", ""; exit }
    r = a / b; bad = (d == "higher" && r < 0.95) || (d == "lower" && r > 1.05)
    printf "%-6.3f %-5s", r, (d == "none" ? "" : (bad ? "WORSE" : "ok")) }'
}
echo
echo "Before = $base_ref ($(git rev-parse --short "$base_sha")), after = $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes');"
echo "machine: $cores cores, $(java -version 2>&1 | head -n 1); medians of $rounds round(s); status ${status_s} s x 16 clients,"
echo "SSE $subscribers subscribers x $events events, annotation creates ${ann_s} s x 4 clients. 1/N = OSPREY_HTTP_INSTANCES."
echo
worse=0
printf '%-34s %9s %9s %9s   %-12s %-12s\n' "figure" "before" "after 1" "after $cores" "after1/before" "after$cores/before"
while read -r key label dir; do
  b=$(median "$key" before); a1=$(median "$key" after1); an=$(median "$key" afterN)
  c1=$(compare "$b" "$a1" "$dir"); cn=$(compare "$b" "$an" "$dir")
  printf '%-34s %9s %9s %9s   %s  %s\n' "${label//_/ }" "$b" "$a1" "$an" "$c1" "$cn"
  flags="$c1 $cn"; rest=${flags//WORSE/}
  worse=$((worse + (${#flags} - ${#rest}) / 5))
done <<EOF
status_rps status_polling,_requests/s higher
status_p99 status_polling_p99,_ms lower
sse_p50 SSE_delivery_p50,_ms lower
sse_p99 SSE_delivery_p99,_ms lower
sse_max SSE_delivery_max,_ms_(not_flagged) none
ann_rps annotation_creates/s higher
ann_p99 annotation_create_p99,_ms lower
EOF
p99=$(median sse_p99 afterN)
echo
if [ "$subscribers" -eq 2000 ] && [ "$p99" != "n/a" ]; then
  awk -v p="$p99" 'BEGIN { printf "goal: SSE p99 at 2,000 subscribers < 50 ms with one instance per core: %s (%s ms)\n",
    (p < 50 ? "met" : "NOT met"), p }'
fi
echo "figures more than 5 % worse: $worse; runs that failed: $failures (their output is printed above)"
