#!/usr/bin/env bash
# On the GPU machine, after run.sh has unpacked a bundle holding `fovea` (rec.onnx and ppocr_keys_v1.txt optional):
#   bash scripts/gpu/run.sh bash scripts/gpu/train_check.sh [MINUTES]
# Trains the factory detector with tools/train/train.sh at two input sizes side by side on the GPU (512x288 and
# 768x448, the committed size), each fitting its epochs into MINUTES (default 2.5), then scores both with
# scripts/gpu/eval_check.sh (cuda FP16). Models, training logs and eval reports go to $OUT/train_check.tgz (the
# device tool brings back only a few files per run).
set -uo pipefail
logs=/tmp/fovea/train_check
mkdir -p "$logs"
trap '[ -n "${OUT:-}" ] && tar -C "$logs" -czf "$OUT/train_check.tgz" .' EXIT
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
minutes=${1:-2.5}
export FOVEA=/tmp/fovea/bin/fovea PYTHON=python3 FOVEA_CACHE_DIR=/tmp/fovea/cache WORKERS=7 TIME_BUDGET=$minutes
# The evaluation footage renders while the detectors train.
(fovea synth --out /tmp/fovea/eval-seed1 --streams 16 --duration 20 --seed 1 >"$logs/eval_synth.log" 2>&1) &
start=$(date +%s)
RENDER_ONLY=1 "$here/../../tools/train/train.sh" || exit 1
echo "training footage rendered in $(($(date +%s) - start)) s"
for size in 512x288 768x448; do
    mkdir -p "$logs/$size"
    SIZE=$size OUT_MODEL="$logs/$size/factory_detector.onnx" "$here/../../tools/train/train.sh" >"$logs/train_$size.log" 2>&1 &
done
wait
for size in 512x288 768x448; do
    echo "## training $size"
    grep -v -i warn "$logs/train_$size.log" | grep -v "^ *_C\._jit" | tail -8
done
for size in 512x288 768x448; do
    [ -f "$logs/$size/factory_detector.onnx" ] || continue
    (OUT= LOGS="$logs/$size" EQUALIZE=global bash "$here/eval_check.sh" "$logs/$size/factory_detector.onnx" fp16 >"$logs/eval_$size.txt" 2>&1) &
done
wait
for size in 512x288 768x448; do
    echo "# eval $size"
    cat "$logs/eval_$size.txt" 2>/dev/null
done
