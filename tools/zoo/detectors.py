"""YOLO-style detectors written for the zoo: the layer structure of YOLOv5s and YOLOv8n, random weights.

They exist to give fovea's runtime the graphs real detector exports have (Conv+BN+SiLU, C3/C2f, SPPF,
an FPN/PAN neck with nearest upsampling and concatenation, and the box decode inside the graph), not to
detect anything. Both take [N, 3, 640, 640] images in [0, 1):

  yolov5s_style  -> [N, 25200, 85]: per anchor (cx, cy, w, h) in pixels, objectness, 80 class scores
  yolov8n_style  -> [N, 84, 8400]:  per anchor point (cx, cy, w, h) in pixels, 80 class scores

The decode constants (grids, anchors, strides) are computed for 640x640 and end up as graph constants,
as in an exported model with a fixed image size; the batch dimension stays dynamic.
"""

import math

import torch
from torch import nn

NUM_CLASSES = 80
IMAGE_SIZE = 640
STRIDES = (8, 16, 32)


def _round_depth(n, depth_multiple):
    return max(round(n * depth_multiple), 1) if n > 1 else n


def _round_width(c, width_multiple, max_channels=1024):
    c = min(c, max_channels) * width_multiple
    return int(math.ceil(c / 8) * 8)


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm + SiLU; 'same' padding for odd kernels unless given."""

    def __init__(self, c_in, c_out, k=1, s=1, p=None):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two convs, with a residual add when shapes allow and `shortcut` is on."""

    def __init__(self, c_in, c_out, shortcut=True, k1=1, k2=3, expansion=0.5):
        super().__init__()
        hidden = int(c_out * expansion)
        self.cv1 = Conv(c_in, hidden, k1)
        self.cv2 = Conv(hidden, c_out, k2)
        self.add = shortcut and c_in == c_out

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """YOLOv5 CSP block: a bottleneck stack on one half, a 1x1 conv on the other, concat, fuse."""

    def __init__(self, c_in, c_out, n=1, shortcut=True):
        super().__init__()
        hidden = c_out // 2
        self.cv1 = Conv(c_in, hidden, 1)
        self.cv2 = Conv(c_in, hidden, 1)
        self.cv3 = Conv(2 * hidden, c_out, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, expansion=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C2f(nn.Module):
    """YOLOv8 CSP block: split in two, chain bottlenecks on the second half, concat every stage, fuse."""

    def __init__(self, c_in, c_out, n=1, shortcut=False):
        super().__init__()
        self.hidden = c_out // 2
        self.cv1 = Conv(c_in, 2 * self.hidden, 1)
        self.cv2 = Conv((2 + n) * self.hidden, c_out, 1)
        self.m = nn.ModuleList(Bottleneck(self.hidden, self.hidden, shortcut, k1=3, k2=3, expansion=1.0)
                               for _ in range(n))

    def forward(self, x):
        ys = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            ys.append(m(ys[-1]))
        return self.cv2(torch.cat(ys, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max pools, concatenated with their input."""

    def __init__(self, c_in, c_out, k=5):
        super().__init__()
        hidden = c_in // 2
        self.cv1 = Conv(c_in, hidden, 1)
        self.cv2 = Conv(hidden * 4, c_out, 1)
        self.pool = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat((x, y1, y2, self.pool(y2)), 1))


def _upsample():
    return nn.Upsample(scale_factor=2, mode="nearest")


class V5Detect(nn.Module):
    """Anchor-based head: per level a 1x1 conv to 3 anchors x (5 + classes), decoded in the graph."""

    ANCHORS = (((10, 13), (16, 30), (33, 23)),
               ((30, 61), (62, 45), (59, 119)),
               ((116, 90), (156, 198), (373, 326)))

    def __init__(self, channels, num_classes=NUM_CLASSES):
        super().__init__()
        self.num_outputs = num_classes + 5
        self.num_anchors = len(self.ANCHORS[0])
        self.m = nn.ModuleList(nn.Conv2d(c, self.num_anchors * self.num_outputs, 1) for c in channels)
        for i, (conv, stride) in enumerate(zip(self.m, STRIDES)):
            # The usual prior: few objects per cell, classes roughly balanced (keeps scores off 0.5).
            b = conv.bias.view(self.num_anchors, -1)
            with torch.no_grad():
                b[:, 4] += math.log(8 / (IMAGE_SIZE / stride) ** 2)
                b[:, 5:] += math.log(0.6 / (num_classes - 0.99))
            size = IMAGE_SIZE // stride
            ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
            grid = torch.stack((xs, ys), 2).view(1, 1, size, size, 2).float()
            anchor = torch.tensor(self.ANCHORS[i], dtype=torch.float32).view(1, self.num_anchors, 1, 1, 2)
            self.register_buffer(f"grid{i}", grid, persistent=False)
            self.register_buffer(f"anchor_grid{i}", anchor.expand(1, self.num_anchors, size, size, 2).clone(),
                                 persistent=False)

    def forward(self, features):
        out = []
        for i, (x, stride) in enumerate(zip(features, STRIDES)):
            x = self.m[i](x)
            batch, _, ny, nx = x.shape
            x = x.view(batch, self.num_anchors, self.num_outputs, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            y = x.sigmoid()
            xy, wh, conf = y.split((2, 2, self.num_outputs - 4), 4)
            xy = (xy * 2 - 0.5 + getattr(self, f"grid{i}")) * stride
            wh = (wh * 2) ** 2 * getattr(self, f"anchor_grid{i}")
            out.append(torch.cat((xy, wh, conf), 4).view(batch, -1, self.num_outputs))
        return torch.cat(out, 1)


class DFL(nn.Module):
    """Distribution focal loss decode: softmax over `bins` distances, expectation via a fixed 1x1 conv."""

    def __init__(self, bins=16):
        super().__init__()
        self.bins = bins
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(bins, dtype=torch.float32).view(1, bins, 1, 1)

    def forward(self, x):
        batch, _, anchors = x.shape
        x = x.view(batch, 4, self.bins, anchors).transpose(2, 1).softmax(1)
        return self.conv(x).view(batch, 4, anchors)


class V8Detect(nn.Module):
    """Anchor-free decoupled head: box branch (4 x 16 DFL bins) and class branch per level, decoded in the graph."""

    def __init__(self, channels, num_classes=NUM_CLASSES, bins=16):
        super().__init__()
        self.num_classes = num_classes
        self.bins = bins
        self.num_outputs = num_classes + 4 * bins
        c_box = max(16, channels[0] // 4, 4 * bins)
        c_cls = max(channels[0], min(num_classes, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(c, c_box, 3), Conv(c_box, c_box, 3), nn.Conv2d(c_box, 4 * bins, 1)) for c in channels)
        self.cv3 = nn.ModuleList(
            nn.Sequential(Conv(c, c_cls, 3), Conv(c_cls, c_cls, 3), nn.Conv2d(c_cls, num_classes, 1))
            for c in channels)
        self.dfl = DFL(bins)
        for box, cls, stride in zip(self.cv2, self.cv3, STRIDES):
            with torch.no_grad():
                box[-1].bias.fill_(1.0)
                cls[-1].bias.fill_(math.log(5 / num_classes / (IMAGE_SIZE / stride) ** 2))
        points, strides = [], []
        for stride in STRIDES:
            size = IMAGE_SIZE // stride
            ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
            points.append(torch.stack((xs, ys), -1).view(-1, 2))
            strides.append(torch.full((size * size, 1), float(stride)))
        self.register_buffer("anchors", torch.cat(points).transpose(0, 1).unsqueeze(0).float(), persistent=False)
        self.register_buffer("strides", torch.cat(strides).transpose(0, 1).unsqueeze(0), persistent=False)

    def forward(self, features):
        batch = features[0].shape[0]
        levels = [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(features)]
        x = torch.cat([lv.view(batch, self.num_outputs, -1) for lv in levels], 2)
        box, cls = x.split((4 * self.bins, self.num_classes), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        x1y1 = self.anchors - lt
        x2y2 = self.anchors + rb
        boxes = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.strides
        return torch.cat((boxes, cls.sigmoid()), 1)


class YoloV5Style(nn.Module):
    """YOLOv5 (v6.0 layout) backbone, PAN neck and anchor head; width 0.50 / depth 0.33 make the 's' size."""

    def __init__(self, width=0.50, depth=0.33, num_classes=NUM_CLASSES):
        super().__init__()
        w = lambda c: _round_width(c, width)  # noqa: E731
        d = lambda n: _round_depth(n, depth)  # noqa: E731
        self.b0 = Conv(3, w(64), 6, 2, 2)
        self.b1 = Conv(w(64), w(128), 3, 2)
        self.b2 = C3(w(128), w(128), d(3))
        self.b3 = Conv(w(128), w(256), 3, 2)
        self.b4 = C3(w(256), w(256), d(6))
        self.b5 = Conv(w(256), w(512), 3, 2)
        self.b6 = C3(w(512), w(512), d(9))
        self.b7 = Conv(w(512), w(1024), 3, 2)
        self.b8 = C3(w(1024), w(1024), d(3))
        self.b9 = SPPF(w(1024), w(1024))
        self.h10 = Conv(w(1024), w(512), 1)
        self.up = _upsample()
        self.h13 = C3(w(1024), w(512), d(3), shortcut=False)
        self.h14 = Conv(w(512), w(256), 1)
        self.h17 = C3(w(512), w(256), d(3), shortcut=False)
        self.h18 = Conv(w(256), w(256), 3, 2)
        self.h20 = C3(w(512), w(512), d(3), shortcut=False)
        self.h21 = Conv(w(512), w(512), 3, 2)
        self.h23 = C3(w(1024), w(1024), d(3), shortcut=False)
        self.detect = V5Detect((w(256), w(512), w(1024)), num_classes)

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        t10 = self.h10(p5)
        t14 = self.h14(self.h13(torch.cat((self.up(t10), p4), 1)))
        out3 = self.h17(torch.cat((self.up(t14), p3), 1))
        out4 = self.h20(torch.cat((self.h18(out3), t14), 1))
        out5 = self.h23(torch.cat((self.h21(out4), t10), 1))
        return self.detect((out3, out4, out5))


class YoloV8Style(nn.Module):
    """YOLOv8 backbone, PAN neck and DFL head; width 0.25 / depth 0.33 make the 'n' size."""

    def __init__(self, width=0.25, depth=0.33, num_classes=NUM_CLASSES):
        super().__init__()
        w = lambda c: _round_width(c, width)  # noqa: E731
        d = lambda n: _round_depth(n, depth)  # noqa: E731
        self.b0 = Conv(3, w(64), 3, 2)
        self.b1 = Conv(w(64), w(128), 3, 2)
        self.b2 = C2f(w(128), w(128), d(3), shortcut=True)
        self.b3 = Conv(w(128), w(256), 3, 2)
        self.b4 = C2f(w(256), w(256), d(6), shortcut=True)
        self.b5 = Conv(w(256), w(512), 3, 2)
        self.b6 = C2f(w(512), w(512), d(6), shortcut=True)
        self.b7 = Conv(w(512), w(1024), 3, 2)
        self.b8 = C2f(w(1024), w(1024), d(3), shortcut=True)
        self.b9 = SPPF(w(1024), w(1024))
        self.up = _upsample()
        self.h12 = C2f(w(1024) + w(512), w(512), d(3))
        self.h15 = C2f(w(512) + w(256), w(256), d(3))
        self.h16 = Conv(w(256), w(256), 3, 2)
        self.h18 = C2f(w(256) + w(512), w(512), d(3))
        self.h19 = Conv(w(512), w(512), 3, 2)
        self.h21 = C2f(w(512) + w(1024), w(1024), d(3))
        self.detect = V8Detect((w(256), w(512), w(1024)), num_classes)

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        t12 = self.h12(torch.cat((self.up(p5), p4), 1))
        out3 = self.h15(torch.cat((self.up(t12), p3), 1))
        out4 = self.h18(torch.cat((self.h16(out3), t12), 1))
        out5 = self.h21(torch.cat((self.h19(out4), p5), 1))
        return self.detect((out3, out4, out5))


def yolov5s_style():
    return YoloV5Style(width=0.50, depth=0.33)


def yolov8n_style():
    return YoloV8Style(width=0.25, depth=0.33)
