#!/bin/sh
# Trains the factory-line detector from scratch, reproducibly: renders the training footage with `fovea synth`
# (fixed seeds, never the evaluation seeds 1-99), trains tools/train/train.py on the CPU (nice'd: the machine is
# shared) and writes models/factory_detector.onnx with its .json (training facts) and .labels.
#   tools/train/train.sh    # FOVEA=path/to/fovea, FOVEA_CACHE_DIR, EPOCHS, STOP_AFTER, TIME_LIMIT (minutes) override
# The committed model is a 6-epoch schedule stopped after epoch 4 (when a 20-minute limit ran out on a busy machine);
# the defaults reproduce exactly that, without depending on the machine's speed.
set -eu
cd "$(dirname "$0")/../.."
FOVEA=${FOVEA:-build/release/apps/fovea/fovea}
CACHE=${FOVEA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fovea}/train-v2
EPOCHS=${EPOCHS:-6}
STOP_AFTER=${STOP_AFTER:-4}
TIME_LIMIT=${TIME_LIMIT:-0}
mkdir -p "$CACHE"
# Two sets of 8 cameras x 48 s at 720p15, every lighting profile, 60% defective parts (defects are the rare
# classes): clean, and with sensor noise and motion blur.
[ -f "$CACHE/a/manifest.json" ] || nice -n 10 "$FOVEA" synth --out "$CACHE/a" --streams 8 --duration 48 --seed 1000 \
    --defect-rate 0.6
[ -f "$CACHE/b/manifest.json" ] || nice -n 10 "$FOVEA" synth --out "$CACHE/b" --streams 8 --duration 48 --seed 2000 \
    --defect-rate 0.6 --noise 4 --motion-blur
exec nice -n 10 /usr/bin/python3 tools/train/train.py --data "$CACHE/a" "$CACHE/b" --out models/factory_detector.onnx \
    --epochs "$EPOCHS" --stop-after "$STOP_AFTER" --time-limit "$TIME_LIMIT"
