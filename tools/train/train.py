#!/usr/bin/python3
"""Trains the factory-line defect detector on `fovea synth` footage and exports it to ONNX.

    tools/train/train.py --data DIR [DIR ...] --out models/factory_detector.onnx

Each DIR is a `fovea synth` output folder (manifest.json, stream_NN.mp4, stream_NN.json). Frames are decoded with
OpenCV (FFmpeg), so the model sees the same H.264 artifacts as the pipeline. Everything is seeded; on the same
machine and thread count two runs give the same weights.
"""
import argparse
import json
import math
import os
import random
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from model import STRIDES, Detector, decode_level

CLASSES = ["gear", "plate", "bracket", "scratch", "dent", "crack", "missing_tooth", "label"]


def load_frames(dirs, width, height, every):
    """All frames (every `every`-th) resized to the model input, with their boxes in model pixels."""
    images, targets = [], []
    for d in dirs:
        manifest = json.load(open(os.path.join(d, "manifest.json")))
        for s in manifest["streams"]:
            truth = json.load(open(os.path.join(d, s["truth"])))
            sx, sy = width / truth["width"], height / truth["height"]
            cap = cv2.VideoCapture(os.path.join(d, s["video"]))
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
    return np.stack(images), targets


def augment(img, rng):
    """Light the way cameras do: gain, gamma, global equalization (what the pipeline's `equalize` does), noise."""
    img = img.astype(np.float32)
    if rng.random() < 0.3:
        ycc = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2YCrCb)
        ycc[:, :, 0] = cv2.equalizeHist(ycc[:, :, 0])
        img = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR).astype(np.float32)
    else:
        img = img * rng.uniform(0.5, 1.6)
        img = 255.0 * np.power(np.clip(img, 0, 255) / 255.0, rng.uniform(0.7, 1.4))
    if rng.random() < 0.3:
        img += rng.normal(0, rng.uniform(1, 6), img.shape)
    return np.clip(img, 0, 255)


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


def loss_fn(model, x, targets):
    raws = model.raw(x)
    shapes = [r.shape[2:] for r in raws]
    assigned = assign(targets, shapes, model.num_classes)
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
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this many epochs of the --epochs schedule (0: run it all)")
    ap.add_argument("--time-limit", type=float, default=0,
                    help="also stop after this many minutes (0: none); depends on machine load, so not reproducible")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    images, targets = load_frames(args.data, args.width, args.height, args.every)
    print(f"{len(images)} frames, {sum(len(t) for t in targets)} boxes, loaded in {time.time() - t0:.0f} s", flush=True)

    model = Detector(len(CLASSES), width=(16, 24, 32, 64, 96))
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params} parameters", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(images) / args.batch)
    total = args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.1)
    t_train = time.time()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(images))
        sums = np.zeros(3)
        for b in range(steps_per_epoch):
            idx = order[b * args.batch:(b + 1) * args.batch]
            crops = [crop(images[i], targets[i], args.crop, rng) for i in idx]
            x = np.stack([augment(c[0], rng) for c in crops]).transpose(0, 3, 1, 2) / 255.0
            x = torch.from_numpy(x.astype(np.float32))
            loss, lc, lb = loss_fn(model, x, [c[1] for c in crops])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            if step < total - 1:
                sched.step()
            step += 1
            sums += (float(loss), lc, lb)
        minutes = (time.time() - t_train) / 60
        print(f"epoch {epoch + 1}/{args.epochs}: loss {sums[0] / steps_per_epoch:.3f} (cls {sums[1] / steps_per_epoch:.3f}"
              f" box {sums[2] / steps_per_epoch:.3f}), {minutes:.1f} min", flush=True)
        if args.stop_after and epoch + 1 >= args.stop_after:
            print(f"stopped after epoch {epoch + 1} as asked", flush=True)
            break
        if args.time_limit and minutes > args.time_limit:
            print("time limit reached", flush=True)
            break
    train_minutes = (time.time() - t_train) / 60

    model.eval()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 3, args.height, args.width), args.out, opset_version=13,
                      input_names=["images"], output_names=["output0"],
                      dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}})
    info = {"classes": CLASSES, "input": [args.height, args.width], "parameters": params, "frames": len(images),
            "epochs": epoch + 1, "schedule_epochs": args.epochs, "train_minutes": round(train_minutes, 1),
            "data": [os.path.join(*os.path.normpath(d).split(os.sep)[-2:]) for d in args.data], "seed": args.seed}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(info, f, indent=2)
    with open(os.path.splitext(args.out)[0] + ".labels", "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes), trained {train_minutes:.1f} min", flush=True)


if __name__ == "__main__":
    main()
