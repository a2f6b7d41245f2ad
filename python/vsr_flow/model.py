"""VSRNet in Python: the same state-dict names and numerics as vsr_flow's C++ model
(runtime/model/model.h), so a vsr_flow checkpoint runs here unchanged.

    lr [B, T, 3, h, w] float in [0, 1], T odd, centre c = T // 2  ->  sr [B, 3, h*scale, w*scale]

Written to export to ONNX as well (vsr_flow.onnx): shapes are read from tensors, never used in
Python control flow, so H and W stay dynamic in a trace.
"""

import torch
import torch.nn.functional as F
from torch import nn

# Levels of the flow pyramid; frames are replicate-padded to a multiple of 2**(FLOW_LEVELS - 1)
# for the flow estimator and the flow cropped back (runtime/model/model.h: kFlowLevels).
FLOW_LEVELS = 3
SLOPE = 0.1  # LeakyReLU negative slope everywhere


def _lrelu(x):
    return F.leaky_relu(x, SLOPE)


def _conv(cin, cout, kernel):
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2)


def _zero_(conv):
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()


class ResidualBlock(nn.Module):
    """x + conv2(lrelu(conv1(x))); the convs start at a tenth of their default init."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.conv2 = _conv(channels, channels, 3)
        with torch.no_grad():
            for c in (self.conv1, self.conv2):
                c.weight.mul_(0.1)
                c.bias.zero_()

    def forward(self, x):
        return x + self.conv2(_lrelu(self.conv1(x)))


def _group(channels, num_blocks):
    return nn.Sequential(*[ResidualBlock(channels) for _ in range(num_blocks)])


class FlowLevel(nn.Module):
    """SPyNet's basic module: centre, warped neighbour and flow (8 channels) -> flow update."""

    def __init__(self):
        super().__init__()
        self.conv1 = _conv(8, 32, 5)
        self.conv2 = _conv(32, 32, 5)
        self.conv3 = _conv(32, 16, 5)
        self.conv4 = _conv(16, 2, 5)
        _zero_(self.conv4)

    def forward(self, x):
        return self.conv4(F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))))


def flow_warp(x, flow):
    """Samples x [N, C, h, w] at p + flow(p), flow [N, 2, h, w] in pixels (x then y), bilinear,
    border padding."""
    h, w = x.shape[2], x.shape[3]
    gx = torch.arange(w, dtype=torch.float32, device=x.device).view(1, 1, -1) + flow[:, 0]
    gy = torch.arange(h, dtype=torch.float32, device=x.device).view(1, -1, 1) + flow[:, 1]
    # Pixel centres to grid_sample's [-1, 1] with align_corners=False: (2p + 1) / size - 1. The
    # C++ model maps NaN to 0 and clamps to [-2, 2] (LibTorch's CPU grid_sample backward crashes
    # on non-finite grids); for finite grids that changes nothing, border padding samples the
    # edge beyond |1| either way.
    grid = torch.stack(((2.0 * gx + 1.0) / w - 1.0, (2.0 * gy + 1.0) / h - 1.0), dim=3)
    grid = torch.clamp(grid, -2.0, 2.0)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class FlowEstimator(nn.Module):
    """SPyNet-like coarse-to-fine flow from ref to supp (both [N, 3, h, w] in [0, 1]): flow [N, 2,
    h, w] such that flow_warp(supp, flow) is aligned with ref."""

    def __init__(self):
        super().__init__()
        self.level = nn.ModuleList([FlowLevel() for _ in range(FLOW_LEVELS)])

    def forward(self, ref, supp):
        h, w = ref.shape[2], ref.shape[3]
        m = 2 ** (FLOW_LEVELS - 1)
        pad_h = (m - h % m) % m
        pad_w = (m - w % m) % m

        def prepare(x):
            # A zero pad leaves x as it is, so this runs unconditionally (trace-friendly).
            return F.pad(x * 2.0 - 1.0, (0, pad_w, 0, pad_h), mode="replicate")

        refs, supps = [prepare(ref)], [prepare(supp)]
        for _ in range(1, FLOW_LEVELS):
            refs.append(F.avg_pool2d(refs[-1], 2))
            supps.append(F.avg_pool2d(supps[-1], 2))
        coarsest = refs[-1]
        flow = torch.zeros_like(coarsest[:, :2])
        for lvl in range(FLOW_LEVELS - 1, -1, -1):
            if lvl < FLOW_LEVELS - 1:
                size = (refs[lvl].shape[2], refs[lvl].shape[3])
                flow = F.interpolate(flow, size=size, mode="bilinear", align_corners=False) * 2.0
            update = self.level[lvl](torch.cat((refs[lvl], flow_warp(supps[lvl], flow), flow), 1))
            flow = flow + update
        return flow[:, :, :h, :w]


