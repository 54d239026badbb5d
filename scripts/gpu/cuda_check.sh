#!/usr/bin/env bash
# On the GPU machine, after run.sh has unpacked the bundle (see docs/gpu.md for the bundle command):
#   bash scripts/gpu/run.sh bash scripts/gpu/cuda_check.sh [all|tests|bench|profile]
# "tests" and "bench" each fit the device tool's 10-minute limit per command; "all" (the default) may not.
# Rebuilds the zoo cache from the packed models (ONNX Runtime references computed here), runs the cuda backend's
# tests (tests/cuda: per-op vs the reference backend, five zoo CNNs in fp32/tf32/fp16), the zoo suite on cuda, and
# fovea_cuda_bench for ResNet-50 (fp16, tf32, fp32; batch 1 and 128). Full logs go to $OUT (or /tmp/fovea/logs); a short
# summary table comes last.
set -uo pipefail
root=/tmp/fovea
logs="${OUT:-$root/logs}"
mkdir -p "$logs"
# PyTorch's cuDNN and cuBLAS come first (run.sh); the toolkit's cuBLAS is the fallback.
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64"
export FOVEA_ZOO_DIR="$root/zoo"
stage="${1:-all}"
summary=()
row() { summary+=("| $1 | $2 |"); }
run_tests=0
run_bench=0
[[ $stage == all || $stage == tests ]] && run_tests=1
[[ $stage == all || $stage == bench ]] && run_bench=1
# "profile": where the GPU time goes (FOVEA_CUDA_PROFILE=1: per-op table, slowest launches) for ResNet-50 b128 and
# the YOLOv5s-style detector b16 in fp16; not part of "all".
run_profile=0
[[ $stage == profile ]] && run_profile=1

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$logs/gpu.txt" 2>&1
row "GPU" "$(head -1 "$logs/gpu.txt")"

start=$SECONDS
[ -f "$FOVEA_ZOO_DIR/.stamp" ] ||
python3 "$(dirname "${BASH_SOURCE[0]}")/zoo_transport.py" unpack "$root/models" "$FOVEA_ZOO_DIR" >"$logs/zoo_unpack.log" 2>&1
row "zoo cache rebuilt" "rc $? in $((SECONDS - start)) s ($(ls "$FOVEA_ZOO_DIR" 2>/dev/null | wc -l) models)"

# gtest's summary lines: "[  PASSED  ] N tests.", "[  FAILED  ] N tests, listed below:", "[  SKIPPED ] N tests".
counts() {
    local log=$1
    local passed failed skipped
    passed=$(grep -oP '^\[  PASSED  \] \K[0-9]+' "$log" | tail -1)
    failed=$(grep -oP '^\[  FAILED  \] \K[0-9]+(?= tests?, listed)' "$log" | tail -1)
    skipped=$(grep -oP '^\[  SKIPPED \] \K[0-9]+(?= tests?,)' "$log" | tail -1)
    echo "passed ${passed:-0}, failed ${failed:-0}, skipped ${skipped:-0}"
}

if ((run_tests)); then
start=$SECONDS
# fp16 engine builds compile cuDNN runtime-fusion kernels (seconds each): the suite takes minutes.
timeout 480 fovea_cuda --gtest_color=no >"$logs/fovea_cuda.log" 2>&1
row "tests/cuda (fovea_cuda)" "rc $?: $(counts "$logs/fovea_cuda.log") in $((SECONDS - start)) s"
grep -E '^\[  FAILED  \] [A-Za-z]' "$logs/fovea_cuda.log" | sort -u | head -20 | while read -r line; do echo "  $line"; done \
    >"$logs/fovea_cuda_failures.txt"
grep -E '^fovea cuda:' "$logs/fovea_cuda.log" | head -1 >"$logs/cudnn.txt"
row "device / cuDNN" "$(cat "$logs/cudnn.txt")"

start=$SECONDS
timeout 150 fovea_zoo --gtest_color=no --gtest_filter='*_cuda' >"$logs/fovea_zoo_cuda.log" 2>&1
row "zoo on cuda fp32 vs ORT, rel L2 < 1e-4 (fovea_zoo)" "rc $?: $(counts "$logs/fovea_zoo_cuda.log") in $((SECONDS - start)) s"

# The pipeline's fused CUDA preprocessing against the CPU path, and its speed against the copy-bandwidth floor.
if command -v fovea_vision_tests >/dev/null; then
    start=$SECONDS
    timeout 120 fovea_vision_tests --gtest_color=no --gtest_filter='CudaPreprocessor*:DeviceFrames*:CudaYoloDecoder*' \
        >"$logs/vision_cuda.log" 2>&1
    row "vision: CUDA preprocessing vs CPU, GPU frames in place (fovea_vision_tests)" "rc $?: $(counts "$logs/vision_cuda.log") in $((SECONDS - start)) s"
    if command -v preprocess_cuda_bench >/dev/null; then
        timeout 120 preprocess_cuda_bench >"$logs/preprocess_cuda_bench.md" 2>&1
        row "preprocess_cuda_bench" "rc $?"
    fi
