#!/usr/bin/python3
"""Trains the factory-line defect detector on `fovea synth` footage and exports it to ONNX.

    tools/train/train.py --data DIR [DIR ...] --out models/factory_detector.onnx

Each DIR is a `fovea synth` output folder (manifest.json, stream_NN.mp4, stream_NN.json). Frames are decoded with
OpenCV (FFmpeg), so the model sees the same H.264 artifacts as the pipeline. Everything is seeded; on the same
machine and thread count two runs give the same weights.
"""
import argparse
import inspect
import json
import math
import multiprocessing
import os
import random
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from model import STRIDES, Detector, decode_level

CLASSES = ["gear", "plate", "bracket", "scratch", "dent", "crack", "missing_tooth", "label"]


def load_stream(job):
    """Every `every`-th frame of one stream, resized to the model input, with its boxes in model pixels."""
    d, s, width, height, every = job
    truth = json.load(open(os.path.join(d, s["truth"])))
    sx, sy = width / truth["width"], height / truth["height"]
    cap = cv2.VideoCapture(os.path.join(d, s["video"]))
    images, targets = [], []
    for f in truth["frames"]:
        ok, img = cap.read()
        if not ok:
            raise RuntimeError(f"{d}/{s['video']}: frame {f['index']} missing")
        if f["index"] % every:
            continue
        boxes = []
        for p in f["parts"]:
            boxes.append((*p["box"], CLASSES.index(p["class"])))
            if p["label_box"] is not None:
                boxes.append((*p["label_box"], CLASSES.index("label")))
            for q in p["defects"]:
                boxes.append((*q["box"], CLASSES.index(q["class"])))
        b = np.array(boxes, np.float32).reshape(-1, 5)
        b[:, [0, 2]] *= sx
        b[:, [1, 3]] *= sy
        images.append(cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA))
        targets.append(b)
    return images, targets


def load_frames(dirs, width, height, every, workers):
    """All streams of all dirs, decoded in parallel (OpenCV's FFmpeg: the same H.264 artifacts the pipeline sees)."""
    jobs = [(d, s, width, height, every) for d in dirs
            for s in json.load(open(os.path.join(d, "manifest.json")))["streams"]]
    with multiprocessing.get_context("fork").Pool(max(1, workers)) as pool:
        parts = pool.map(load_stream, jobs)
    images = [img for p in parts for img in p[0]]
    targets = [t for p in parts for t in p[1]]
    return np.stack(images), targets


def lighting(img, rng):
    """Light the way cameras do: global equalization (what the pipeline's `equalize` does) here on the uint8 image,
    or gain and gamma; and sometimes sensor noise. Returns the image and (gain, gamma, noise sigma) for
    `relight`, which applies them on the training device (the loader stays light: uint8 crosses to it)."""
    if rng.random() < 0.3:
        ycc = cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb)
        ycc[:, :, 0] = cv2.equalizeHist(ycc[:, :, 0])
        img, gain, gamma = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR), 1.0, 1.0
    else:
        gain, gamma = rng.uniform(0.5, 1.6), rng.uniform(0.7, 1.4)
    sigma = rng.uniform(1, 6) if rng.random() < 0.3 else 0.0
    return img, (gain, gamma, sigma)


def relight(x, params, generator):
    """x [N, H, W, 3] uint8, params [N, 3] from `lighting` -> [N, 3, H, W] float in [0, 1], on x's device."""
    gain, gamma, sigma = (params[:, i].view(-1, 1, 1, 1) for i in range(3))
    x = x.permute(0, 3, 1, 2).float()
    x = 255.0 * ((x * gain).clamp(0, 255) / 255.0).pow(gamma)
    noise = torch.randn(x.shape, device=x.device, generator=generator)
    return (x + noise * sigma).clamp(0, 255) / 255.0


