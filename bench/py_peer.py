#!/usr/bin/python3
"""PyTorch's and OpenCV DNN's side of bench/cpu_peers.py: latency of one model at one input shape, as JSON.

  py_peer.py torch ZOO_NAME --shape N,C,H,W [--threads T] [--warmup W] [--iterations N]
      PyTorch eager: the zoo model rebuilt from tools/zoo/export_models.py's constructor (random weights; speed
      does not depend on them), eval mode, torch.inference_mode(), torch.set_num_threads(T), one interop thread.
  py_peer.py opencv MODEL.onnx --shape N,C,H,W [--threads T] [--warmup W] [--iterations N]
      OpenCV DNN: cv2.dnn.readNetFromONNX, the OpenCV backend on the CPU target, cv2.setNumThreads(T); the model's
      batch dim is fixed and Identity nodes on weights are folded first (OpenCV 4.6 rejects both otherwise).

Inputs are uniform [0, 1) with a fixed seed. Percentiles use `fovea bench`'s rank rule (sorted times, index
round(q * (n - 1))); peak_rss_mb is getrusage's max RSS (includes the Python interpreter and the library).
Needs Debian's python3 (python3-torch 1.13, python3-torchvision, python3-opencv).
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def percentile(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, int(q * (len(sorted_ms) - 1) + 0.5))]


def torch_runner(name, images, threads):
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    sys.path.insert(0, str(ROOT / "tools" / "zoo"))
    import export_models

    if name not in export_models.MODELS:
        raise SystemExit(f"py_peer: '{name}' is not a zoo model built from PyTorch ({', '.join(export_models.MODELS)})")
    model = export_models.build(name)[0].eval()
    x = torch.from_numpy(images)

    def run():
        with torch.inference_mode():
            model(x)

    return run, f"torch {torch.__version__}"


def opencv_ready_model(model_path, batch):
    """The model as bytes OpenCV 4.6 can import: batch dim fixed, Identity nodes on initializers folded away.

    torch.onnx.export emits Identity nodes that alias shared weights, and a dynamic batch dim; OpenCV's importer
    rejects both, though neither changes what is computed (tools like onnx-simplifier do the same for it).
    """
    import onnx

    model = onnx.load(model_path)
    initializers = {t.name: t for t in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in initializers:
            alias = model.graph.initializer.add()
            alias.CopyFrom(initializers[node.input[0]])
            alias.name = node.output[0]
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_value = batch
    del model.graph.value_info[:]  # inferred shapes with the symbolic batch dim; OpenCV infers its own
    return model.SerializeToString()


def opencv_runner(model_path, images, threads):
    import cv2

    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromONNX(np.frombuffer(opencv_ready_model(model_path, images.shape[0]), dtype=np.uint8))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def run():
        net.setInput(images)
        net.forward()

    return run, f"opencv {cv2.__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("peer", choices=["torch", "opencv"])
    parser.add_argument("model", help="zoo model name (torch) or ONNX file (opencv)")
    parser.add_argument("--shape", required=True, help="input shape N,C,H,W")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    shape = tuple(int(d) for d in args.shape.split(","))
    images = np.random.default_rng(42).random(shape, dtype=np.float32)

    make = torch_runner if args.peer == "torch" else opencv_runner
    run, runtime = make(args.model, images, args.threads)
    for _ in range(args.warmup):
        run()
    ms = []
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        run()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    print(json.dumps({"runtime": runtime, "model": args.model, "threads": args.threads, "warmup": args.warmup,
                      "iterations": args.iterations, "min_ms": ms[0], "median_ms": percentile(ms, 0.5),
                      "p90_ms": percentile(ms, 0.9),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
