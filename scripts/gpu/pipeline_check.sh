#!/usr/bin/env bash
# On the GPU machine, after run.sh has unpacked a bundle holding the `fovea` CLI and the packed YOLOv5s-style model:
#   bash scripts/gpu/run.sh bash scripts/gpu/pipeline_check.sh [STREAMS...]
# Renders a 1080p30 H.264 conveyor clip with `fovea synth` (the GPU machine has no ffmpeg CLI), then runs
# `fovea run` for each stream count: every stream a real-time 1080p30 camera (the clip, looped), NVDEC decoding
# (`auto`: frames stay in GPU memory, read in place by the preprocessing kernel) or CPU decoding (`none`: frames
# uploaded), the YOLOv5s-style detector in FP16 on the cuda backend, batches across streams. Prints a table of inferred
# frames/s, drops and capture-to-event latency per stream count; full logs and stats JSON go to $OUT.
# PIPELINE_SECONDS (15) sets each run's measured length, after PIPELINE_WARMUP (5) seconds; PIPELINE_DECODES
# ("auto none") the decoders tried; PIPELINE_CLIP_SECONDS (10) the clip's length.
set -uo pipefail
root=/tmp/fovea
logs="${OUT:-$root/logs}"
mkdir -p "$logs"
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64"
counts=("${@:-16 32 64}")
seconds=${PIPELINE_SECONDS:-15}
warmup=${PIPELINE_WARMUP:-5}  # seconds before the statistics start: NVDEC sessions opening, first batches
decodes=(${PIPELINE_DECODES:-auto none})  # NVDEC, CPU
clip_seconds=${PIPELINE_CLIP_SECONDS:-10}  # every camera loops the clip: longer than warm-up + run, none loops
here="$(dirname "${BASH_SOURCE[0]}")"

# The detector: from the bundle's packed zoo when it has one, else exported here by PyTorch (random weights, as in the
# zoo), which keeps the bundle under the device tool's 64 MiB.
model="$root/zoo/yolov5s_style/model.onnx"
if [ ! -f "$model" ] && ls "$root/models/yolov5s_style."* >/dev/null 2>&1; then
    python3 "$here/zoo_transport.py" unpack "$root/models" "$root/zoo" >"$logs/zoo_unpack.log" 2>&1
fi
if [ ! -f "$model" ]; then
    mkdir -p "$(dirname "$model")"
    python3 - "$here/../../bench" "$model" >"$logs/export.log" 2>&1 <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import cuda_peers
cuda_peers.export_onnx(cuda_peers.build_module("yolov5s"), 640, cuda_peers.Path(sys.argv[2]))
PY
fi
clip_dir="$root/clips-${clip_seconds}s"
[ -f "$clip_dir/stream_0.mp4" ] ||
    fovea synth --out "$clip_dir" --resolution 1080p --fps 30 --duration "$clip_seconds" --streams 1 >"$logs/synth.log" 2>&1

rows=()
for n in ${counts[*]}; do
    for decode in "${decodes[@]}"; do
        batch=$((n < 64 ? n : 64))
        cat >"$logs/p${n}_${decode}.yaml" <<EOF
pipeline: {device: cuda, queue_depth: 1}
models:
  det:
    path: $model
    type: yolov5
    precision: fp16
    max_batch: $batch
    max_delay_us: 4000
    input: {width: 640, height: 640}
sources:
  - {name: "cam{i}", uri: $clip_dir/stream_0.mp4, count: $n, loop: true, hw_decode: $decode}
sinks: {console: false}
EOF
        timeout 300 fovea run "$logs/p${n}_${decode}.yaml" --warmup "$warmup" --duration "$seconds" --no-console \
            --stats-json "$logs/p${n}_${decode}.json" >"$logs/p${n}_${decode}.log" 2>&1
        rc=$?
        rows+=("$(python3 - "$logs/p${n}_${decode}.json" "$n" "$decode" "$rc" <<'PY'
import json, sys
path, n, decode, rc = sys.argv[1:]
try:
    s = json.load(open(path))
except Exception as e:
    print(f"| {n} | {decode} | rc {rc}: no stats ({e}) ||||||||")
    sys.exit()
t, st = s["totals"], s["stages_ms"]
want = 30.0 * int(n)
# NVDEC frames read in GPU memory as decoded (zero-copy) vs frames uploaded from the host.
g = s.get("gpu_frames", {})
frames = f"{g.get('in_place', '-')} / {g.get('uploaded', '-')}"
print(f"| {n} | {decode} | {t['inferred_fps']:.0f} / {want:.0f} | {t['dropped']} | "
      f"{st['capture_to_event']['p50']:.1f} | {st['capture_to_event']['p99']:.1f} | {st['inference']['p50']:.2f} | "
      f"{st['decode']['p50']:.2f} | {st['preprocess']['p50']:.2f} | {frames} | "
      f"{st['capture_to_event']['max']:.0f} @ {st['capture_to_event'].get('max_at_s', -1):.1f} s | "
      f"{json.dumps(s['batch_sizes'])[:60]} |")
PY
)")
    done
done

echo "## Pipeline on the GPU: N x 1080p30 H.264 cameras, YOLOv5s-style FP16 on cuda (${seconds} s each after ${warmup} s of warm-up)"
echo
echo "| streams | decode | inferred fps / camera fps | dropped | p50 ms | p99 ms | inference p50 ms (batch) | decode p50 ms | preprocess p50 ms | frames in GPU memory / uploaded | slowest frame ms @ second of the window | batch sizes |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null); CPU cores: $(nproc)"
tail -3 "$logs/p${counts[0]}_auto.log" 2>/dev/null
