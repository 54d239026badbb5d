"""A small anchor-free detector with a YOLOv8-style output: [N, 4 + classes, boxes], boxes as cx, cy, w, h in pixels
of the input and sigmoid class scores, so that fovea's `type: yolov8` decoder reads it directly.

Backbone of plain 3x3 convolutions (BN + SiLU) down to stride 32, a top-down path to strides 8 and 16, and one head
per stride that predicts box distances (left, top, right, bottom, in strides) and class logits.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDES = (8, 16, 32)


def conv(c_in, c_out, k=3, s=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = conv(c, c)
        self.b = conv(c, c)

    def forward(self, x):
        return x + self.b(self.a(x))


class Detector(nn.Module):
    def __init__(self, num_classes, width=(16, 24, 32, 64, 96)):
        super().__init__()
        c1, c2, c3, c4, c5 = width
        self.num_classes = num_classes
        self.stem = nn.Sequential(conv(3, c1, s=2), conv(c1, c2, s=2))            # stride 4
        self.s8 = nn.Sequential(conv(c2, c3, s=2), Residual(c3))                   # stride 8
        self.s16 = nn.Sequential(conv(c3, c4, s=2), Residual(c4))                  # stride 16
        self.s32 = nn.Sequential(conv(c4, c5, s=2), Residual(c5))                  # stride 32
        self.lat16 = conv(c5 + c4, c4, k=1)
        self.lat8 = conv(c4 + c3, c3, k=1)
        self.smooth16 = conv(c4, c4)
        self.smooth8 = conv(c3, c3)
        self.heads = nn.ModuleList(
            [nn.Sequential(conv(c, c), nn.Conv2d(c, 4 + num_classes, 1)) for c in (c3, c4, c5)])
        for head in self.heads:
            # Start with low class scores (prior 1%): the loss is not swamped by background at the first steps.
            nn.init.constant_(head[-1].bias[4:], -4.6)
            nn.init.constant_(head[-1].bias[:4], 0.0)

    def features(self, x):
        x = self.stem(x)
        p3 = self.s8(x)
        p4 = self.s16(p3)
        p5 = self.s32(p4)
        t4 = self.smooth16(self.lat16(torch.cat([F.interpolate(p5, scale_factor=2.0, mode="nearest"), p4], 1)))
        t3 = self.smooth8(self.lat8(torch.cat([F.interpolate(t4, scale_factor=2.0, mode="nearest"), p3], 1)))
        return [t3, t4, p5]

    def raw(self, x):
        """Per level [N, 4 + C, H, W]: distances (before softplus) and class logits."""
        return [head(f) for head, f in zip(self.heads, self.features(x))]

    def forward(self, x):
        """Decoded output [N, 4 + C, boxes]: cx, cy, w, h in input pixels, class probabilities."""
        outs = []
        for raw, stride in zip(self.raw(x), STRIDES):
            n, c, h, w = raw.shape
            boxes, logits = decode_level(raw, stride)
            outs.append(torch.cat([boxes, logits.sigmoid()], 1).reshape(n, c, h * w))
        return torch.cat(outs, 2)


def grid(h, w, stride, device):
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    return ys.view(1, h, 1).expand(1, h, w), xs.view(1, 1, w).expand(1, h, w)


def decode_level(raw, stride):
    """raw [N, 4 + C, H, W] -> boxes [N, 4, H, W] (cx, cy, w, h in pixels), logits [N, C, H, W]."""
    _, _, h, w = raw.shape
    cy, cx = grid(h, w, stride, raw.device)
    d = F.softplus(raw[:, :4]) * stride
    l, t, r, b = d[:, 0], d[:, 1], d[:, 2], d[:, 3]
    x1, y1, x2, y2 = cx - l, cy - t, cx + r, cy + b
    boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1)
    return boxes, raw[:, 4:]
