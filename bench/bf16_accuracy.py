#!/usr/bin/env python3
"""bf16 vs fp32 on the CPU backend: top-1 agreement on the zoo classifiers, box agreement on the detectors.

Runs `fovea infer --backend cpu` at both precisions on the same images and prints a markdown table. Each row also
gives a yardstick: the same fp32 model on the same images plus half a uint8 step of noise (+-0.5/255 per pixel,
what two JPEG decoders or a camera's rounding already differ by). A model whose top-1 moves under that noise as
often as under bf16 has logits too close together for top-1 agreement to measure bf16's arithmetic.

Inputs:
- natural: the sample photographs of Debian's opencv-doc (/usr/share/doc/opencv-doc/examples/data, every JPEG and
  PNG at least 64 px on its shorter side), shorter side resized to the model's size, centre-cropped; the classifiers
  get ImageNet normalization.
- noise: uniform random pixels in [0, 1) (fixed seed), normalized like natural images: the distribution on which
  make-zoo.sh calibrated the zoo models' BatchNorm statistics (their weights are random).
- frames: frames of `fovea synth` factory footage ($FOVEA_CACHE_DIR/factory, from tools/train) for the trained
  models/factory_detector.onnx.
- text: lines of serial numbers and words rendered with OpenCV's fonts over crops of the sample photographs (BGR,
  PP-OCR's normalization), for PP-OCRv4's trained classifiers (`make models`): the text-direction classifier
  (cls, 2 classes; half the lines turned upside down) and the recognizer (rec, a 6625-way classification at each of
  its 40 time steps; also the greedy CTC strings).

Detectors: the highest-scoring fp32 boxes (--top per image) whose sides are at least 2 px (YOLOv5's NMS drops
smaller ones: a box 0.3 px wide has no meaningful IoU), each compared with the bf16 box at the same index.
Usage: /usr/bin/python3 bench/bf16_accuracy.py [--fovea build/release/apps/fovea/fovea] [--images 32]
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("FOVEA_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fovea")
ROOT = Path(__file__).resolve().parent.parent
CLASSIFIERS = ["resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x1_0", "densenet121",
               "convnext_tiny"]
DETECTORS = {"yolov5s_style": "v5", "yolov8n_style": "v8"}
SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")
MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
MIN_SIDE = 2.0  # px: boxes with a shorter side are left out of the comparison


def infer(fovea, model, x, precision, workdir):
    inp = workdir / "x.npy"
    np.save(inp, x)
    out = workdir / precision
    for f in out.glob("*.npy"):
        f.unlink()
    subprocess.run([fovea, "infer", str(model), "--backend", "cpu", "--precision", precision, "--input",
                    f"{input_name(model)}={inp}", "--output-dir", str(out)], check=True, stdout=subprocess.DEVNULL)
    return np.load(next(out.glob("*.npy")))


def input_name(model):
    import onnx  # Debian's python3-onnx
    m = onnx.load(str(model), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return next(i.name for i in m.graph.input if i.name not in inits)


def natural_images(size):
    """opencv-doc's sample photographs as RGB float32 [N, 3, size, size] in [0, 1], or None when not installed."""
    import cv2  # Debian's python3-opencv
    images = []
    for f in sorted(glob.glob(str(SAMPLES / "*.jpg")) + glob.glob(str(SAMPLES / "*.png"))):
        im = cv2.imread(f, cv2.IMREAD_COLOR)
        if im is None or min(im.shape[:2]) < 64:
            continue
        h, w = im.shape[:2]
        s = size / min(h, w)
        im = cv2.resize(im, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_AREA)
        h, w = im.shape[:2]
        y, x = (h - size) // 2, (w - size) // 2
        images.append(im[y:y + size, x:x + size, ::-1].transpose(2, 0, 1).astype(np.float32) / 255)
    return np.stack(images) if images else None


