#!/usr/bin/python3
"""fovea's CPU backend against its peers, side by side, on the model zoo; writes a table into docs/benchmarks.md.

  bench/cpu_peers.py [--models a,b|all] [--batches 1,8] [--threads 2,1] [--rounds 3] [--quick] ...

Peers, each a separate process per measurement so that none inherits another's threads, caches or memory:
  fovea       `fovea bench MODEL --backend cpu --format json` (fp32)
  fovea bf16  the same with `--precision bf16`, once fovea has that flag (until then the column says "planned")
  ORT         onnxruntime-node (bench/ort_bench.mjs): CPU EP, all graph optimizations, T intra-op threads
  torch       PyTorch eager (bench/py_peer.py torch), the zoo models that come from PyTorch
  OpenCV      OpenCV DNN (bench/py_peer.py opencv), where its ONNX importer takes the model

Method: every (threads, model, batch) cell runs every peer once per round, in a peer order that rotates from round
to round. The machine may be shared: a run during which other processes kept more than --busy-cores busy is
disturbed and does not count (before each run the driver waits for quiet, up to --max-wait in all). After --rounds
rounds, a peer with fewer clean rounds in a cell, or whose best clean rounds differ by more than --tolerance, runs
that cell again, up to --max-repeats more times. Each peer's number is the median latency of its best clean round.
The first round times --min-iterations iterations; later ones as many as fit in --target-seconds (within the min and
max). The fovea binary is copied first, so that a rebuild during the run cannot mix two builds in one table.

--quick is a smoke test: mobilenet_v3_small, batch 1, 2 threads, 1 round, 3 iterations, and prints the table
instead of writing docs/benchmarks.md (unless --output is given). Needs Debian's python3 (torch, torchvision,
onnx, opencv), Node.js, and scripts/fetch-models.sh + scripts/make-zoo.sh having run.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FOVEA_CACHE_DIR")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fovea")
PYTHON = "/usr/bin/python3"  # Debian's, which has torch and cv2; a pyenv python3 on PATH may not
BEGIN_MARK = "<!-- cpu-peers:begin (bench/cpu_peers.py replaces this section) -->"
END_MARK = "<!-- cpu-peers:end -->"


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    input: str
    chw: tuple  # one image's (C, H, W)
    torch_name: str = ""  # constructor name in tools/zoo/export_models.py; empty when not from PyTorch

    def shape(self, batch):
        return (batch, *self.chw)


def zoo_model(name, size, input_name):
    return Model(name, CACHE / "models" / "zoo" / f"{name}.onnx", input_name, (3, size, size), torch_name=name)


MODELS = {m.name: m for m in [
    zoo_model("resnet50", 224, "input"),
    zoo_model("mobilenet_v2", 224, "input"),
    zoo_model("mobilenet_v3_small", 224, "input"),
    zoo_model("efficientnet_b0", 224, "input"),
    zoo_model("shufflenet_v2_x1_0", 224, "input"),
    zoo_model("densenet121", 224, "input"),
    zoo_model("convnext_tiny", 224, "input"),
    zoo_model("yolov5s_style", 640, "images"),
    zoo_model("yolov8n_style", 640, "images"),
    Model("ppocr_det", CACHE / "models" / "ppocr" / "det.onnx", "x", (3, 640, 640)),
    Model("ppocr_rec", CACHE / "models" / "ppocr" / "rec.onnx", "x", (3, 48, 320)),
]}


def dims_text(dims):
    return ",".join(str(d) for d in dims)


class Peer:
    """One runtime: how to measure a (model, batch, threads) cell in a fresh process and read its JSON."""

    key = ""
    label = ""

    def unavailable(self):
        """Why this peer cannot run at all on this machine, or "" when it can."""
        return ""

    def skips(self, model):
        """Why this peer does not run this model, or "" when it does."""
        return ""

    def argv(self, model, batch, threads, warmup, iterations):
        raise NotImplementedError

    def parse(self, stdout):
        return json.loads(stdout.strip().splitlines()[-1])


class Fovea(Peer):
    key, label = "fovea", "fovea"

    def __init__(self, binary, extra=()):
        self.binary = binary
        self.extra = list(extra)

    def unavailable(self):
        return "" if os.access(self.binary, os.X_OK) else f"{self.binary} not built"

    def argv(self, model, batch, threads, warmup, iterations):
        return [str(self.binary), "bench", str(model.path), "--backend", "cpu", "--batch", str(batch),
                "--threads", str(threads), "--warmup", str(warmup), "--iterations", str(iterations), "--format",
                "json", "--shape", f"{model.input}={dims_text(model.shape(batch))}", *self.extra]

    def parse(self, stdout):
        return json.loads(stdout)[0]


class FoveaBf16(Fovea):
    """The planned bf16 column: measured as soon as `fovea bench` has --precision, reported as planned until then."""

    key, label = "fovea_bf16", "fovea bf16"

    def __init__(self, binary):
        super().__init__(binary, ["--precision", "bf16"])

    def unavailable(self):
        missing = super().unavailable()
        if missing:
            return missing
        usage = subprocess.run([str(self.binary), "bench", "--help"], capture_output=True, text=True).stdout
        return "" if "--precision" in usage else "planned: fovea bench has no --precision yet"


class Ort(Peer):
    key, label = "ort", "ORT"

    def argv(self, model, batch, threads, warmup, iterations):
        return ["node", str(ROOT / "bench" / "ort_bench.mjs"), str(model.path), "--input",
                f"{model.input}={dims_text(model.shape(batch))}", "--threads", str(threads), "--warmup", str(warmup),
                "--iterations", str(iterations)]


class PyPeer(Peer):
    def argv(self, model, batch, threads, warmup, iterations):
        target = model.torch_name if self.key == "torch" else str(model.path)
        return [PYTHON, str(ROOT / "bench" / "py_peer.py"), self.key, target, "--shape", dims_text(model.shape(batch)),
                "--threads", str(threads), "--warmup", str(warmup), "--iterations", str(iterations)]

    def unavailable(self):
        module = "torch" if self.key == "torch" else "cv2"
        probe = subprocess.run([PYTHON, "-c", f"import {module}"], capture_output=True, text=True)
        return "" if probe.returncode == 0 else f"{PYTHON} cannot import {module}"


class Torch(PyPeer):
    key, label = "torch", "torch"

    def skips(self, model):
        return "" if model.torch_name else "not a PyTorch model"


class OpenCv(PyPeer):
    key, label = "opencv", "OpenCV"


@dataclass
class Cell:
    threads: int
    model: Model
    batch: int
    runs: dict = field(default_factory=dict)  # peer key -> list of result dicts, one per round
    failures: dict = field(default_factory=dict)  # peer key -> why it did not run or did not finish

    def title(self):
        return f"{self.model.name} b{self.batch} t{self.threads}"

    def clean(self, key):
        """A peer's runs that had the machine to themselves."""
        return [r for r in self.runs.get(key, []) if not r["disturbed"]]

    def best(self, key):
        """The fastest clean run of a peer, else its fastest run (then marked as disturbed), else None."""
        runs = self.clean(key) or self.runs.get(key, [])
        return min(runs, key=lambda r: r["median_ms"]) if runs else None

    def spread(self, key, rounds):
        """How much the best `rounds` clean medians of a peer differ: max / min - 1 (0 with fewer than two)."""
        medians = sorted(r["median_ms"] for r in self.clean(key))[:rounds]
        return medians[-1] / medians[0] - 1 if len(medians) > 1 else 0.0


