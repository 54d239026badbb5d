#!/bin/sh
# Trains the factory-line detector from scratch, reproducibly: renders the training footage with `fovea synth`
# (fixed seeds, never the evaluation seeds 1-99), trains tools/train/train.py (on the GPU when PyTorch sees one) and
# writes models/factory_detector.onnx with its .json (training facts) and .labels.
#   tools/train/train.sh
# Environment: FOVEA (the fovea binary), FOVEA_CACHE_DIR, PYTHON, OUT_MODEL, SIZE (WIDTHxHEIGHT), EPOCHS,
# WIDTHS (channels at strides 2-32, default train.py's), WORKERS (loader processes), TIME_BUDGET (minutes: fewer epochs if they do not fit; the log says how to reproduce),
# RENDER_ONLY=1 (render the footage and stop).
# The committed model's .json records the epochs, device and data it was trained with (see models/factory_detector.md).
set -eu
cd "$(dirname "$0")/../.."
FOVEA=${FOVEA:-build/release/apps/fovea/fovea}
PYTHON=${PYTHON:-/usr/bin/python3}
CACHE=${FOVEA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fovea}/train-v4
OUT_MODEL=${OUT_MODEL:-models/factory_detector.onnx}
SIZE=${SIZE:-768x448}
EPOCHS=${EPOCHS:-12}
WORKERS=${WORKERS:-2}
TIME_BUDGET=${TIME_BUDGET:-0}
mkdir -p "$CACHE"
# Three sets of 8 cameras x 48 s at 720p15, every lighting profile, mostly defective parts (defects are the rare
# classes): clean; with sensor noise and motion blur; clean with a higher defect rate. Rendered in parallel.
render() {
    [ -f "$CACHE/$1/manifest.json" ] && return 0
    nice -n 10 "$FOVEA" synth --out "$CACHE/$1" --streams 8 --duration 48 --seed "$2" --defect-rate "$3" $4 >"$CACHE/$1.log" 2>&1
}
render a 1000 0.6 "" &
render b 2000 0.6 "--noise 4 --motion-blur" &
render c 3000 0.8 "--noise 1.5" &
wait
for set in a b c; do
    [ -f "$CACHE/$set/manifest.json" ] || { echo "rendering $CACHE/$set failed:" >&2; cat "$CACHE/$set.log" >&2; exit 1; }
done
[ "${RENDER_ONLY:-0}" = 1 ] && exit 0
exec nice -n 10 "$PYTHON" tools/train/train.py --data "$CACHE/a" "$CACHE/b" "$CACHE/c" --out "$OUT_MODEL" \
    --width "${SIZE%x*}" --height "${SIZE#*x}" --every 2 --epochs "$EPOCHS" --workers "$WORKERS" \
    --time-budget "$TIME_BUDGET" ${WIDTHS:+--widths "$WIDTHS"}
