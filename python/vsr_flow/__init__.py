"""vsr_flow's model in Python: run the weights of a vsr_flow run with nothing but torch.

    import vsr_flow
    net = vsr_flow.load("experiments/demo/checkpoints/checkpoint_step_000500.pth")  # EMA weights
    sr = net(lr)  # lr [B, frames, 3, h, w] in [0, 1] -> [B, 3, h*scale, w*scale]

See README.md "Using a trained model" for chaiNNer, VapourSynth (vs-mlrt) and ONNX Runtime.
"""

from .model import VSRNet, FlowEstimator, flow_warp
from .weights import load, read_weights, infer_arch, torch_load

__all__ = ["VSRNet", "FlowEstimator", "flow_warp", "load", "read_weights", "infer_arch", "torch_load"]
