#!/usr/bin/env python3
"""How many camera streams a device sustains: `fovea run` on N copies of a 720p15 clip, for growing N.

Each step runs the demo's defect detector (models/factory_detector.onnx at the input size its .json records, the
primary model of examples/factory.yaml, without the serial-reading cascade) on every frame of N real-time 720p15
H.264 streams of `fovea synth` footage (what `make demo` renders) and records drops and capture-to-event latency. A
stream count is sustained when no frame was dropped and every stream inferred at least 95% of the frames its camera
produced during the run. Each run's statistics start after --warmup seconds (decoders opening, first batches);
--precisions runs the whole series per precision (bf16 on a CPU with avx512_bf16). Writes markdown tables to
stdout and, with --write, into docs/benchmarks.md between its pipeline markers.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("FOVEA_CACHE_DIR", os.path.expanduser("~/.cache/fovea"))
BEGIN, END = "<!-- pipeline-streams:begin -->", "<!-- pipeline-streams:end -->"

CONFIG = """pipeline: {{device: {device}, queue_depth: 1}}
models:
  det:
    path: {model}
    type: yolov8
    labels_file: {labels}
    precision: {precision}
    max_batch: {max_batch}
    max_delay_us: {max_delay_us}
    input: {{width: {width}, height: {height}, resize: stretch, color: bgr, scale: 0.0039215686}}
    conf_threshold: 0.3
sources:
  - {{name: "cam{{i}}", uri: {clip}, count: {n}, loop: true}}
sinks: {{console: false}}
"""


def run(fovea, n, precision, args, workdir):
    yaml_path = os.path.join(workdir, f"streams{n}_{precision}.yaml")
    stats_path = os.path.join(workdir, f"streams{n}_{precision}.json")
    with open(os.path.splitext(args.model)[0] + ".json") as f:
        height, width = json.load(f)["input"]
    with open(yaml_path, "w") as f:
        f.write(CONFIG.format(device=args.device, model=args.model, labels=os.path.splitext(args.model)[0] + ".labels",
                              width=width, height=height, clip=args.clip, n=n, max_batch=args.max_batch,
                              max_delay_us=args.max_delay_us, precision=precision))
    subprocess.run([fovea, "run", yaml_path, "--warmup", str(args.warmup), "--duration", str(args.seconds),
                    "--no-console", "--stats-json", stats_path], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    with open(stats_path) as f:
        return json.load(f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fovea", default=os.path.join(ROOT, "build/release/apps/fovea/fovea"))
    p.add_argument("--model", default=os.path.join(ROOT, "models/factory_detector.onnx"))
    p.add_argument("--clip", default=os.path.join(CACHE, "factory/stream_0.mp4"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--streams", default="1,2,3,4,5,6,8")
    p.add_argument("--seconds", type=float, default=12, help="measured seconds per run, after --warmup")
    p.add_argument("--warmup", type=float, default=3, help="seconds each run goes before its statistics start")
    p.add_argument("--precisions", default="fp32", help="comma-separated: fp32, bf16 (cpu) or fp16 (cuda)")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--max-delay-us", type=int, default=20000)
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = p.parse_args()

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    out = [f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()}; {datetime.date.today()}; device "
           f"`{args.device}`; command: `bench/pipeline_streams.py --streams {args.streams} --seconds {args.seconds} "
           f"--warmup {args.warmup} --precisions {args.precisions}` (statistics from the end of the warm-up)."]
    with tempfile.TemporaryDirectory() as workdir:
        for precision in args.precisions.split(","):
            rows = []
            for n in [int(x) for x in args.streams.split(",")]:
                s = run(args.fovea, n, precision, args, workdir)
                t = s["totals"]
                frames_expected = 15.0 * s["duration_s"]
                worst = min(st["inferred"] for st in s["streams"]) / frames_expected
                lat = s["stages_ms"]["capture_to_event"]
                ok = t["dropped"] == 0 and worst >= 0.95
                rows.append((n, t["inferred_fps"], t["dropped"], worst, lat["p50"], lat["p99"],
                             s["stages_ms"]["inference"]["p50"], json.dumps(s["batch_sizes"]), ok))
                print(f"{precision} {n} streams: {t['inferred_fps']:.1f} fps, {t['dropped']} dropped, "
                      f"p99 {lat['p99']} ms", file=sys.stderr)
            out += ["", f"Precision **{precision}**:", "",
                    "| streams (720p15) | inferred fps | dropped | worst stream inferred | p50 ms | p99 ms | inference "
                    "p50 ms (batch) | batch sizes | sustained |",
                    "|---|---|---|---|---|---|---|---|---|"]
            for n, fps, dropped, worst, p50, p99, inf, batches, ok in rows:
                out.append(f"| {n} | {fps:.1f} | {dropped} | {worst:.0%} | {p50:.1f} | {p99:.1f} | {inf:.1f} | "
                           f"{batches} | {'yes' if ok else 'no'} |")
            best = max([r[0] for r in rows if r[8]], default=0)
            out += ["", f"Most streams sustained without drops in {precision}: **{best}**."]
    text = "\n".join(out)
    print(text)
    if args.write:
        path = os.path.join(ROOT, "docs/benchmarks.md")
        doc = open(path).read()
        block = f"{BEGIN}\n{text}\n{END}"
        if BEGIN in doc:
            doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
        else:
            doc += "\n## Pipeline: camera streams per device\n\n" + block + "\n"
        open(path, "w").write(doc)


if __name__ == "__main__":
    main()
