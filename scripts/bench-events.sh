#!/usr/bin/env bash
# Live-event (SSE) delivery latency: p50/p99 at 2,000 concurrent subscribers with http.instances = 1 and = the
# number of cores (src/test/java/io/osprey/bench/EventsBenchmark.java; goal of issues 16 and 19: p99 < 50 ms).
# Each variant runs in a JVM of its own (a JVM that measured one variant first would give the next one its compiled
# code), --rounds times, the order reversed every other round; the table gives each variant's median. Starts the
# servers. Run it on a quiet machine: on a shared one every figure rises with the others' load (see
# docs/benchmarks.md, which also says how to read the CPU lines).
#
#   scripts/bench-events.sh [--rounds 2] [--instances 1,<cores>] [EventsBenchmark options]
#   e.g. scripts/bench-events.sh --subscribers 100,1000,2000 --events 30 --warmup 10 --threads
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh --quiet
scripts/prereqs.sh

cores=$(nproc)
rounds=2
instances="1,$cores"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --instances) instances="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
case " ${args[*]-} " in *" --subscribers "*) ;; *) args+=(--subscribers 2000) ;; esac
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds: a positive whole number" >&2; exit 2; }

mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
cp="target/test-classes:target/classes:$(cat target/bench.classpath)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

IFS=, read -r -a variants <<< "$instances"
echo "machine: $cores cores, $(java -version 2>&1 | head -n 1); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  order=("${variants[@]}")
  if [ $((r % 2)) -eq 0 ]; then
    order=()
    for ((i = ${#variants[@]} - 1; i >= 0; i--)); do order+=("${variants[$i]}"); done
  fi
  for v in "${order[@]}"; do
    log="$out/round$r-instances$v.txt"
    java -Xmx2g -cp "$cp" io.osprey.bench.EventsBenchmark --instances "$v" "${args[@]}" > "$log" 2>&1 || {
      echo "EventsBenchmark failed (http.instances $v, round $r):" >&2
      tail -n 30 "$log" >&2
      exit 1
    }
    echo "round $r, http.instances $v (load $(cut -d' ' -f1 /proc/loadavg)):"
    sed -n '/^warm-up/p; /^subscribers/,/^  worst/p' "$log" | sed 's/^/  /'
  done
done

# Median per variant and subscriber count of p50, p99 and the service CPU per delivery.
med() { sort -n | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "medians of $rounds round(s):"
printf '  %-16s %-12s %8s %8s %8s %22s\n' "http.instances" "subscribers" "p50 ms" "p99 ms" "max ms" "service CPU/delivery"
for v in "${variants[@]}"; do
  for n in $(grep -h '^subscribers' "$out"/round*-instances"$v".txt | awk '{print $2}' | sort -n -u); do
    lines=$(grep -h "^subscribers *$n " "$out"/round*-instances"$v".txt)
    cpu=$(grep -h -A2 "^subscribers *$n " "$out"/round*-instances"$v".txt | sed -n 's/.*per delivery: service \([0-9.]*\) us.*/\1/p')
    p50=$(sed -n 's/.* p50 \([0-9.]*\) ms.*/\1/p' <<< "$lines" | med)
    p99=$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' <<< "$lines" | med)
    max=$(sed -n 's/.* max \([0-9.]*\) ms.*/\1/p' <<< "$lines" | med)
    c=$(med <<< "$cpu")
    printf '  %-16s %-12s %8s %8s %8s %19s us\n' "$v" "$n" "$p50" "$p99" "$max" "$c"
  done
done
echo "goal (issues 16, 19): p99 < 50 ms at 2,000 subscribers; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
