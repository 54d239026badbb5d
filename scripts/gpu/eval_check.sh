#!/usr/bin/env bash
# On the GPU machine, after run.sh has unpacked a bundle holding `fovea` and, optionally, the PP-OCRv4 recognizer
# (rec.onnx) and its dictionary (ppocr_keys_v1.txt):
#   bash scripts/gpu/run.sh bash scripts/gpu/eval_check.sh MODEL.onnx [PRECISION...]
# Renders the model card's evaluation footage (16 cameras x 20 s, seed 1) and scores examples/factory.yaml on it with
# every model on the cuda backend, per precision (default fp16 fp32), with the file's equalization and without.
# MODEL.onnx's .json gives its input size. Markdown and JSON reports go to $LOGS (default /tmp/fovea/eval_check),
# packed into $OUT/eval_check.tgz when $OUT is set (the device tool brings back only a few files per run).
# EVAL_SEED and EVAL_STREAMS pick other footage: seed 2, 8 streams is the validation footage that model selection
# and the alarm threshold are chosen on (seed 1 is only for the final numbers). ALARM_SWEEP lists the min_score values
# the alarm rule is also scored at (default 0.6,0.7,0.8,0.9), ALARM_SWEEP_DEBOUNCE the debounces (n/m,...) each is.
set -uo pipefail
root=/tmp/fovea
logs="${LOGS:-$root/eval_check}"
mkdir -p "$logs"
trap '[ -n "${OUT:-}" ] && tar -C "$logs" -czf "$OUT/eval_check.tgz" .' EXIT
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64"
export FOVEA_CACHE_DIR="${FOVEA_CACHE_DIR:-$root/cache}"  # the example file names it
model="$(realpath "$1")"
shift
precisions=("${@:-fp16 fp32}")
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seed=${EVAL_SEED:-1}
streams=${EVAL_STREAMS:-16}
data="$root/eval-seed$seed-$streams"
[ -f "$data/manifest.json" ] ||
    fovea synth --out "$data" --streams "$streams" --duration 20 --seed "$seed" >"$logs/eval_synth.log" 2>&1
size=$(python3 -c 'import json, sys; h, w = json.load(open(sys.argv[1]))["input"]; print(w, h)' "${model%.onnx}.json")
read -r width height <<<"$size"
for precision in ${precisions[*]}; do
    # The example file, with the model under test, this machine's paths and the precision on both models.
    sed -e "s|path: ../models/factory_detector.onnx|path: $model|" \
        -e "s|labels_file: ../models/factory_detector.labels|labels_file: ${model%.onnx}.labels|" \
        -e "s|input: {width: [0-9]*, height: [0-9]*, resize: stretch,|input: {width: $width, height: $height, resize: stretch,|" \
        -e "s|\${FOVEA_CACHE_DIR}/models/ppocr/|$root/models/|" \
        -e "s#^    type: \(yolov8\|ctc\)#    type: \1\n    precision: $precision#" \
        -e "s|\.\./out/factory|$logs/out|" \
        "$here/../../examples/factory.yaml" >"$logs/factory_$precision.yaml"
    if [ ! -f "$root/models/rec.onnx" ]; then
        # No recognizer in the bundle (it may not fit): the detector alone, serial numbers unscored.
        awk '/^  serial_rec:/ {skip = 1} /^cascade:/ {skip = 2} skip && /^$/ {skip = 0} !skip' \
            "$logs/factory_$precision.yaml" >"$logs/factory_$precision.tmp" && mv "$logs/factory_$precision.tmp" "$logs/factory_$precision.yaml"
    fi
    for eq in ${EQUALIZE:-global none}; do
        name="eval_cuda_${precision}_eq_${eq}_seed$seed"
        timeout 400 fovea eval "$logs/factory_$precision.yaml" --data "$data" --interval 3 --device cuda \
            --equalize "$eq" --alarm-sweep "${ALARM_SWEEP:-0.6,0.7,0.8,0.9}" \
            ${ALARM_SWEEP_DEBOUNCE:+--alarm-sweep-debounce "$ALARM_SWEEP_DEBOUNCE"} --json "$logs/$name.json" --markdown "$logs/$name.md" >"$logs/$name.log" 2>&1
        echo "## $name (rc $?)"
        cat "$logs/$name.md" 2>/dev/null || tail -5 "$logs/$name.log"
        echo
    done
done