fi
# NVDEC frames kept in GPU memory: the media layer (frames held past NVDEC's surface count, downloads equal to CPU
# decoding) and whole pipelines (NVDEC vs CPU decode: events, snapshots, mixed batches). Their clips are written by
# fovea's own encoder: this machine has no ffmpeg CLI.
if command -v fovea_media_tests >/dev/null; then
    start=$SECONDS
    timeout 120 fovea_media_tests --gtest_color=no --gtest_filter='Nvdec*:DeviceFrame*' >"$logs/media_nvdec.log" 2>&1
    row "media: NVDEC frames on the GPU (fovea_media_tests)" "rc $?: $(counts "$logs/media_nvdec.log") in $((SECONDS - start)) s"
fi
if command -v fovea_pipeline_tests >/dev/null; then
    start=$SECONDS
    timeout 300 fovea_pipeline_tests --gtest_color=no \
        --gtest_filter='Pipeline.Nvdec*:Pipeline.Cuda*:Pipeline.Snapshots*' >"$logs/pipeline_gpu.log" 2>&1
    row "pipeline: NVDEC in place vs CPU decode, cuda vs cpu (fovea_pipeline_tests)" "rc $?: $(counts "$logs/pipeline_gpu.log") in $((SECONDS - start)) s"
fi

# Session creation + first run per (model, batch, precision): the engine build, cuDNN algorithm search included.
grep -E 'engine build' "$logs/fovea_cuda.log" >"$logs/engine_build.txt"
fi

if ((run_profile)); then
    for case in resnet50:128 yolov5s_style:16; do
        name=${case%%:*} batch=${case##*:}
        FOVEA_CUDA_PROFILE=1 timeout 150 fovea_cuda_bench "$FOVEA_ZOO_DIR/$name/model.onnx" fp16 "$batch" 20 \
            >"$logs/profile_${name}_b$batch.txt" 2>&1
        row "profile $name b$batch fp16" "rc $?"
        echo "## $name batch $batch fp16"
        grep -A40 'fovea cuda profile' "$logs/profile_${name}_b$batch.txt" | head -45
        echo
    done
fi

model="$FOVEA_ZOO_DIR/resnet50/model.onnx"
bench_rows=()
((run_bench)) && for precision in fp16 tf32 fp32; do
    # fovea_cuda_bench: fovea bench's measurement without the media libraries, which would not fit the bundle.
    timeout 150 fovea_cuda_bench "$model" "$precision" 1,128 50 >"$logs/bench_resnet50_$precision.md" 2>&1
    rc=$?
    while IFS= read -r line; do bench_rows+=("$line"); done < <(grep -E '^\| .*resnet50' "$logs/bench_resnet50_$precision.md")
    ((rc == 0)) || row "bench $precision" "rc $rc: $(tail -1 "$logs/bench_resnet50_$precision.md")"
done

if ((run_tests)); then
echo
echo "## cuda check: details"
echo
echo "Failed tests (first 20):"
cat "$logs/fovea_cuda_failures.txt"
grep -E '^\[  FAILED  \] [A-Za-z]' "$logs/fovea_zoo_cuda.log" | sort -u | head -20
grep -E '^\[  FAILED  \] [A-Za-z]' "$logs/vision_cuda.log" 2>/dev/null | sort -u | head -20
grep -hE '^\[  FAILED  \] [A-Za-z]' "$logs/media_nvdec.log" "$logs/pipeline_gpu.log" 2>/dev/null | sort -u | head -20
grep -hE '^\[  SKIPPED \] [A-Za-z]' "$logs/media_nvdec.log" "$logs/pipeline_gpu.log" 2>/dev/null | head -20
echo
echo "Preprocessing benchmark:"
cat "$logs/preprocess_cuda_bench.md" 2>/dev/null
echo
echo "Engine builds (session load + first run):"
cat "$logs/engine_build.txt"
echo
echo "Zoo rel L2 (tests/cuda, last run of each case):"
grep -E 'run 2: output' "$logs/fovea_cuda.log" | sed 's/^cuda zoo /  /'
fi
((run_bench)) && {
echo
echo "## ResNet-50 (fovea_cuda_bench: median of 50 runs after 10 warm-up runs, host copies in and out included)"
echo
echo "| model | backend | precision | batch | build ms | median ms | p90 ms | items/s | arena MB | nodes |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${bench_rows[@]}"
}
echo
echo "## cuda check: summary (logs in $logs)"
echo
echo "| what | result |"
echo "|---|---|"
printf '%s\n' "${summary[@]}"
