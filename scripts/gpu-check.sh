#!/usr/bin/env bash
# The prepared GPU check (issue 19): builds the `gpu` profile (ONNX Runtime with CUDA), then for every shared model
# runs the detection engine against raw CUDA session.run on the same tiles in one run, forces CUDA out-of-memory
# failures to prove the fallback to the model's CPU twin, and prints one table (src/test/java/io/osprey/bench/
# GpuCheck.java). Exit status: 0 all checks passed, 1 a model failed a check, 2 no GPU / no CUDA build.
#
#   scripts/gpu-check.sh                      # on a GPU machine
#   scripts/gpu-check.sh --device cpu         # dry run anywhere: CPU sessions under the CUDA label, CPU build
#   scripts/gpu-check.sh --models yolox_nano --rounds 10 --slice 640 --image terrain1.jpg
#
# Needs ../shared (models and images) or OSPREY_SHARED. The gpu build downloads onnxruntime_gpu (~640 MB) from Maven
# Central once; on a machine without network, fill ~/.m2 beforehand and pass MAVEN_ARGS=-o. ONNX Runtime 1.29's CUDA
# provider needs the CUDA 12 runtime and cuDNN 9 libraries on the library path.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cuda
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="${2:?--device needs cuda or cpu}"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$device" in
  cuda)
    if ! command -v nvidia-smi >/dev/null 2>&1; then
      echo "gpu-check: no CUDA device here (nvidia-smi not found). Run it on a GPU machine, or" \
           "'scripts/gpu-check.sh --device cpu' for the dry run of everything but the GPU." >&2
      exit 2
    fi
    if ! gpus="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)" \
        || [ -z "$gpus" ]; then
      echo "gpu-check: nvidia-smi finds no usable GPU: $gpus" >&2
      exit 2
    fi
    echo "gpu-check: $gpus"
    profile=(-Pgpu)
    classpath=target/gpu.classpath
    ;;
  cpu)
    profile=()
    classpath=target/bench.classpath
    ;;
  *) echo "gpu-check: --device is cuda or cpu, got $device" >&2; exit 2 ;;
esac
scripts/prereqs.sh
# shellcheck disable=SC2086
mvn -q -B ${MAVEN_ARGS:-} -DskipTests "${profile[@]}" test-compile dependency:build-classpath \
  -Dmdep.outputFile="$classpath" -Dmdep.includeScope=test
exec java -Xmx4g -cp "target/test-classes:target/classes:$(cat "$classpath")" io.osprey.bench.GpuCheck \
  --device "$device" "${args[@]}"
