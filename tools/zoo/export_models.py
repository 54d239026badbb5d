#!/usr/bin/python3
"""Builds the zoo's own ONNX models and their random inputs (run by scripts/make-zoo.sh).

  export_models.py export [--out DIR] [--force] [NAME ...]
      Exports torchvision classifiers (random weights, BatchNorm statistics calibrated on random images)
      and the YOLO-style detectors of detectors.py to DIR/<name>.onnx (default ~/.cache/fovea/models/zoo).
      Existing files are kept unless --force. Opset 13, dynamic batch dim "batch", constant folding on.

  export_models.py inputs MODEL.onnx OUTDIR --batch N --height H --width W --norm {unit,imagenet,paddle}
                   [--content {noise,text}] --seed S
      Writes one random image-like input per model input to OUTDIR/<input>.npy: pixels in [0, 1) (noise: uniform;
      text: synthetic dark glyph rows on a light noisy page, what OCR models respond to), then the normalization
      the model expects (unit: none; imagenet: ImageNet mean/std; paddle: (x-0.5)/0.5).
      Prints NAME=FILE.npy per input, the arguments tools/zoo/ort_run.mjs takes.

Needs Debian's python3 (torch 1.13, torchvision 0.14, onnx 1.12, numpy).
"""

import argparse
import os
import re
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = Path(os.environ.get("FOVEA_CACHE_DIR") or
                   Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fovea") / "models" / "zoo"
OPSET = 13

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

CLASSIFIERS = ["resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x1_0",
               "densenet121", "convnext_tiny"]
DETECTORS = ["yolov5s_style", "yolov8n_style"]
MODELS = CLASSIFIERS + DETECTORS


def seed_for(name):
    """A per-model seed that does not depend on which models are built, or in what order."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def normalize(images, norm):
    """images: float32 [N, 3, H, W] in [0, 1)."""
    if norm == "unit":
        return images
    if norm == "imagenet":
        return (images - IMAGENET_MEAN.reshape(1, 3, 1, 1)) / IMAGENET_STD.reshape(1, 3, 1, 1)
    if norm == "paddle":
        return (images - 0.5) / 0.5
    raise ValueError(f"unknown normalization '{norm}'")


def text_like(rng, n, height, width):
    """Pixels of n synthetic 'pages': light noisy background, rows of dark glyphs made of a few bars each.

    Uniform noise leaves an OCR detector's output at ~0 everywhere; lines of glyph-like marks put the real
    models in their working regime (detector maps that light up along the rows, confident recognizer scores).
    """
    images = 0.75 + 0.2 * rng.random((n, 3, height, width), dtype=np.float32)
    for page in images:
        y = int(rng.integers(2, max(3, height // 8)))
        while True:
            line = int(rng.integers(max(4, height // 24), max(6, height // 10) + 1))
            if y + line >= height - 2:
                break
            ink = (0.3 * rng.random(3)).astype(np.float32).reshape(3, 1, 1)
            stroke = max(1, line // 6)
            x = int(rng.integers(0, max(1, width // 6)))
            end = int(rng.integers(width // 2, width))
            while x < end - line:
                glyph = int(rng.integers(max(2, line // 2), line + 1))
                for _ in range(int(rng.integers(2, 5))):
                    if rng.random() < 0.5:  # horizontal bar
                        top = y + int(rng.integers(0, line))
                        page[:, top:top + stroke, x:x + glyph] = ink
                    else:  # vertical bar
                        left = x + int(rng.integers(0, glyph))
                        page[:, y:y + line, left:left + stroke] = ink
                x += glyph + int(rng.integers(1, max(2, line // 3)))
                if rng.random() < 0.08:  # a word gap
                    x += line
            y += line + int(rng.integers(line // 2, 2 * line))
    return images


def build(name):
    """Returns (model, image size, normalization, input name, output name)."""
    import torch
    import torchvision

    torch.manual_seed(seed_for(name))
    if name in CLASSIFIERS:
        return getattr(torchvision.models, name)(weights=None), 224, "imagenet", "input", "logits"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import detectors

    return getattr(detectors, name)(), detectors.IMAGE_SIZE, "unit", "images", "output0"


def calibrate_batchnorm(model, size, norm, seed, batches, batch_size):
    """Replaces BatchNorm running statistics with their cumulative average over random images.

    Random weights with the default statistics (mean 0, var 1) make activations shrink or blow up layer after
    layer; measuring the real statistics keeps every layer's output near unit scale, like a trained model's.
    """
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _ in range(batches):
            images = rng.random((batch_size, 3, size, size), dtype=np.float32)
            model(torch.from_numpy(normalize(images, norm)))
    return len(bns)


def export_one(name, out_dir):
    import onnx
    import torch

    t0 = time.time()
    model, size, norm, input_name, output_name = build(name)
    model.eval()
    big = size >= 640
    n_bn = calibrate_batchnorm(model, size, norm, seed_for(name) + 1, batches=3 if big else 4,
                               batch_size=4 if big else 8)
    model.eval()

    rng = np.random.default_rng(seed_for(name) + 2)
    sample = torch.from_numpy(normalize(rng.random((2, 3, size, size), dtype=np.float32), norm))
    with torch.no_grad():
        reference = model(sample)

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.onnx"
    tmp = out_dir / f".{name}.onnx.tmp"
    torch.onnx.export(model, sample, str(tmp), export_params=True, opset_version=OPSET, do_constant_folding=True,
                      input_names=[input_name], output_names=[output_name],
                      dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}})
    proto = onnx.load(str(tmp))
    onnx.checker.check_model(proto)
    os.replace(tmp, path)

    ref = reference.numpy()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"export {name}: {shown} {path.stat().st_size / 1e6:.1f} MB, {len(proto.graph.node)} nodes, "
          f"input {input_name}[batch,3,{size},{size}], output {output_name}{list(ref.shape[1:])}, "
          f"{n_bn} BN calibrated, output std {ref.std():.3g}, {time.time() - t0:.1f} s", flush=True)


def cmd_export(args):
    names = args.names or MODELS
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"export_models: unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    import torch

    # torch.onnx's tracer warnings (dynamic-shape notes on the detectors' decode) are expected and noisy.
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    out_dir = Path(args.out)
    for name in names:
        if (out_dir / f"{name}.onnx").exists() and not args.force:
            print(f"export {name}: exists, kept", flush=True)
            continue
        export_one(name, out_dir)


def cmd_inputs(args):
    import onnx

    model = onnx.load(args.model, load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type != onnx.TensorProto.FLOAT:
            sys.exit(f"export_models: {args.model} input '{value.name}' is not float32; the zoo feeds images only")
        dims = tensor_type.shape.dim
        if len(dims) != 4 or (dims[1].HasField("dim_value") and dims[1].dim_value != 3):
            sys.exit(f"export_models: {args.model} input '{value.name}' is not an [N, 3, H, W] image")
        wanted = (args.batch, 3, args.height, args.width)
        for axis, (dim, want) in enumerate(zip(dims, wanted)):
            if dim.HasField("dim_value") and dim.dim_value != want:
                sys.exit(f"export_models: {args.model} input '{value.name}' has dim {axis} fixed at {dim.dim_value}, "
                         f"not {want}")
        if args.content == "text":
            images = text_like(rng, args.batch, args.height, args.width)
        else:
            images = rng.random(wanted, dtype=np.float32)
        data = np.ascontiguousarray(normalize(images, args.norm), dtype=np.float32)
        file_name = re.sub(r"[^A-Za-z0-9._-]", "_", value.name) + ".npy"
        np.save(out_dir / file_name, data)
        print(f"{value.name}={out_dir / file_name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="export the zoo's own models")
    p.add_argument("names", nargs="*", help=f"models to export (default: all of {', '.join(MODELS)})")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="re-export models that already exist")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("inputs", help="write random image inputs for a model")
    p.add_argument("model")
    p.add_argument("out_dir")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--norm", choices=["unit", "imagenet", "paddle"], required=True)
    p.add_argument("--content", choices=["noise", "text"], default="noise")
    p.add_argument("--seed", type=int, required=True)
    p.set_defaults(func=cmd_inputs)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
