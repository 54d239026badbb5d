#!/usr/bin/env bash
# Builds the zoo cache that tests/zoo (fovea_zoo) compares against ONNX Runtime:
#
#   $FOVEA_CACHE_DIR/zoo/<model>/model.onnx                 symlink to the model under $FOVEA_CACHE_DIR/models/
#   $FOVEA_CACHE_DIR/zoo/<model>/b<N>/inputs/<input>.npy    random image-like inputs (fixed seed), batch N in {1, 2}
#   $FOVEA_CACHE_DIR/zoo/<model>/b<N>/ort/<output>.npy      ONNX Runtime's outputs for them (tools/zoo/ort_run.mjs)
#
# Idempotent: each (model, batch) is skipped when done, and a stamp with the recipe versions makes a rerun of
# a finished cache return at once. Bump ZOO_RECIPE when the inputs or ORT outputs change (the table below,
# the `inputs` command of export_models.py, ort_run.mjs), and EXPORT_RECIPE when the exported models change
# (export_models.py export, detectors.py); the next run rebuilds what depends on them.
# Environment: FOVEA_CACHE_DIR (default ~/$FOVEA_CACHE_DIR/fovea, outside the clone so that fresh clones reuse it), FOVEA_PYTHON (default /usr/bin/python3).
set -euo pipefail

readonly ZOO_RECIPE=2
readonly EXPORT_RECIPE=1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${FOVEA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fovea}"
export FOVEA_NPM_PREFIX="${FOVEA_NPM_PREFIX:-$cache/npm}"
python="${FOVEA_PYTHON:-/usr/bin/python3}"
zoo="$cache/zoo"
stamp="$zoo/.stamp"

# name | model file (under $cache/models) | height | width | input normalization | input content
readonly MODELS=(
    "resnet50|zoo/resnet50.onnx|224|224|imagenet|noise"
    "mobilenet_v2|zoo/mobilenet_v2.onnx|224|224|imagenet|noise"
    "mobilenet_v3_small|zoo/mobilenet_v3_small.onnx|224|224|imagenet|noise"
    "efficientnet_b0|zoo/efficientnet_b0.onnx|224|224|imagenet|noise"
    "shufflenet_v2_x1_0|zoo/shufflenet_v2_x1_0.onnx|224|224|imagenet|noise"
    "densenet121|zoo/densenet121.onnx|224|224|imagenet|noise"
    "convnext_tiny|zoo/convnext_tiny.onnx|224|224|imagenet|noise"
    "yolov5s_style|zoo/yolov5s_style.onnx|640|640|unit|noise"
    "yolov8n_style|zoo/yolov8n_style.onnx|640|640|unit|noise"
    "ppocr_det|ppocr/det.onnx|640|640|imagenet|text"
    "ppocr_rec|ppocr/rec.onnx|48|320|paddle|text"
    "ppocr_cls|ppocr/cls.onnx|48|192|paddle|text"
)
readonly BATCHES=(1 2)

zoo_stamp="zoo recipe $ZOO_RECIPE, export recipe $EXPORT_RECIPE"
export_stamp="export recipe $EXPORT_RECIPE"
exported="$cache/models/zoo"

# Size and mtime of a model file: a re-export or a new download changes it, and the cases built on the old
# file are rebuilt. fetch-models.sh only rewrites a file whose content changed.
model_id() { stat -L -c '%s %Y' "$1" 2>/dev/null || echo missing; }

if [[ "$(cat "$stamp" 2>/dev/null)" == "$zoo_stamp" ]]; then
    complete=1
    for entry in "${MODELS[@]}"; do
        IFS='|' read -r name file _ <<<"$entry"
        [[ "$(cat "$zoo/$name/model.id" 2>/dev/null)" == "$(model_id "$cache/models/$file")" ]] || complete=0
        for b in "${BATCHES[@]}"; do
            [[ -f "$zoo/$name/b$b/.done" ]] || complete=0
        done
    done
    if ((complete)); then
        echo "make-zoo: $zoo is up to date ($zoo_stamp)"
        exit 0
    fi
