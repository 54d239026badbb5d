#!/usr/bin/env python3
"""Moves zoo models to the GPU machine within the 64 MiB carry limit, and rebuilds a zoo cache there.

  pack OUT_DIR MODEL.onnx...   (here)  each model as a skeleton .onnx (weights emptied) + .npz of int8 weights
                                       with one float32 scale per output channel: about a quarter of the size.
  unpack IN_DIR ZOO_DIR        (there) restores float32 weights (scale * q: a valid model with slightly different
                                       weights, not the original), makes seeded inputs for batches 1 and 2, runs
                                       ONNX Runtime (CPU) on them and writes the layout tests/zoo reads:
                                       ZOO_DIR/<name>/model.onnx, b<N>/inputs/*.npy, b<N>/ort/*.npy, .done, .stamp.
Needs numpy and onnx (and onnxruntime for unpack); the GPU machine's Python has all three.
"""
import os
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper

MIN_PACKED = 1024  # smaller initializers (biases, shapes) travel as they are


def pack(out_dir, models):
    os.makedirs(out_dir, exist_ok=True)
    for path in models:
        name = os.path.splitext(os.path.basename(path))[0]
        model = onnx.load(path)
        arrays = {}
        for i, init in enumerate(model.graph.initializer):
            if init.data_type != onnx.TensorProto.FLOAT:
                continue
            w = numpy_helper.to_array(init)
            if w.size < MIN_PACKED:
                continue
            rows = w.reshape(w.shape[0], -1)
            scale = np.abs(rows).max(axis=1) / 127.0
            scale[scale == 0] = 1.0
            q = np.clip(np.rint(rows / scale[:, None]), -127, 127).astype(np.int8)
            arrays[f"q{i}"] = q
            arrays[f"s{i}"] = scale.astype(np.float32)
            init.ClearField("raw_data")
            init.ClearField("float_data")
        onnx.save(model, os.path.join(out_dir, name + ".onnx"))
        np.savez(os.path.join(out_dir, name + ".npz"), **arrays)
        print(f"packed {name}: {len(arrays) // 2} weight tensors")


def file_name_for(tensor_name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", tensor_name) + ".npy"


def make_input(name, shape, rng):
    image = rng.uniform(0.0, 1.0, size=shape).astype(np.float32)
    if name.startswith("yolo"):
        return image  # detectors take [0, 1] pixels
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    return (image - mean) / std


def unpack(in_dir, zoo_dir):
    import onnxruntime as ort

    os.makedirs(zoo_dir, exist_ok=True)
    for file in sorted(os.listdir(in_dir)):
        if not file.endswith(".onnx"):
            continue
        name = file[:-5]
        model = onnx.load(os.path.join(in_dir, file))
        arrays = np.load(os.path.join(in_dir, name + ".npz"))
        for i, init in enumerate(model.graph.initializer):
            if f"q{i}" not in arrays:
                continue
            w = arrays[f"q{i}"].astype(np.float32) * arrays[f"s{i}"][:, None]
            init.raw_data = w.reshape(tuple(init.dims)).astype(np.float32).tobytes()
        target = os.path.join(zoo_dir, name)
        os.makedirs(target, exist_ok=True)
        onnx.save(model, os.path.join(target, "model.onnx"))
        session = ort.InferenceSession(os.path.join(target, "model.onnx"), providers=["CPUExecutionProvider"])
        for batch in (1, 2):
            case = os.path.join(target, f"b{batch}")
            os.makedirs(os.path.join(case, "inputs"), exist_ok=True)
            os.makedirs(os.path.join(case, "ort"), exist_ok=True)
            rng = np.random.default_rng(1234 + batch)
            feeds = {}
            for inp in session.get_inputs():
                shape = [batch if not isinstance(d, int) else d for d in inp.shape]
                feeds[inp.name] = make_input(name, shape, rng)
                np.save(os.path.join(case, "inputs", file_name_for(inp.name)), feeds[inp.name])
            for out, value in zip(session.get_outputs(), session.run(None, feeds)):
                np.save(os.path.join(case, "ort", file_name_for(out.name)), value)
            open(os.path.join(case, ".done"), "w").close()
        print(f"unpacked {name} into {target}")
    with open(os.path.join(zoo_dir, ".stamp"), "w") as f:
        f.write("rebuilt by scripts/gpu/zoo_transport.py\n")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "pack":
        pack(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "unpack":
        unpack(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
