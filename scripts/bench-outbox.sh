#!/usr/bin/env bash
# Outbox drain rate, CPU per drained message, create-to-stream latency p50/p99 and the raw stream-client producer rate
# for the same message size (src/test/java/io/osprey/bench/OutboxBenchmark.java). Starts the servers; needs ../shared.
# e.g. scripts/bench-outbox.sh --rows 2000 --latency-samples 300
#
# Before/after in one run: scripts/bench-outbox.sh --compare REF [--rounds N] [benchmark options]
#   builds REF's main classes in a temporary git worktree under /tmp and runs this tree's benchmark against REF's
#   drainer and against this tree's, alternating (the order reversed every other round, default 2 rounds); prints
#   each run's figures, then the medians and the ratios this tree / REF (full logs in target/bench-outbox/). Other
#   work on the machine moves both alike only when it stays the same through the run: read the ratios, and the CPU
#   per message, more than the rates.
set -euo pipefail
cd "$(dirname "$0")/.."
"scripts/services.sh" --quiet
compare=""
rounds=2
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --compare) compare="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
if [ -z "$compare" ]; then
  exec scripts/bench.sh OutboxBenchmark "${args[@]}"
fi
case "$rounds" in ''|*[!0-9]*|0) echo "bench-outbox: --rounds takes a number >= 1" >&2; exit 2 ;; esac
export LC_ALL=C
scripts/prereqs.sh
mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
base_sha=$(git rev-parse --verify "$compare^{commit}")
work=$(mktemp -d /tmp/osprey-bench-outbox.XXXXXX)
# Each run's full output is kept in target/bench-outbox/ (replaced by the next comparison).
rm -rf target/bench-outbox
mkdir -p target/bench-outbox
cleanup() {
  git worktree remove --force "$work/base" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
git worktree add --detach "$work/base" "$base_sha" >/dev/null 2>&1
(cd "$work/base" && mvn -q -B -o -DskipTests compile)
classpath="$(cat target/bench.classpath)"
# The same benchmark class (this tree's test classes) drives both; only the service's classes differ.
run() { # $1: before|after, $2: the service's classes, $3: round
  local log="target/bench-outbox/$1.$3.log"
  if ! java -Xmx2g -cp "target/test-classes:$2:$classpath" io.osprey.bench.OutboxBenchmark "${args[@]}" >"$log" 2>&1
  then
    echo "bench-outbox: the $1 run of round $3 failed:" >&2
    tail -40 "$log" >&2
    exit 1
  fi
  grep '^DRAIN ' "$log" | sed "s/^DRAIN /$1 $3 /" >>"$work/results"
  grep '^DRAIN ' "$log" | sed "s/^DRAIN /  $1 (round $3): /"
  # The drainer's own account of its runs over the backlogs (this tree's drainer only: the other has no such line).
  awk '/outbox drain run:/ { n = $0; sub(/.*outbox drain run: /, "", n); if (n + 0 >= 1000) print "    drainer: " n }' \
    "$log"
}
echo "before = $compare ($base_sha), after = this tree; ${args[*]:-default options}; $(nproc) cores"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then
    run before "$work/base/target/classes" "$r"
    run after target/classes "$r"
  else
    run after target/classes "$r"
    run before "$work/base/target/classes" "$r"
  fi
done
awk '
  function field(name,   i, kv) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] } }
  function median(list, n,   i, j, t, a) {
    for (i = 1; i <= n; i++) a[i] = list[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    v = $1; n[v]++
    rate[v, n[v]] = field("rate"); warm[v, n[v]] = field("warm"); p99[v, n[v]] = field("p99")
    cpu[v, n[v]] = field("warm_jvm_us") - field("warm_jit_us") + field("warm_pg_us") + field("warm_rabbit_us")
    if (v == "after") { after_rate[$2] = field("rate"); after_warm[$2] = field("warm") }
    else { before_rate[$2] = field("rate"); before_warm[$2] = field("warm") }
  }
  END {
    for (v in n) { m = n[v]
      for (i = 1; i <= m; i++) { a[i] = rate[v, i]; w[i] = warm[v, i]; b[i] = p99[v, i]; c[i] = cpu[v, i] }
      med_rate[v] = median(a, m); med_warm[v] = median(w, m); med_p99[v] = median(b, m); med_cpu[v] = median(c, m)
      printf "%-6s median of %d: drain %.0f messages/s cold, %.0f warm; CPU %.0f us per message (warm, JIT left out); create-to-stream p99 %.1f ms\n", v, m, med_rate[v], med_warm[v], med_cpu[v], med_p99[v]
    }
    k = 0
    for (r in after_rate) if (r in before_rate) {
      k++; ratio[k] = after_rate[r] / before_rate[r]; wratio[k] = after_warm[r] / before_warm[r]
      printf "round %s: drain after/before %.2f cold, %.2f warm\n", r, ratio[k], wratio[k]
    }
    if (k > 0) printf "median drain after/before %.2f cold, %.2f warm; CPU per message after/before %.2f\n", median(ratio, k), median(wratio, k), med_cpu["after"] / med_cpu["before"]
  }' "$work/results"