fi

if [[ ! -x "$python" ]]; then
    echo "make-zoo: $python not found (set FOVEA_PYTHON to a python with torch, torchvision, onnx, numpy)" >&2
    exit 1
fi
command -v node >/dev/null || { echo "make-zoo: node not found (Node.js 20+ is required)" >&2; exit 1; }

start=$EPOCHREALTIME
if [[ -d "$exported" && "$(cat "$exported/.stamp" 2>/dev/null)" != "$export_stamp" ]]; then
    echo "make-zoo: export recipe changed, removing $exported"
    rm -rf "$exported"
fi
if [[ -d "$zoo" && "$(cat "$stamp" 2>/dev/null)" != "$zoo_stamp" ]]; then
    echo "make-zoo: recipe changed, removing $zoo"
    rm -rf "$zoo"
fi
mkdir -p "$zoo" "$exported"
echo "$export_stamp" >"$exported/.stamp"
rm -f "$stamp"  # written again only when every case is built

FOVEA_CACHE_DIR="$cache" "$root/scripts/fetch-models.sh"

missing=()
for entry in "${MODELS[@]}"; do
    IFS='|' read -r name file _ <<<"$entry"
    [[ "$file" == zoo/* && ! -f "$cache/models/$file" ]] && missing+=("$name")
done
if ((${#missing[@]})); then
    echo "make-zoo: exporting ${missing[*]}"
    "$python" "$root/tools/zoo/export_models.py" export --out "$exported" "${missing[@]}"
fi

for entry in "${MODELS[@]}"; do
    IFS='|' read -r name file height width norm content <<<"$entry"
    model="$cache/models/$file"
    [[ -f "$model" ]] || { echo "make-zoo: $model is missing" >&2; exit 1; }
    if [[ "$(cat "$zoo/$name/model.id" 2>/dev/null)" != "$(model_id "$model")" ]]; then
        rm -rf "${zoo:?}/$name"  # built on another version of the model file, or never built
    fi
    mkdir -p "$zoo/$name"
    model_id "$model" >"$zoo/$name/model.id"
    ln -sfn "../../models/$file" "$zoo/$name/model.onnx"  # relative: the cache can move as a whole
    t0=$EPOCHREALTIME
    built=()
    outs=""
    for b in "${BATCHES[@]}"; do
        dir="$zoo/$name/b$b"
        [[ -f "$dir/.done" ]] && continue
        rm -rf "$dir"
        mkdir -p "$dir"
        seed=$(($(cksum <<<"$name" | cut -d' ' -f1) % 1000000 * 10 + b))  # stable per (model, batch)
        # `inputs` prints one NAME=FILE.npy per model input: the arguments ort_run.mjs takes.
        "$python" "$root/tools/zoo/export_models.py" inputs "$model" "$dir/inputs" \
            --batch "$b" --height "$height" --width "$width" --norm "$norm" --content "$content" \
            --seed "$seed" >"$dir/feeds.txt"
        mapfile -t feeds <"$dir/feeds.txt"
        node "$root/tools/zoo/ort_run.mjs" "$model" "$dir/ort" "${feeds[@]}"
        touch "$dir/.done"
        built+=("b$b")
        outs=$(find "$dir/ort" -name '*.npy' -printf '%f\n' | sed 's/\.npy$//' | sort | paste -sd, -)
    done
    if ((${#built[@]})); then
        printf 'make-zoo: %-20s %s: Nx3x%sx%s %s (%s) -> ORT [%s], %.1f s\n' "$name" "${built[*]}" "$height" \
            "$width" "$content" "$norm" "$outs" "$(awk "BEGIN { print $EPOCHREALTIME - $t0 }")"
    else
        echo "make-zoo: $name: cached"
    fi
done
echo "$zoo_stamp" >"$stamp"
echo "make-zoo: $zoo ready in $(awk "BEGIN { printf \"%.0f\", $EPOCHREALTIME - $start }") s"
