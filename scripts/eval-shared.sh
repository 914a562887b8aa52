#!/usr/bin/env bash
# Regenerates the measured tables of docs/accuracy.md: `osprey eval --local` (COCO metrics, pycocotools' definitions)
# for every shared model on the shared aerial sets that have COCO ground truth (terrain1: 7 humans, terrain2: 5 cars),
# the whole image against SAHI slices. Accuracy does not depend on machine load; only the seconds do.
#   scripts/eval-shared.sh                       # all five models, slices 320,512,640,1024, confidence 0.25
#   MODELS=yolov8n_int8 SLICES=512 scripts/eval-shared.sh
# Env: OSPREY_SHARED (default ../shared), MODELS, SLICES, CONFIDENCE, THREADS (0 = all cores), DOC (default
# docs/accuracy.md; DOC= leaves it alone). Raw reports (JSON + Markdown per set and model): target/eval-shared/.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${OSPREY_SHARED:-../shared}"
models="${MODELS:-yolo11n_int8_320 yolo26n_int8_end2end yolov5n_int8 yolov8n_int8 yolox_nano}"
slices="${SLICES:-320,512,640,1024}"
confidence="${CONFIDENCE:-0.25}"
doc="${DOC-docs/accuracy.md}"
out=target/eval-shared
for f in "$shared/data/images/terrain1_coco.json" "$shared/data/images/terrain2_coco.json"; do
  [ -f "$f" ] || { echo "eval-shared: $f not found (set OSPREY_SHARED)" >&2; exit 2; }
done
mvn -B -q compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
cp="target/classes:$(cat target/classpath.txt)"
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.md
started=$(date -u +%Y-%m-%dT%H:%MZ)
load=$(cut -d' ' -f1-3 /proc/loadavg)
# The sets' own names differ from COCO's: human is COCO person; a car is often labelled truck (or bus) by COCO models.
for set in terrain1 terrain2; do
  case "$set" in
    terrain1) map=(--map human=person) ;;
    terrain2) map=(--map car=car,truck,bus) ;;
  esac
  for model in $models; do
    echo "eval-shared: $model on $set" >&2
    OSPREY_LOG_LEVEL=WARN java -cp "$cp" io.osprey.cli.OspreyCli eval --local --models-dir "$shared/models" \
      --model "$model" --gt "$shared/data/images/${set}_coco.json" "${map[@]}" --slice "$slices" \
      --confidence "$confidence" --threads "${THREADS:-0}" --native-cache target/native-cache \
      --out "$out/$set-$model" --title "$model on $set" >/dev/null
  done
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
machine="$(uname -sm), $cpu, $(nproc) cores, load average $load at the start (shared machine); java $(java -version 2>&1 | head -1 | cut -d'"' -f2)"
command="MODELS=\"$models\" SLICES=$slices CONFIDENCE=$confidence scripts/eval-shared.sh"
python3 - "$out" "$doc" "$started" "$machine" "$command" "$models" <<'PY'
import json, os, sys
out, doc, started, machine, command, models = sys.argv[1:7]
models = models.split()
def v(x):
    return "-1" if x < 0 else f"{x:.3f}"
lines = [f"Measured {started} on {machine}. Command: `{command}`.", ""]
summary = []
for s in ["terrain1", "terrain2"]:
    reports = {m: json.load(open(os.path.join(out, f"{s}-{m}.json"))) for m in models}
    first = reports[models[0]]
    labels = [c["label"] for c in first["configurations"]]
    cat = first["categories"][0]
    c0 = first["configurations"][0]["overall"]["counts_at_iou50"]
    lines.append(f"### {s}: {cat['annotations']} × `{cat['name']}` (model classes {', '.join(cat['model_classes'])});"
                 f" {c0['small']['truth']} small, {c0['medium']['truth']} medium, {c0['large']['truth']} large")
    lines.append("")
    lines.append("| model | metric | " + " | ".join(labels) + " |")
    lines.append("|---|---|" + "---:|" * len(labels))
    rows = [("AP", "AP"), ("AP50", "AP50"), ("AP75", "AP75"), ("APm", "APm"), ("APl", "APl"),
            ("AP50 small", "AP50s"), ("AP50 medium", "AP50m"), ("AR100", "AR100")]
    for m in models:
        cs = reports[m]["configurations"]
        for i, (name, key) in enumerate(rows):
            lines.append(f"| {m if i == 0 else ''} | {name} | " + " | ".join(v(c["overall"][key]) for c in cs) + " |")
        lines.append("| | found @.5 / false pos. | " + " | ".join(
            f"{c['overall']['counts_at_iou50']['all']['found']}/{c['overall']['counts_at_iou50']['all']['truth']}"
            f" / {c['overall']['counts_at_iou50']['all']['false_positives']}" for c in cs) + " |")
    lines.append("")
    # the comparisons the text draws on: means over the models, and how often a sliced run beats the full one
    means = {lab: {k: sum(reports[m]["configurations"][i]["overall"][k] for m in models) / len(models)
                   for k in ["AP", "AP50", "AP50m", "AR100"]} for i, lab in enumerate(labels)}
    lines.append("| mean over models | " + " | ".join(labels) + " |")
    lines.append("|---|" + "---:|" * len(labels))
    for k in ["AP", "AP50", "AP50m", "AR100"]:
        lines.append(f"| {k} | " + " | ".join(v(means[lab][k]) for lab in labels) + " |")
    for k in ["AP", "AP50"]:
        lines.append(f"| models with sliced ≥ full, {k} | – | " + " | ".join(
            str(sum(1 for m in models if reports[m]["configurations"][i]["overall"][k]
                    >= reports[m]["configurations"][0]["overall"][k] - 1e-12)) + f"/{len(models)}"
            for i in range(1, len(labels))) + " |")
    lines.append("")
text = "\n".join(lines)
open(os.path.join(out, "tables.md"), "w").write(text + "\n")
if doc:
    d = open(doc).read()
    begin, end = "<!-- eval-shared:begin -->", "<!-- eval-shared:end -->"
    a, b = d.index(begin) + len(begin), d.index(end)
    open(doc, "w").write(d[:a] + "\n" + text + "\n" + d[b:])
    print(f"{doc}: tables regenerated", file=sys.stderr)
print(text)
PY