class _Named(nn.Module):
    """An empty module that only names its children (feat.*, backward.*, ...)."""


class VSRNet(nn.Module):
    """vsr_flow's centre-anchored bidirectional recurrent VSR network (DESIGN.md "The model")."""

    def __init__(self, base_channels=64, num_blocks=10, scale=3, frames=7):
        super().__init__()
        if base_channels < 1:
            raise ValueError(f"base_channels: expected >= 1, found {base_channels}")
        if num_blocks < 0:
            raise ValueError(f"num_blocks: expected >= 0, found {num_blocks}")
        if scale not in (2, 3, 4):
            raise ValueError(f"scale: expected 2, 3 or 4, found {scale}")
        if frames < 3 or frames % 2 == 0:
            raise ValueError(f"frames: expected an odd number >= 3 (5 or 7), found {frames}")
        c, n = base_channels, num_blocks
        self.base_channels, self.num_blocks, self.scale, self.frames = c, n, scale, frames
        self.feat = _Named()
        self.feat.conv = _conv(3, c, 3)
        self.feat.blocks = _group(c, n)
        self.flow = FlowEstimator()
        self.backward = _Named()
        self.backward.fuse = _conv(2 * c, c, 3)
        self.backward.blocks = _group(c, n)
        fwd = _Named()
        fwd.fuse = _conv(2 * c, c, 3)
        fwd.blocks = _group(c, n)
        # "forward" is the branch's state-dict name (forward.fuse.weight, ...) and also the
        # method's: add_module refuses a name that is an attribute, so the branch goes into
        # _modules directly, where state_dict, parameters() and .to() find it, while
        # self.forward stays the method. The code reaches the branch as self._modules["forward"].
        self._modules["forward"] = fwd
        self.recon = _Named()
        self.recon.fuse = _conv(3 * c, c, 3)
        self.recon.blocks = _group(c, n)
        self.upsample = _Named()
        self.upsample.conv = _conv(c, c * scale * scale, 3)
        self.upsample.last = _conv(c, 3, 3)
        _zero_(self.upsample.last)

    @property
    def arch(self):
        return {"base_channels": self.base_channels, "num_blocks": self.num_blocks,
                "scale": self.scale, "frames": self.frames}

    def forward(self, lr):
        """lr [B, T, 3, h, w] with T == frames -> sr [B, 3, h*scale, w*scale]."""
        if lr.dim() != 5 or lr.shape[1] != self.frames or lr.shape[2] != 3:
            raise ValueError(f"VSRNet: expected lr [B,{self.frames},3,h,w], found "
                             f"{list(lr.shape)}")
        branches = self._modules
        b, t, h, w = lr.shape[0], self.frames, lr.shape[3], lr.shape[4]
        c, ch, s = t // 2, self.base_channels, self.scale
        lr = lr.float()
        feat = self.feat.blocks(_lrelu(self.feat.conv(lr.reshape(-1, 3, h, w))))
        feat = feat.view(b, t, ch, h, w)
        nb = [i for i in range(t) if i != c]
        n = t - 1
        centre = lr[:, c]
        ref = centre.unsqueeze(1).expand(b, n, 3, h, w).reshape(-1, 3, h, w)
        supp = lr[:, nb].reshape(-1, 3, h, w)
        flow = self.flow(ref, supp)
        aligned = flow_warp(feat[:, nb].reshape(-1, ch, h, w), flow).view(b, n, ch, h, w)

        def aligned_at(frame):
            return aligned[:, frame if frame < c else frame - 1]

        def propagate(branch, hidden, a):
            return branch.blocks(_lrelu(branch.fuse(torch.cat((hidden, a), 1))))

        feat_c = feat[:, c]
        h_back = feat_c
        for i in range(c + 1, t):
            h_back = propagate(branches["backward"], h_back, aligned_at(i))
        h_fwd = feat_c
        for i in range(c - 1, -1, -1):
            h_fwd = propagate(branches["forward"], h_fwd, aligned_at(i))
        x = self.recon.blocks(_lrelu(self.recon.fuse(torch.cat((feat_c, h_back, h_fwd), 1))))
        residual = self.upsample.last(_lrelu(F.pixel_shuffle(self.upsample.conv(x), s)))
        base = F.interpolate(centre, size=(h * s, w * s), mode="bicubic", align_corners=False)
        return base + residual
