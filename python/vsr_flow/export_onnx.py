"""ONNX export of a vsr_flow model, from this package's VSRNet with torch.onnx:

    python -m vsr_flow.export_onnx CHECKPOINT OUT.onnx [--weights ema|model] [--frames T]
                                   [--opset 17]

(`vsr_flow export CHECKPOINT --to OUT.onnx` runs this.) The graph has one input `input`
[1, T*3, H, W] float32 in [0, 1], the T frames' RGB planes in frame order (how vs-mlrt passes a
clip's neighbours), and one output `output` [1, 3, H*scale, W*scale]; H and W are dynamic. Opset
17: GridSample (16), cubic Resize, DepthToSpace.
"""

import argparse
import os
import sys
import tempfile
import warnings

import torch

from .weights import load

OPSET = 17


class _Planes(torch.nn.Module):
    """[1, T*3, H, W] planes -> VSRNet's [1, T, 3, H, W] frames."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        t = self.net.frames
        return self.net(x.reshape(x.shape[0], t, 3, x.shape[2], x.shape[3]))


def export(net, out_path, opset=OPSET, sample_size=(36, 44)):
    """Writes `net` (a VSRNet) as ONNX to out_path, atomically (a temporary name, then rename)."""
    wrapper = _Planes(net.eval())
    example = torch.rand(1, net.frames * 3, *sample_size)
    folder = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(out_path) + ".", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; a plain file as open() would
    try:
        kwargs = {}
        if "dynamo" in torch.onnx.export.__code__.co_varnames:
            kwargs["dynamo"] = False  # the TorchScript exporter: no onnxscript needed
        with warnings.catch_warnings(), torch.no_grad():
            # The tracer warns about shape arithmetic it records anyway (H and W are traced).
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (example,), tmp, input_names=["input"],
                              output_names=["output"], opset_version=opset,
                              dynamic_axes={"input": {2: "height", 3: "width"},
                                            "output": {2: "out_height", 3: "out_width"}},
                              do_constant_folding=True, **kwargs)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m vsr_flow.export_onnx", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--weights", choices=("ema", "model"), default="ema")
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--opset", type=int, default=OPSET)
    a = p.parse_args(argv)
    if a.opset < 16:
        p.error(f"--opset: expected 16 or later (GridSample), found {a.opset}")
    try:
        net = load(a.checkpoint, weights=a.weights, frames=a.frames)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"export_onnx: {a.checkpoint}: {e}", file=sys.stderr)
        return 1
    try:
        export(net, a.out, opset=a.opset)
    except Exception as e:  # torch.onnx's errors have no common base
        if "onnx is not installed" in str(e) or isinstance(e, ImportError):
            print(f"export_onnx: torch {torch.__version__}'s exporter needs the onnx package "
                  f"({e}): pip install onnx into {sys.executable}", file=sys.stderr)
            return 1
        raise
    print(f"export_onnx: {a.out} (x{net.scale}, {net.frames} frames, input [1, {net.frames * 3}, "
          f"H, W], opset {a.opset}, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
