#!/usr/bin/env python3
"""fovea's cuda backend against PyTorch on the same GPU, in one run (issue 4, item 6).

Run on the GPU machine after scripts/gpu/run.sh unpacked a bundle with fovea_cuda_bench (it puts it on PATH):
  bash scripts/gpu/run.sh python3 bench/cuda_peers.py [--models resnet50,yolov5s] [--compile] [--out DIR]

For each model and batch: PyTorch FP16 channels_last eager and replayed as a CUDA graph (torch.cuda.graphs),
optionally torch.compile (--compile; "no" when it takes longer than --compile-timeout seconds per model), and fovea
FP16 and TF32 through fovea_cuda_bench on an ONNX file exported here from the same torch module (identical weights).
PyTorch times are CUDA events around N iterations on GPU-resident inputs; fovea's are CUDA events around each run's
work (its input and output copies included), and in the last columns the wall time of a device run with inputs and
outputs in GPU memory (as PyTorch is timed). Also measures the FP16 ceiling (an 8192^3 cuBLAS GEMM through torch)
and reports achieved TFLOP/s (2 x multiply-adds of convolutions and linear layers) as a fraction of it. Full logs
and JSON go to --out (default $OUT or /tmp/fovea/peers); a markdown table with ratios is printed last.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODELS = {  # name: (batches, image size)
    "resnet50": ([1, 8, 32, 128, 256], 224),
    "yolov5s": ([1, 16, 64], 640),
    "mobilenet_v2": ([1, 128], 224),
    "efficientnet_b0": ([1, 128], 224),
}


def build_module(name):
    import torch
    import torchvision

    torch.manual_seed(0)
    if name == "yolov5s":
        sys.path.insert(0, str(ROOT / "tools" / "zoo"))
        import detectors

        return detectors.YoloV5Style().eval()
    return getattr(torchvision.models, name)(weights=None).eval()


def flops_per_image(module, size):
    """2 x multiply-adds of Conv2d and Linear layers for one image."""
    import torch

    macs = [0]

    def conv_hook(m, inputs, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        macs[0] += out.numel() * k

    def linear_hook(m, inputs, out):
        macs[0] += out.numel() * m.in_features

    hooks = []
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        module(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return 2 * macs[0]


def export_onnx(module, size, path):
    import torch

    x = torch.zeros(1, 3, size, size)
    kwargs = dict(input_names=["input"], output_names=["output"], opset_version=13,
                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    try:
        torch.onnx.export(module, x, str(path), dynamo=False, **kwargs)
    except TypeError:  # an exporter without the dynamo switch
        torch.onnx.export(module, x, str(path), **kwargs)


def time_cuda(fn, iterations, warmup=5):
    """Median per-iteration milliseconds over `iterations` timed calls (CUDA events around each)."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def fp16_ceiling_tflops():
    import torch

    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.half)
    b = torch.randn(n, n, device="cuda", dtype=torch.half)
    ms = time_cuda(lambda: torch.matmul(a, b), 20, warmup=5)
    return 2 * n ** 3 / (ms * 1e-3) / 1e12


def iterations_for(batch):
    return 50 if batch <= 32 else 20


def half_channels_last(module):
    """FP16 on the GPU with 4-D weights in channels_last; Module.to(memory_format=...) refuses modules that hold
    buffers of another rank (the detector's anchor grid)."""
    import torch

    module = module.cuda().half()
    for p in module.parameters():
        if p.dim() == 4:
            p.data = p.data.contiguous(memory_format=torch.channels_last)
    return module


def torch_peer(module, size, batch, use_graph):
    import torch

    x = torch.randn(batch, 3, size, size, device="cuda", dtype=torch.half).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad():
        if not use_graph:
            return time_cuda(lambda: module(x), iterations_for(batch))
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                module(x)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            module(x)
        return time_cuda(graph.replay, iterations_for(batch))