def factory_frames(count):
    """BGR frames of the factory footage at the detector's 768x448 in [0, 1], or None when there is none."""
    import cv2
    frames = []
    for f in sorted(glob.glob(str(CACHE / "factory" / "stream_*.mp4")))[:count // 2]:
        cap = cv2.VideoCapture(f)
        for k in range(51):
            ok, im = cap.read()
            if not ok:
                break
            if k in (20, 50):
                frames.append(cv2.resize(im, (768, 448), interpolation=cv2.INTER_AREA).transpose(2, 0, 1) / 255)
    return np.stack(frames).astype(np.float32) if frames else None


def text_lines(count, width, flip_half=False):
    """Rendered text lines, BGR, [count, 3, 48, width], normalized as PP-OCR expects ((x / 255 - 0.5) / 0.5)."""
    import cv2
    rng = np.random.default_rng(2028)
    photos = [cv2.imread(f, cv2.IMREAD_COLOR) for f in sorted(glob.glob(str(SAMPLES / "*.jpg")))]
    photos = [p for p in photos if p is not None and min(p.shape[:2]) >= 64]
    letters, digits = "ABCDEFGHJKLMNPQRSTUVWXYZ", "0123456789"
    words = ["belt", "part", "gear", "plate", "bracket", "line", "camera", "inspect", "serial", "batch"]
    fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
             cv2.FONT_HERSHEY_PLAIN]
    lines = []
    for i in range(count):
        if i % 2 == 0:
            text = "SN-" + "".join(rng.choice(list(digits), 4)) + "-" + "".join(rng.choice(list(letters), 2))
        else:
            text = " ".join(rng.choice(words, 2)) + " " + str(int(rng.integers(10, 999)))
        font, thick = fonts[i % len(fonts)], int(rng.integers(1, 3))
        (tw, th), base = cv2.getTextSize(text, font, 1.0, thick)
        canvas = np.full((th + base + 16, tw + 16, 3), 235, np.uint8)
        if photos:  # a light, blurred photograph as the background
            ph = photos[i % len(photos)]
            bg = cv2.resize(ph, (canvas.shape[1], canvas.shape[0]), interpolation=cv2.INTER_AREA)
            canvas = (0.35 * cv2.GaussianBlur(bg, (5, 5), 0) + 0.65 * 235).astype(np.uint8)
        color = tuple(int(c) for c in rng.integers(0, 70, 3))
        cv2.putText(canvas, text, (8, 8 + th), font, 1.0, color, thick, cv2.LINE_AA)
        h, w = canvas.shape[:2]
        new_w = min(width, max(1, round(w * 48 / h)))
        line = cv2.resize(canvas, (new_w, 48), interpolation=cv2.INTER_AREA)
        if flip_half and i % 2 == 1:
            line = cv2.rotate(line, cv2.ROTATE_180)
        x = np.zeros((3, 48, width), np.float32)  # zeros to the right, as the pipeline pads
        x[:, :, :new_w] = (line.transpose(2, 0, 1).astype(np.float32) / 255 - 0.5) / 0.5
        lines.append(x)
    return np.stack(lines)


def ctc_greedy(y):  # [N, T, classes] -> one tuple of class ids per line (blank 0 and repeats dropped)
    ids = y.argmax(-1)
    return [tuple(c for j, c in enumerate(row) if c != 0 and (j == 0 or c != row[j - 1])) for row in ids]


def ppocr_rows(fovea, count, work):
    """Top-1 agreement on PP-OCRv4's trained classifiers, or nothing when `make models` has not fetched them."""
    rows = []
    cls, rec = CACHE / "models" / "ppocr" / "cls.onnx", CACHE / "models" / "ppocr" / "rec.onnx"
    if cls.exists():
        x = text_lines(count, 192, flip_half=True)
        a, b = infer(fovea, cls, x, "fp32", work), infer(fovea, cls, x, "bf16", work)
        c = infer(fovea, cls, with_input_noise(x, 2.0), "fp32", work)
        agree = lambda y: float((a.argmax(1) == y.argmax(1)).mean())
        rel = lambda y: float(np.linalg.norm(a - y) / np.linalg.norm(a))
        rows.append(f"| ppocr_cls (trained) | text | {len(x)} | {len(set(a.argmax(1)))} / - | top-1 agreement / rel. L2 "
                    f"| **{agree(b):.3f}** / {rel(b):.1e} | {agree(c):.3f} / {rel(c):.1e} |")
    if rec.exists():
        x = text_lines(count, 320)
        a, b = infer(fovea, rec, x, "fp32", work), infer(fovea, rec, x, "bf16", work)
        c = infer(fovea, rec, with_input_noise(x, 2.0), "fp32", work)
        steps = lambda y: float((a.argmax(-1) == y.argmax(-1)).mean())
        strings = lambda y: float(np.mean([p == q for p, q in zip(ctc_greedy(a), ctc_greedy(y))]))
        rows.append(f"| ppocr_rec (trained) | text | {len(x)} | {len(set(a.argmax(-1).ravel()))} / - | top-1 agreement "
                    f"per time step ({a.shape[1]} steps) / same CTC string | **{steps(b):.4f} / {strings(b):.3f}** | "
                    f"{steps(c):.4f} / {strings(c):.3f} |")
    return rows


def boxes_v5(y):  # [N, boxes, 85]: cx, cy, w, h, obj, classes
    return y[..., :4], y[..., 4] * y[..., 5:].max(-1), y[..., 5:].argmax(-1)


def boxes_v8(y):  # [N, 4 + classes, boxes]: cx, cy, w, h, classes
    y = y.transpose(0, 2, 1)
    return y[..., :4], y[..., 4:].max(-1), y[..., 4:].argmax(-1)


def iou(a, b):  # cx, cy, w, h
    a1, a2 = a[..., :2] - a[..., 2:] / 2, a[..., :2] + a[..., 2:] / 2
    b1, b2 = b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2
    inter = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod(-1)
    union = a[..., 2:].prod(-1) + b[..., 2:].prod(-1) - inter
    return inter / np.maximum(union, 1e-9)


