#!/usr/bin/env python3
"""bf16 vs fp32 on the CPU backend: top-1 agreement on the zoo classifiers and box agreement on the detectors.

Runs `fovea infer --backend cpu` at both precisions on the same random images (fixed seed) and prints a markdown table.
Usage: /usr/bin/python3 bench/bf16_accuracy.py [--fovea build/release/apps/fovea/fovea] [--images 64]
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("FOVEA_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fovea")
CLASSIFIERS = ["resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x1_0", "densenet121",
               "convnext_tiny"]
DETECTORS = {"yolov5s_style": "v5", "yolov8n_style": "v8"}


def infer(fovea, model, name, x, precision, workdir):
    inp = workdir / "x.npy"
    np.save(inp, x)
    out = workdir / precision
    subprocess.run([fovea, "infer", str(model), "--backend", "cpu", "--precision", precision, "--input",
                    f"{name}={inp}", "--output-dir", str(out)], check=True, stdout=subprocess.DEVNULL)
    return np.load(next(out.glob("*.npy")))


def input_name(model):
    import onnx  # Debian's python3-onnx
    m = onnx.load(str(model), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return next(i.name for i in m.graph.input if i.name not in inits)


def boxes_v5(y):  # [N, boxes, 85]: cx, cy, w, h, obj, classes
    conf = y[..., 4] * y[..., 5:].max(-1)
    return y[..., :4], conf


def boxes_v8(y):  # [N, 84, boxes]: cx, cy, w, h, classes
    y = y.transpose(0, 2, 1)
    return y[..., :4], y[..., 4:].max(-1)


def iou(a, b):  # cx, cy, w, h
    a1, a2 = a[..., :2] - a[..., 2:] / 2, a[..., :2] + a[..., 2:] / 2
    b1, b2 = b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2
    inter = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod(-1)
    union = a[..., 2:].prod(-1) + b[..., 2:].prod(-1) - inter
    return inter / np.maximum(union, 1e-9)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fovea", default="build/release/apps/fovea/fovea")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--top", type=int, default=100, help="detector boxes compared per image (highest fp32 scores)")
    args = p.parse_args()
    rng = np.random.default_rng(2026)
    print("| model | images | metric | value |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in CLASSIFIERS:
            model = CACHE / "models" / "zoo" / f"{name}.onnx"
            x = rng.standard_normal((args.images, 3, 224, 224), dtype=np.float32)
            a = infer(args.fovea, model, input_name(model), x, "fp32", work)
            b = infer(args.fovea, model, input_name(model), x, "bf16", work)
            agree = float((a.argmax(1) == b.argmax(1)).mean())
            rel = float(np.linalg.norm(a - b) / np.linalg.norm(a))
            print(f"| {name} | {args.images} | top-1 agreement / rel. L2 | {agree:.3f} / {rel:.2e} |", flush=True)
        for name, style in DETECTORS.items():
            model = CACHE / "models" / "zoo" / f"{name}.onnx"
            n = max(2, args.images // 16)
            x = rng.random((n, 3, 640, 640), dtype=np.float32)
            a = infer(args.fovea, model, input_name(model), x, "fp32", work)
            b = infer(args.fovea, model, input_name(model), x, "bf16", work)
            decode = boxes_v5 if style == "v5" else boxes_v8
            (ba, sa), (bb, _) = decode(a), decode(b)
            top = np.argsort(-sa, axis=1)[:, : args.top]
            ious = np.concatenate([iou(ba[i, top[i]], bb[i, top[i]]) for i in range(n)])
            print(f"| {name} | {n} | mean box IoU of the top {args.top} fp32 boxes (min) | "
                  f"{ious.mean():.4f} ({ious.min():.4f}) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