def repeat_factors(targets, threshold):
    """Repeat-factor sampling (as for long-tailed detection data): a frame is shown r times per epoch, r the largest
    max(1, sqrt(threshold / f)) over its classes, f the fraction of frames holding the class. Missing teeth (on one
    gear in twelve defective parts) are seen about twice as often; frames of common classes once."""
    present = [set(t[:, 4].astype(int).tolist()) for t in targets]
    freq = {c: sum(c in p for p in present) / len(targets) for c in range(len(CLASSES))}
    rate = {c: max(1.0, math.sqrt(threshold / f)) if f > 0 else 1.0 for c, f in freq.items()}
    return np.array([max((rate[c] for c in p), default=1.0) for p in present]), freq


def crop(img, boxes, width, rng):
    """A random full-height slice `width` wide (a multiple of 32): the detector is convolutional, and half a frame
    costs half the time. Boxes are clipped to it; those cut below 40% of their area are dropped."""
    if width <= 0 or width >= img.shape[1]:
        return img, boxes
    x0 = int(rng.integers(0, (img.shape[1] - width) // 8 + 1)) * 8
    b = boxes.copy()
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    b[:, [0, 2]] = np.clip(b[:, [0, 2]] - x0, 0, width)
    kept = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) >= 0.4 * np.maximum(area, 1e-6)
    return img[:, x0:x0 + width], b[kept]


def assign(targets, shapes, num_classes):
    """FCOS-style targets per level: a cell learns a box when its centre lies inside the box and within 2.5 strides
    of the box centre, and the box's size suits the level; the nearest cell of each box always learns it. A cell
    claimed by several boxes takes the smallest."""
    # Levels by the box's geometric mean side, so that thin boxes (labels, scratches) go to the fine level.
    ranges = [(0, 32), (24, 72), (64, 1e9)]
    out = []
    for (h, w), stride, (lo, hi) in zip(shapes, STRIDES, ranges):
        cls_t = torch.zeros(len(targets), num_classes, h, w)
        box_t = torch.zeros(len(targets), 4, h, w)
        mask = torch.zeros(len(targets), h, w, dtype=torch.bool)
        area_t = torch.full((len(targets), h, w), float("inf"))
        cy = (torch.arange(h, dtype=torch.float32) + 0.5) * stride
        cx = (torch.arange(w, dtype=torch.float32) + 0.5) * stride
        for i, boxes in enumerate(targets):
            for x1, y1, x2, y2, c in boxes.tolist():
                size = math.sqrt(max(1e-6, (x2 - x1) * (y2 - y1)))
                if not lo <= size < hi:
                    continue
                mx, my = (x1 + x2) / 2, (y1 + y2) / 2
                r = 2.5 * stride
                inside_x = (cx > x1) & (cx < x2) & ((cx - mx).abs() < r)
                inside_y = (cy > y1) & (cy < y2) & ((cy - my).abs() < r)
                m = inside_y[:, None] & inside_x[None, :]
                gy = min(h - 1, max(0, int(my // stride)))
                gx = min(w - 1, max(0, int(mx // stride)))
                m[gy, gx] = True
                area = (x2 - x1) * (y2 - y1)
                take = m & (area < area_t[i])
                area_t[i][take] = area
                mask[i][take] = True
                box_t[i, 0][take] = x1
                box_t[i, 1][take] = y1
                box_t[i, 2][take] = x2
                box_t[i, 3][take] = y2
                cls_t[i, :, take] = 0
                cls_t[i, int(c)][take] = 1
        out.append((cls_t, box_t, mask))
    return out


def giou(p, t):
    """p, t: [M, 4] x1 y1 x2 y2."""
    ix1, iy1 = torch.max(p[:, 0], t[:, 0]), torch.max(p[:, 1], t[:, 1])
    ix2, iy2 = torch.min(p[:, 2], t[:, 2]), torch.min(p[:, 3], t[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    ap = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    at = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    union = ap + at - inter + 1e-6
    iou = inter / union
    cx1, cy1 = torch.min(p[:, 0], t[:, 0]), torch.min(p[:, 1], t[:, 1])
    cx2, cy2 = torch.max(p[:, 2], t[:, 2]), torch.max(p[:, 3], t[:, 3])
    hull = (cx2 - cx1) * (cy2 - cy1) + 1e-6
    return iou - (hull - union) / hull, iou


class Batches(torch.utils.data.Dataset):
    """Batch b of an epoch: cropped uint8 images with their lighting parameters, and their assigned targets. Its
    randomness is seeded by (seed, epoch, b) alone, so that any number of loader workers yields the same batches."""

    def __init__(self, images, targets, repeats, args, num_classes):
        self.images, self.targets, self.repeats, self.args = images, targets, repeats, args
        self.num_classes = num_classes
        self.set_epoch(0)

    def set_epoch(self, epoch):
        """The epoch's frame order: each frame floor(r) times, once more with probability frac(r), shuffled. Set
        before the loader's workers start (they start afresh each epoch), so that they see it."""
        self.epoch = epoch
        rng = np.random.default_rng([self.args.seed, epoch])
        whole = np.floor(self.repeats).astype(int)
        counts = whole + (rng.random(len(self.repeats)) < self.repeats - whole)
        self.order = rng.permutation(np.repeat(np.arange(len(self.images)), counts))

    def __len__(self):
        return math.ceil(len(self.order) / self.args.batch)

    def __getitem__(self, b):
        a = self.args
        rng = np.random.default_rng([a.seed, self.epoch, b])
        crops = [crop(self.images[i], self.targets[i], a.crop, rng) for i in self.order[b * a.batch:(b + 1) * a.batch]]
        lit = [lighting(np.ascontiguousarray(c[0]), rng) for c in crops]
        x = torch.from_numpy(np.stack([img for img, _ in lit]))
        params = torch.tensor([p for _, p in lit], dtype=torch.float32)
        shapes = [(x.shape[1] // stride, x.shape[2] // stride) for stride in STRIDES]
        return x, params, assign([c[1] for c in crops], shapes, self.num_classes)


def loss_fn(model, x, assigned):
    raws = model.raw(x)
    cls_loss, box_loss, positives = 0.0, 0.0, 0
    for raw, stride, (cls_t, box_t, mask) in zip(raws, STRIDES, assigned):
        boxes, logits = decode_level(raw, stride)
        if mask.any():
            p = boxes.permute(0, 2, 3, 1)[mask]
            pxyxy = torch.stack([p[:, 0] - p[:, 2] / 2, p[:, 1] - p[:, 3] / 2, p[:, 0] + p[:, 2] / 2,
                                 p[:, 1] + p[:, 3] / 2], 1)
            t = box_t.permute(0, 2, 3, 1)[mask]
            g, iou = giou(pxyxy, t)
            box_loss = box_loss + (1 - g).sum()
            # Class targets carry the box quality, so that scores rank well-placed boxes first (NMS keeps them).
            q = cls_t.permute(0, 2, 3, 1).clone()
            q[mask] = q[mask] * iou.detach().clamp(min=0.3).unsqueeze(1)
            cls_t = q.permute(0, 3, 1, 2)
            positives += int(mask.sum())
        # Varifocal loss: positives weighted by their quality target, negatives by p^2, so that the few defect cells
        # are not drowned by the background.
        p_sig = logits.sigmoid().detach()
        weight = torch.where(cls_t > 0, cls_t, 0.75 * p_sig.pow(2))
        cls_loss = cls_loss + (F.binary_cross_entropy_with_logits(logits, cls_t, reduction="none") * weight).sum()
    n = max(1, positives)
    return (cls_loss + 5.0 * box_loss) / n, float(cls_loss) / n, float(box_loss) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--height", type=int, default=288)
    ap.add_argument("--every", type=int, default=4, help="use every n-th frame")
    ap.add_argument("--crop", type=int, default=256, help="train on slices this wide (0: whole frames)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads")
    ap.add_argument("--workers", type=int, default=0, help="processes that decode frames and prepare batches")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--widths", default="16,32,48,96,128", help="channels at strides 2, 4, 8, 16, 32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat-threshold", type=float, default=0.3,
                    help="repeat-factor sampling: frames of classes in fewer than this fraction of frames repeat")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this many epochs of the --epochs schedule (0: run it all)")
    ap.add_argument("--time-budget", type=float, default=0,
                    help="minutes: after epoch 1, lower --epochs to what fits (0: none); the schedule stays that of "
                         "--epochs N, printed, so a run is reproducible")
    args = ap.parse_args()
    if args.width % 32 or args.height % 32:
        ap.error("--width and --height must be multiples of 32 (the coarsest stride)")

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    images, targets = load_frames(args.data, args.width, args.height, args.every, args.workers)
    print(f"{len(images)} frames, {sum(len(t) for t in targets)} boxes, loaded in {time.time() - t0:.0f} s", flush=True)

    widths = tuple(int(w) for w in args.widths.split(","))
    model = Detector(len(CLASSES), width=widths).to(args.device)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params} parameters, training on {args.device}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    repeats, freq = repeat_factors(targets, args.repeat_threshold)
    print("frames holding each class: " + ", ".join(f"{CLASSES[c]} {f:.1%}" for c, f in freq.items()) +
          f"; repeat-factor sampling shows {repeats.sum() / len(repeats):.2f}x frames per epoch", flush=True)
    data = Batches(images, targets, repeats, args, len(CLASSES))
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False, num_workers=args.workers,
                                         persistent_workers=False)
    steps_per_epoch = len(data)
    epochs = args.epochs

    def learning_rate(step):
        """Linear warm-up over the first epoch, then cosine decay to ~0 at the end of the last. Epoch 1 does not
        depend on the number of epochs, so a --time-budget that shrinks it after epoch 1 trains exactly as
        --epochs N would."""
        if step < steps_per_epoch:
            return args.lr * (0.04 + 0.96 * step / steps_per_epoch)
        p = (step - steps_per_epoch) / max(1, (epochs - 1) * steps_per_epoch)
        return args.lr * (1e-3 + (1 - 1e-3) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    t_train = time.time()
    step = 0
    epoch = 0
    while epoch < epochs:
        model.train()
        data.set_epoch(epoch)
        sums = np.zeros(3)
        for b, (x, light, assigned) in enumerate(loader):
            noise = torch.Generator(args.device).manual_seed(args.seed * 1_000_003 + epoch * 100_003 + b)
            x = relight(x.to(args.device, non_blocking=True), light.to(args.device), noise)
            assigned = [tuple(t.to(args.device, non_blocking=True) for t in level) for level in assigned]
            loss, lc, lb = loss_fn(model, x, assigned)
            for group in opt.param_groups:
                group["lr"] = learning_rate(step)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            step += 1
            sums += (float(loss), lc, lb)
        steps = len(data)
        minutes = (time.time() - t_train) / 60
        epoch += 1
        print(f"epoch {epoch}/{epochs}: loss {sums[0] / steps:.3f} (cls {sums[1] / steps:.3f}"
              f" box {sums[2] / steps:.3f}), {minutes:.1f} min", flush=True)
        if epoch == 1 and args.time_budget:
            fit = max(2, int(args.time_budget / minutes))
            if fit < epochs:
                epochs = fit
                print(f"--time-budget {args.time_budget} min: {epochs} epochs fit; reproduce with --epochs {epochs}",
                      flush=True)
        if args.stop_after and epoch >= args.stop_after:
            print(f"stopped after epoch {epoch} as asked", flush=True)
            break
    train_minutes = (time.time() - t_train) / 60

    model = model.cpu().eval()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # The TorchScript exporter on every PyTorch version (newer ones default to the dynamo exporter): opset 13 as before.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(model, torch.zeros(1, 3, args.height, args.width), args.out, opset_version=13,
                      input_names=["images"], output_names=["output0"],
                      dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}}, **legacy)
    info = {"classes": CLASSES, "input": [args.height, args.width], "parameters": params, "frames": len(images),
            "widths": list(widths), "epochs": epoch, "schedule_epochs": epochs,
            "train_minutes": round(train_minutes, 1), "device": torch.cuda.get_device_name() if args.device == "cuda"
            else "cpu", "every": args.every, "crop": args.crop, "batch": args.batch, "lr": args.lr,
            "data": [os.path.join(*os.path.normpath(d).split(os.sep)[-2:]) for d in args.data], "seed": args.seed,
            "repeat_threshold": args.repeat_threshold}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(info, f, indent=2)
    with open(os.path.splitext(args.out)[0] + ".labels", "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes), trained {train_minutes:.1f} min", flush=True)


if __name__ == "__main__":
    main()