def compile_worker(name, batches):
    """Child process: torch.compile one model, print one JSON line per batch (killed by the parent on timeout)."""
    import torch

    size = MODELS[name][1]
    module = half_channels_last(build_module(name))
    compiled = torch.compile(module)
    for batch in batches:
        x = torch.randn(batch, 3, size, size, device="cuda", dtype=torch.half).contiguous(
            memory_format=torch.channels_last)
        with torch.no_grad():
            t0 = time.time()
            compiled(x)
            torch.cuda.synchronize()
            compile_s = time.time() - t0
            ms = time_cuda(lambda: compiled(x), iterations_for(batch))
        print(json.dumps({"batch": batch, "ms": ms, "compile_s": compile_s}), flush=True)


def run_compile(name, batches, timeout, log):
    results = {}
    cmd = [sys.executable, __file__, "--compile-worker", name, "--batches", ",".join(map(str, batches))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = f"timed out after {timeout} s\n"
    log.write(f"## torch.compile {name}\n{out}\n{err}\n")
    for line in out.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["batch"]] = r["ms"]
    return results


def run_fovea(bench, onnx, precision, batches, log):
    """fovea_cuda_bench rows by batch: GPU median ms, wall median ms, cold and cached build ms, graph replay."""
    results = {}
    for batch in batches:  # one call per batch: a failure loses one cell, not a model
        cmd = [bench, str(onnx), precision, str(batch), str(iterations_for(batch))]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
            out, err = proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            out, err = "", "timed out after 240 s"
        log.write(f"## {' '.join(cmd)}\n{out}\n{err}\n")
        for line in out.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 11 or not cells[2].isdigit():
                continue
            results[int(cells[2])] = {
                "cold_build_ms": float(cells[3]),
                "cached_build_ms": float(re.sub(r"[^0-9.]", "", cells[4]) or 0),
                "cache_hit": "miss" not in cells[4],
                "wall_ms": float(cells[5]),
                "gpu_ms": float(cells[7]),
                "graph": cells[10] == "yes",
                # inputs and outputs left in GPU memory, as PyTorch's are timed (older binaries lack the column)
                "device_ms": float(cells[13]) if len(cells) > 13 and cells[13] not in ("", "-") else None,
            }
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--batches", default="", help="override every model's batch list (e.g. 1,128)")
    p.add_argument("--compile", action="store_true", help="also torch.compile (slow; per-model --compile-timeout)")
    p.add_argument("--compile-timeout", type=int, default=120)
    p.add_argument("--no-torch", action="store_true", help="fovea only")
    p.add_argument("--no-fovea", action="store_true", help="PyTorch only")
    p.add_argument("--precisions", default="fp16,tf32", help="fovea precisions")
    p.add_argument("--bench", default="fovea_cuda_bench", help="path of fovea_cuda_bench")
    p.add_argument("--out", default=os.environ.get("OUT") or "/tmp/fovea/peers")
    p.add_argument("--compile-worker", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    override = [int(b) for b in args.batches.split(",") if b]
    if args.compile_worker:
        compile_worker(args.compile_worker, override or MODELS[args.compile_worker][0])
        return

    import torch
    import torchvision

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "cuda_peers.log", "w")
    started = time.time()
    device = torch.cuda.get_device_name()
    ceiling = fp16_ceiling_tflops()
    log.write(f"torch {torch.__version__}, torchvision {torchvision.__version__}, cuDNN "
              f"{torch.backends.cudnn.version()}, {device}; FP16 GEMM 8192^3: {ceiling:.0f} TFLOP/s\n")
    torch.backends.cudnn.benchmark = True
    rows = []
    for name in [m for m in args.models.split(",") if m]:
        batches, size = MODELS[name]
        batches = override or batches
        module = build_module(name)
        flops = flops_per_image(module, size)
        onnx = out / f"{name}.onnx"
        if not args.no_fovea:
            export_onnx(module, size, onnx)
        peer = {"eager": {}, "graph": {}, "compile": {}}
        if not args.no_torch:
            half = half_channels_last(module)
            for batch in batches:
                for kind in ("eager", "graph"):
                    try:
                        peer[kind][batch] = torch_peer(half, size, batch, kind == "graph")
                    except Exception as e:  # a failed peer cell is reported, not fatal
                        log.write(f"torch {kind} {name} b{batch}: {e}\n")
            module = module.float().cpu()
            torch.cuda.empty_cache()
            if args.compile:
                peer["compile"] = run_compile(name, batches, args.compile_timeout, log)
        fovea = {}
        if not args.no_fovea:
            for precision in args.precisions.split(","):
                fovea[precision] = run_fovea(args.bench, onnx, precision, batches, log)
        for batch in batches:
            rows.append({"model": name, "batch": batch, "gflop_per_image": flops / 1e9,
                         "torch_ms": {k: v.get(batch) for k, v in peer.items()},
                         "fovea": {k: v.get(batch) for k, v in fovea.items()}})
        log.flush()
        # After every model: a run cut short keeps what it measured.
        (out / "cuda_peers.json").write_text(json.dumps(
            {"device": device, "torch": torch.__version__, "fp16_ceiling_tflops": ceiling, "rows": rows}, indent=1))
        print(f"{name}: done at {time.time() - started:.0f} s", file=sys.stderr, flush=True)

    def ips(batch, ms):
        return f"{batch * 1000.0 / ms:,.0f}" if ms else "-"

    def ratio(a, b):
        return f"{b / a:.2f}x" if a and b else "-"

    print(f"\n## fovea vs PyTorch {torch.__version__} on {device} (FP16 ceiling {ceiling:.0f} TFLOP/s, "
          f"cuBLAS 8192^3)\n")
    print("images/s (ms per batch for batch 1); ratios: fovea fp16 over PyTorch CUDA graph and eager; "
          "TFLOP/s and % of the ceiling for fovea fp16\n")
    print("| model | batch | torch eager | torch graph | torch.compile | fovea fp16 | fovea tf32 | fp16/graph | "
          "fp16/eager | fovea fp16 TFLOP/s | % ceiling | build cold/cached ms | fovea graph | "
          "fovea fp16 device I/O | device I/O / graph |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b, t, f = r["batch"], r["torch_ms"], r["fovea"]
        f16 = (f.get("fp16") or {}).get("gpu_ms")
        f32 = (f.get("tf32") or {}).get("gpu_ms")
        f16_device = (f.get("fp16") or {}).get("device_ms")

        def cell(ms):
            if not ms:
                return "-"
            return f"{ms:.3f} ms" if b == 1 else ips(b, ms)

        comp = cell(t["compile"]) if args.compile else "not run"
        if args.compile and not t["compile"]:
            comp = "no"
        tflops = r["gflop_per_image"] * b / (f16 * 1e-3) / 1e3 if f16 else None
        fp16_info = f.get("fp16") or {}
        build = (f"{fp16_info['cold_build_ms']:.0f}/{fp16_info['cached_build_ms']:.0f}"
                 f"{'' if fp16_info.get('cache_hit') else ' (miss)'}" if fp16_info else "-")
        print(f"| {r['model']} | {b} | {cell(t['eager'])} | {cell(t['graph'])} | {comp} | {cell(f16)} | "
              f"{cell(f32)} | {ratio(f16, t['graph'])} | {ratio(f16, t['eager'])} | "
              f"{f'{tflops:.1f}' if tflops else '-'} | {f'{100 * tflops / ceiling:.1f}%' if tflops else '-'} | "
              f"{build} | {'yes' if fp16_info.get('graph') else '-'} | {cell(f16_device)} | "
              f"{ratio(f16_device, t['graph'])} |")
    print(f"\n(total {time.time() - started:.0f} s; logs and JSON in {out})")


if __name__ == "__main__":
    main()