def with_input_noise(x, scale):
    """x plus uniform noise of half a uint8 step per pixel (in the model's input units: `scale` per unit pixel)."""
    noise = (np.random.default_rng(5).random(x.shape, dtype=np.float32) - 0.5) / 255
    return (x + noise * scale).astype(np.float32)


def classifier_row(fovea, name, inputs, x, work):
    model = CACHE / "models" / "zoo" / f"{name}.onnx"
    a = infer(fovea, model, x, "fp32", work)
    b = infer(fovea, model, x, "bf16", work)
    c = infer(fovea, model, with_input_noise(x, 1 / STD), "fp32", work)
    top = np.sort(a, 1)
    margin = np.median((top[:, -1] - top[:, -2]) / a.std(1))
    agree = lambda y: float((a.argmax(1) == y.argmax(1)).mean())
    rel = lambda y: float(np.linalg.norm(a - y) / np.linalg.norm(a))
    return (f"| {name} | {inputs} | {len(x)} | {len(set(a.argmax(1)))} / {margin:.2f} | top-1 agreement / rel. L2 | "
            f"**{agree(b):.3f}** / {rel(b):.1e} | {agree(c):.3f} / {rel(c):.1e} |")


def detector_row(fovea, model, label, inputs, x, decode, top_n, work, min_score=None):
    a = infer(fovea, model, x, "fp32", work)
    b = infer(fovea, model, x, "bf16", work)
    c = infer(fovea, model, with_input_noise(x, 1.0), "fp32", work)
    ba, sa, ca = decode(a)
    rank = np.where((ba[..., 2:] >= MIN_SIDE).all(-1), sa, -np.inf)
    if min_score is not None:  # every box above the score threshold
        picks = [np.flatnonzero(rank[i] > min_score) for i in range(len(x))]
        what = f"boxes scoring > {min_score}"
    else:
        picks = [np.argsort(-rank[i])[:top_n] for i in range(len(x))]
        what = f"top {top_n} fp32 boxes"
    picks = [p[np.isfinite(rank[i, p])] for i, p in enumerate(picks)]

    def compare(y):
        by, _, cy = decode(y)
        ious = np.concatenate([iou(ba[i, p], by[i, p]) for i, p in enumerate(picks)])
        same = np.concatenate([ca[i, p] == cy[i, p] for i, p in enumerate(picks)])
        return f"{ious.mean():.4f} ({ious.min():.4f}) / {same.mean():.3f}"

    n = sum(len(p) for p in picks)
    return (f"| {label} | {inputs} | {len(x)} | - | mean box IoU (min) / same class, {what} ({n} boxes) | "
            f"**{compare(b)}** | {compare(c)} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fovea", default="build/release/apps/fovea/fovea")
    p.add_argument("--images", type=int, default=32, help="noise images per classifier (detectors: a quarter)")
    p.add_argument("--top", type=int, default=100, help="detector boxes compared per image (highest fp32 scores)")
    p.add_argument("--text-lines", type=int, default=256, help="rendered text lines per PP-OCRv4 model")
    p.add_argument("--only-ppocr", action="store_true", help="just the PP-OCRv4 rows")
    args = p.parse_args()
    print("| model | inputs | images | fp32 distinct top-1 / median top-1 margin (logit std) | metric | bf16 vs fp32 "
          "| fp32 vs fp32 on inputs +-0.5/255 |\n|---|---|---|---|---|---|---|")
    natural = natural_images(224)
    if natural is None:
        print(f"(no natural images: {SAMPLES} is missing; scripts/install-deps.sh installs opencv-doc)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in [] if args.only_ppocr else CLASSIFIERS:
            if natural is not None:
                print(classifier_row(args.fovea, name, "natural", (natural - MEAN) / STD, work), flush=True)
            noise = np.random.default_rng(2026).random((args.images, 3, 224, 224), dtype=np.float32)
            print(classifier_row(args.fovea, name, "noise", (noise - MEAN) / STD, work), flush=True)
        for name, style in [] if args.only_ppocr else DETECTORS.items():
            model = CACHE / "models" / "zoo" / f"{name}.onnx"
            x = np.random.default_rng(2027).random((max(2, args.images // 4), 3, 640, 640), dtype=np.float32)
            decode = boxes_v5 if style == "v5" else boxes_v8
            print(detector_row(args.fovea, model, name, "noise", x, decode, args.top, work), flush=True)
        for row in ppocr_rows(args.fovea, args.text_lines, work):
            print(row, flush=True)
        frames = factory_frames(16)
        if frames is None:
            print(f"(no factory footage under {CACHE / 'factory'}: factory_detector skipped)", file=sys.stderr)
        else:
            print(detector_row(args.fovea, ROOT / "models" / "factory_detector.onnx", "factory_detector (trained)",
                               "frames", frames, boxes_v8, args.top, work, min_score=0.25), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
