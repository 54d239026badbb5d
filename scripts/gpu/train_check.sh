#!/usr/bin/env bash
# On the GPU machine, after run.sh has unpacked a bundle holding `fovea` (rec.onnx and ppocr_keys_v1.txt optional):
#   bash scripts/gpu/run.sh bash scripts/gpu/train_check.sh MINUTES NAME:SIZE:WIDTHS...
#   e.g. train_check.sh 6 base:768x448:16,24,32,64,96 wide:768x448:16,32,48,96,128
# Trains the factory detector variants side by side with tools/train/train.sh, each fitting its epochs into MINUTES,
# while the validation (seed 2, 8 cameras) and evaluation (seed 1, 16 cameras) footage renders. With EVAL=1 it then
# scores each variant with scripts/gpu/eval_check.sh (cuda FP16) on the validation footage, which is where a variant
# is chosen; run eval_check.sh on seed 1 for the chosen one. Models, logs and reports go to $OUT/train_check.tgz (the
# device tool brings back only a few files per run).
set -uo pipefail
logs=/tmp/fovea/train_check
mkdir -p "$logs"
trap '[ -n "${OUT:-}" ] && tar -C "$logs" -czf "$OUT/train_check.tgz" .' EXIT
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
minutes=$1
shift
export FOVEA=/tmp/fovea/bin/fovea PYTHON=python3 FOVEA_CACHE_DIR=/tmp/fovea/cache TIME_BUDGET=$minutes
export WORKERS=$((($(nproc) - 2) / $#))
for seed_streams in "2 8" "1 16"; do
    read -r seed streams <<<"$seed_streams"
    (fovea synth --out "/tmp/fovea/eval-seed$seed-$streams" --streams "$streams" --duration 20 --seed "$seed" \
        >"$logs/synth_seed$seed.log" 2>&1) &
done
start=$(date +%s)
RENDER_ONLY=1 "$here/../../tools/train/train.sh" || exit 1
echo "training footage rendered in $(($(date +%s) - start)) s"
names=()
for variant in "$@"; do
    IFS=: read -r name size widths <<<"$variant"
    names+=("$name")
    mkdir -p "$logs/$name"
    SIZE=$size WIDTHS=$widths OUT_MODEL="$logs/$name/factory_detector.onnx" "$here/../../tools/train/train.sh" \
        >"$logs/train_$name.log" 2>&1 &
done
wait
for name in "${names[@]}"; do
    echo "## training $name"
    grep -v -i warn "$logs/train_$name.log" | grep -v "^ *_C\._jit" | tail -8
done
[ "${EVAL:-0}" = 1 ] || exit 0
for name in "${names[@]}"; do
    [ -f "$logs/$name/factory_detector.onnx" ] || continue
    (OUT= LOGS="$logs/$name" EQUALIZE=global EVAL_SEED=2 EVAL_STREAMS=8 bash "$here/eval_check.sh" \
        "$logs/$name/factory_detector.onnx" fp16 >"$logs/eval_$name.txt" 2>&1) &
done
wait
for name in "${names[@]}"; do
    echo "# validation eval $name"
    cat "$logs/eval_$name.txt" 2>/dev/null
done