def short_error(stderr):
    """The informative part of a peer's failure: OpenCV's failing node and assertion, else the last line."""
    node = re.search(r"Node \[([^\]]+)\]:\(([^)]*)\)", stderr)
    assertion = re.findall(r"\(-2\d\d:[^)]*\) (.+?) in function", stderr)
    expected = re.search(r"\(expected: '([^']+)'\)", stderr)
    if node:
        why = assertion[-1] if assertion else expected.group(1) if expected else "rejected"
        return f"{node.group(1)} node {node.group(2)}: {why}"
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "failed without a message"


def busy_cpu_seconds():
    """CPU time the whole machine has spent busy since boot, every process and the hypervisor's steal included."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU time of this driver and of its finished children: what busy_cpu_seconds() counts that is ours."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OthersMeter:
    """How many cores other processes kept busy over an interval (the machine may be shared)."""

    def __init__(self):
        self.t, self.busy, self.own = time.monotonic(), busy_cpu_seconds(), own_cpu_seconds()

    def cores(self):
        elapsed = time.monotonic() - self.t
        others = (busy_cpu_seconds() - self.busy) - (own_cpu_seconds() - self.own)
        return max(0.0, others / elapsed) if elapsed > 0 else 0.0


class Bench:
    def __init__(self, args, peers, models):
        self.args = args
        self.peers = peers
        self.cells = [Cell(t, MODELS[m], b) for t in args.threads for m in models for b in args.batches]
        self.log = sys.stderr
        self.wait_left_s = args.max_wait * 60

    def wait_for_quiet(self):
        """Waits while other processes keep more than --busy-cores busy, from a total budget of --max-wait."""
        waited = 0.0
        while self.wait_left_s > 0:
            meter = OthersMeter()
            time.sleep(0.2)
            if meter.cores() <= self.args.busy_cores:
                break
            self.wait_left_s -= 0.2
            waited += 0.2
        if waited >= 1:
            print(f"  waited {waited:.0f} s for other processes ({max(0.0, self.wait_left_s):.0f} s of waiting left)",
                  file=self.log, flush=True)

    def iterations_for(self, cell, key):
        best = cell.best(key)
        if best is None:
            return self.args.min_iterations
        wanted = int(self.args.target_seconds * 1e3 / max(best["median_ms"], 1e-3))
        return max(self.args.min_iterations, min(self.args.max_iterations, wanted))

    def measure(self, cell, peer, round_label):
        if peer.key in cell.failures or peer.skips(cell.model):
            return
        # A model a peer cannot load, or that timed out, fails the same way at every thread count: skip those.
        for other in self.cells:
            why = other.failures.get(peer.key, "")
            if other.model is cell.model and other.batch == cell.batch and why.startswith(("failed:", "timeout")):
                cell.failures[peer.key] = why
                return
        iterations = self.iterations_for(cell, peer.key)
        # Two warmup runs at least: the first runs after loading are slower (page faults, lazily built kernels).
        warmup = self.args.warmup if self.args.warmup is not None else max(2, iterations // 5)
        argv = peer.argv(cell.model, cell.batch, cell.threads, warmup, iterations)
        env = dict(os.environ, OMP_NUM_THREADS=str(cell.threads))
        self.wait_for_quiet()
        t0, meter = time.monotonic(), OthersMeter()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=self.args.timeout)
        except subprocess.TimeoutExpired:
            cell.failures[peer.key] = f"timeout: over {self.args.timeout} s for {warmup}+{iterations} runs"
            print(f"{round_label} {cell.title()} {peer.label}: timeout", file=self.log, flush=True)
            return
        if done.returncode != 0:
            cell.failures[peer.key] = "failed: " + short_error(done.stderr)
            print(f"{round_label} {cell.title()} {peer.label}: {cell.failures[peer.key]}", file=self.log, flush=True)
            return
        result = peer.parse(done.stdout)
        result["wall_s"], result["others_cores"] = time.monotonic() - t0, meter.cores()
        result["disturbed"] = result["others_cores"] > self.args.busy_cores
        cell.runs.setdefault(peer.key, []).append(result)
        print(f"{round_label} {cell.title()} {peer.label}: {result['median_ms']:.2f} ms "
              f"({warmup}+{iterations} runs, {result['wall_s']:.1f} s, others {result['others_cores']:.2f} cores)",
              file=self.log, flush=True)

    def long(self, cell, key):
        """Whether a peer's run of this cell took so long that one round has to do (a far slower peer).

        Only an undisturbed run counts: one slowed down by other processes gets its rounds like any other.
        """
        return any(r["wall_s"] > self.args.long_run for r in cell.clean(key))

    def run_cell(self, cell, peers, round_index, round_label):
        live = [p for p in peers
                if p.key not in cell.failures and not p.skips(cell.model) and not self.long(cell, p.key)]
        shift = round_index % max(1, len(live))
        for peer in live[shift:] + live[:shift]:
            self.measure(cell, peer, round_label)

    def unstable(self, cell):
        """Peers to run this cell again: too few clean rounds, or clean rounds that disagree."""
        return [p for p in self.peers if cell.runs.get(p.key) and not self.long(cell, p.key)
                and (len(cell.clean(p.key)) < self.args.rounds
                     or cell.spread(p.key, self.args.rounds) > self.args.tolerance)]

    def run(self):
        for r in range(self.args.rounds):
            for cell in self.cells:
                self.run_cell(cell, self.peers, r, f"[round {r + 1}/{self.args.rounds}]")
        # Only those peers run again: the others already have clean numbers that agree.
        for cell in self.cells:
            for extra in range(self.args.max_repeats):
                unstable = self.unstable(cell)
                if not unstable:
                    break
                label = f"[repeat {extra + 1}/{self.args.max_repeats}]"
                self.run_cell(cell, unstable, self.args.rounds + extra, label)


def fovea_macs(binary, model):
    """Multiply-accumulates for one image, from `fovea inspect`'s 'MACs:' line (None when it cannot tell)."""
    done = subprocess.run([str(binary), "inspect", str(model.path), "--shape",
                           f"{model.input}={dims_text(model.shape(1))}"], capture_output=True, text=True)
    match = re.search(r"^MACs: ([0-9.]+) ?([KMG]?)", done.stdout, re.M)
    if done.returncode != 0 or not match:
        return None
    return float(match.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[match.group(2)]


def measure_peak(binary, threads):
    if not os.access(binary, os.X_OK):
        return None
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    done = subprocess.run([str(binary), "--threads", str(threads), "--format", "json"], capture_output=True,
                          text=True, env=env)
    return json.loads(done.stdout) if done.returncode == 0 else None


def machine():
    info = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    flags = set(info.get("flags", "").split())
    isa = [f for f in ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"] if f in flags]
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return {"cpu": info.get("model name", "unknown"), "cores": len(os.sched_getaffinity(0)),
            "family_model": f"family {info.get('cpu family', '?')} model {info.get('model', '?')}",
            "isa": ", ".join(isa), "memory_gib": mem_kb / 2**20, "kernel": os.uname().release,
            "virtualized": "hypervisor" in flags}


def git_commit():
    run = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True)  # noqa: E731
    commit = run("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
    dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return commit + (" + uncommitted changes" if dirty else "")


def fmt_ms(bench, cell, peer):
    if peer.key in cell.failures:
        return "timeout" if cell.failures[peer.key].startswith("timeout") else "fail"
    best = cell.best(peer.key)
    if best is None:
        return "—"
    args = bench.args
    marks = ("~" if cell.spread(peer.key, args.rounds) > args.tolerance else "") + (
        "*" if best["disturbed"] else "") + (
        "†" if bench.long(cell, peer.key) and len(cell.clean(peer.key)) < args.rounds else "")
    ms = best["median_ms"]
    return marks + (f"{ms:.3g}" if ms < 100 else f"{ms:.0f}")


def render_table(bench, peers, skipped, macs, peak, threads):
    cols = ["model", "input", "batch"] + [f"{p.label} ms" for p in peers] + [
        "fovea / ORT", "p90 ms fovea / ORT", "fovea GFLOP/s", "fovea % peak", "ORT % peak", "peak RSS MB fovea / ORT"]
    peak_text = f"{peak['gflops']:.0f} GFLOP/s" if peak else "not measured"
    out = ["", f"### {threads} thread{'s' if threads > 1 else ''} (measured fp32 peak {peak_text})", "",
           "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for cell in (c for c in bench.cells if c.threads == threads):
        row = [cell.model.name, "x".join(str(d) for d in cell.model.chw[1:]), str(cell.batch)]
        for peer in peers:
            if peer.key in skipped:
                row.append("planned" if peer.key == "fovea_bf16" else "—")
            else:
                row.append("n/a" if peer.skips(cell.model) else fmt_ms(bench, cell, peer))
        fovea, ort = cell.best("fovea"), cell.best("ort")
        row.append(f"{fovea['median_ms'] / ort['median_ms']:.2f}" if fovea and ort else "—")
        row.append(" / ".join(f"{r['p90_ms']:.3g}" if r and "p90_ms" in r else "—" for r in (fovea, ort)))
        flops = 2 * macs[cell.model.name] * cell.batch if macs.get(cell.model.name) else 0
        gflops = {k: flops / (r["median_ms"] * 1e-3) / 1e9 for k, r in (("fovea", fovea), ("ort", ort)) if r and flops}
        row.append(f"{gflops['fovea']:.1f}" if "fovea" in gflops else "—")
        row += [f"{100 * gflops[k] / peak['gflops']:.0f}%" if k in gflops and peak else "—" for k in ("fovea", "ort")]
        row.append(" / ".join(f"{r['peak_rss_mb']:.0f}" if r else "—" for r in (fovea, ort)))
        out.append("| " + " | ".join(row) + " |")
    return out


def render_notes(bench, peers, skipped, peaks, facts):
    args, m = bench.args, facts["machine"]
    isa = next((p["isa"] for p in peaks.values()), "")
    notes = [
        "",
        "Method:",
        "",
        f"- Machine: {m['cpu']} ({m['family_model']}), {m['cores']} cores"
        f"{' of a virtual machine' if m['virtualized'] else ''}, {m['memory_gib']:.0f} GiB, Linux {m['kernel']}; "
        f"{m['isa']}. Load average before / after: {facts['load_before']} / {facts['load_after']}.",
        f"- {facts['date']}, commit {facts['commit']}, {facts['fovea_build']}; {facts['versions']}. "
        f"This run took {facts['wall_min']:.1f} min: `{facts['command']}`.",
        "- Numbers are the **median latency of one batch, in ms, from the best round** (lower is better), on "
        "random inputs in [0, 1); `p90` is the 90th percentile of the same round's iterations. Every cell ran every peer once per round, in a peer order that rotates from "
        f"round to round, for {args.rounds} rounds. A run during which other processes kept more than "
        f"{args.busy_cores:g} cores busy (on average) is disturbed and does not count; before each run the driver "
        f"waits for a quieter machine, up to {args.max_wait:g} min in all. A peer with fewer than {args.rounds} "
        f"clean rounds in a cell, or whose best {args.rounds} differ by more than {100 * args.tolerance:.0f}%, runs "
        f"that cell again, up to {args.max_repeats} more times. Each run is a fresh process; model load, "
        "compilation and warmup runs (two at least) are not timed. The first round times "
        f"{args.min_iterations} iterations, later rounds as many as fit in {args.target_seconds:g} s "
        f"(between {args.min_iterations} and {args.max_iterations}).",
        f"- Marks: `~` the best clean rounds still differed by more than {100 * args.tolerance:.0f}%; `*` no clean "
        f"run, the number is from a disturbed one; `†` a clean run took over {args.long_run:g} s, so that peer ran "
        "the cell once.",
        "- fovea: `fovea bench --backend cpu` (fp32). fovea bf16: "
        + ("planned, filled once `fovea bench` has `--precision`. " if "fovea_bf16" in skipped
           else "the same with `--precision bf16`. ")
        + "ORT: onnxruntime-node, CPU EP, graph optimization 'all', intra-op threads = T, inter-op 1, sequential "
        "(`bench/ort_bench.mjs`). torch: PyTorch eager, `torch.set_num_threads(T)`, `torch.inference_mode()`, "
        "the zoo's PyTorch models rebuilt with `tools/zoo/export_models.py` (BatchNorm unfolded, as eager runs "
        "it; n/a: not a PyTorch model). OpenCV: `cv2.dnn`, its own backend on the CPU target, "
        "`cv2.setNumThreads(T)`, after fixing the batch dim and folding Identity nodes on weights (its importer "
        "rejects both; the computation is unchanged). OMP_NUM_THREADS = T for every peer.",
        "- fovea / ORT: the latency ratio, above 1 where fovea is slower. GFLOP/s: 2 x MACs per image (from "
        "`fovea inspect`: convolutions and matmuls) x batch / latency. % peak: of this machine's measured fp32 "
        "peak at the same thread count, the best of 10 oneDNN 2048^3 sgemm runs before the models and 10 after "
        f"(`bench/peak_gflops`{', ' + isa + ' kernels' if isa else ''}); that sgemm runs at about the cores' FMA "
        "limit, so near 100% means compute-bound at full speed. Peak RSS: the process's getrusage max RSS in the "
        "kept run, Node.js itself included for ORT.",
    ]
    failures = {}
    for cell in bench.cells:
        for key, why in cell.failures.items():
            failures.setdefault((key, cell.model.name, why), []).append(f"b{cell.batch} t{cell.threads}")
    labels = {p.key: p.label for p in peers}
    for (key, model, why), where in sorted(failures.items()):
        notes.append(f"- {labels[key]} on {model} ({', '.join(where)}): {why}")
    for key, why in skipped.items():
        if key != "fovea_bf16":
            notes.append(f"- {labels[key]}: not run ({why}).")
    if not peaks:
        notes.append(f"- % peak: not measured ({args.peak} is not built; `make build` builds it).")
    created = [f"{c.model.name} {c.best('fovea')['session_ms']:.0f} ms" for c in bench.cells
               if c.batch == 1 and c.threads == max(args.threads) and c.best("fovea")
               and "session_ms" in c.best("fovea")]
    if created:
        notes.append("- fovea session creation (`Session::load`: reading the model, optimizing, binding, compiling), "
                     "batch 1, in the kept run: " + ", ".join(created) + ".")
    return notes


def write_section(path, section):
    text = path.read_text() if path.exists() else (
        "# Benchmarks\n\nEach section between markers is generated by the command it names; rerunning that command "
        "replaces its section only.\n")
    block = f"{BEGIN_MARK}\n{section}\n{END_MARK}"
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        text = head + block + rest.split(END_MARK, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def int_list(text):
    return [int(v) for v in text.split(",") if v]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help=f"comma-separated, or all (default): {', '.join(MODELS)}")
    parser.add_argument("--batches", type=int_list, help="default 1,8")
    parser.add_argument("--threads", type=int_list, help="default 2,1: one table per thread count")
    parser.add_argument("--rounds", type=int, help="rounds per cell (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 model, batch 1, 2 threads, 1 round")
    parser.add_argument("--fovea", type=Path, default=ROOT / "build" / "release" / "apps" / "fovea" / "fovea")
    parser.add_argument("--peak", type=Path, default=ROOT / "build" / "release" / "bench" / "peak_gflops",
                        help="the peak_gflops program (bench/peak_gflops.cc)")
    parser.add_argument("--peers", default="fovea,fovea_bf16,ort,torch,opencv", help="comma-separated subset")
    parser.add_argument("--output", type=Path, help="markdown file to update (default docs/benchmarks.md; "
                        "--quick prints instead)")
    parser.add_argument("--raw", type=Path, help="also write every run's JSON here")
    parser.add_argument("--tolerance", type=float, default=0.10, help="best rounds further apart get repeated")
    parser.add_argument("--max-repeats", type=int, default=2, help="extra rounds for a cell at most")
    parser.add_argument("--warmup", type=int, help="warmup runs (default: a fifth of the timed ones, at least 1)")
    parser.add_argument("--min-iterations", type=int, default=3)
    parser.add_argument("--max-iterations", type=int, default=100)
    parser.add_argument("--target-seconds", type=float, default=0.5, help="timed time per run after round 1")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per run before giving up on the cell")
    parser.add_argument("--long-run", type=float, default=20,
                        help="seconds: a peer whose run of a cell takes longer runs that cell in one round only")
    parser.add_argument("--busy-cores", type=float, default=0.25,
                        help="cores other processes may use for the machine to count as quiet")
    parser.add_argument("--max-wait", type=float, default=5, help="minutes, in all, to wait for a quiet machine")
    args = parser.parse_args()

    quick = args.quick
    args.models = (args.models or ("mobilenet_v3_small" if quick else "all"))
    models = list(MODELS) if args.models == "all" else args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    args.batches = args.batches or ([1] if quick else [1, 8])
    args.threads = args.threads or ([2] if quick else [2, 1])
    args.rounds = args.rounds or (1 if quick else 3)
    if quick:
        args.min_iterations = args.max_iterations = 3
        args.warmup = 1 if args.warmup is None else args.warmup
        args.max_repeats = 0
    missing = [str(MODELS[m].path) for m in models if not MODELS[m].path.exists()]
    if missing:
        sys.exit(f"cpu_peers: missing {', '.join(missing)} (run scripts/fetch-models.sh and scripts/make-zoo.sh)")

    if not os.access(args.fovea, os.X_OK):
        sys.exit(f"cpu_peers: {args.fovea} not built (make build, or --fovea PATH)")
    with tempfile.TemporaryDirectory(prefix="cpu_peers.") as tmp:
        args.fovea = Path(shutil.copy2(args.fovea, Path(tmp) / "fovea"))
        benchmark(args, models)


def benchmark(args, models):
    all_peers = {p.key: p for p in [Fovea(args.fovea), FoveaBf16(args.fovea), Ort(), Torch(), OpenCv()]}
    peers = [all_peers[k] for k in args.peers.split(",")]
    skipped = {p.key: why for p in peers if (why := p.unavailable())}
    t0, commit = time.monotonic(), git_commit()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    bench = Bench(args, [p for p in peers if p.key not in skipped], models)
    macs = {m: fovea_macs(args.fovea, MODELS[m]) for m in models}
    peaks = {}

    def update_peaks():  # the best of a measurement before the models and one after, like every number here
        for t in args.threads:
            bench.wait_for_quiet()
            p = measure_peak(args.peak, t)
            if p and (t not in peaks or p["gflops"] > peaks[t]["gflops"]):
                peaks[t] = p

    update_peaks()
    bench.run()
    update_peaks()

    first = next((c.best("fovea") for c in bench.cells if c.best("fovea")), None)
    versions = {}
    for cell in bench.cells:
        for key, runs in cell.runs.items():
            versions.setdefault(key, runs[0].get("runtime") or runs[0].get("build"))
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    command = " ".join(["bench/cpu_peers.py", *sys.argv[1:]])
    facts = {
        "machine": machine(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit, "fovea_build": first["build"] if first else "fovea (no successful run)",
        "versions": ", ".join(v for k, v in versions.items() if not k.startswith("fovea"))
        + f", Node.js {node}", "wall_min": (time.monotonic() - t0) / 60, "command": command,
        "load_before": load_before, "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    lines = ["## CPU: fovea against its peers", "",
             "Generated by `make bench-cpu` (`bench/cpu_peers.py`): latency in ms, lower is better; method and "
             "machine below the tables."]
    for t in args.threads:
        lines += render_table(bench, peers, skipped, macs, peaks.get(t), t)
    section = "\n".join(lines + render_notes(bench, peers, skipped, peaks, facts))
    output = args.output or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    if output:
        write_section(output, section)
        print(f"cpu_peers: wrote {output} ({facts['wall_min']:.1f} min)", file=sys.stderr)
    else:
        print(section)
    if args.raw:
        args.raw.write_text(json.dumps({"facts": facts, "peaks": peaks, "macs": macs, "cells": [
            {"model": c.model.name, "batch": c.batch, "threads": c.threads, "runs": c.runs, "failures": c.failures}
            for c in bench.cells]}, indent=1, default=str))


if __name__ == "__main__":
    main()
