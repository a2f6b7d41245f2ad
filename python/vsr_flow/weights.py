"""Building a VSRNet from what vsr_flow writes: a training checkpoint (checkpoint_step_*.pth,
best.pth), `vsr_flow export --to X.pth` (BasicSR's {"params_ema", "params"}) or
`--to X.safetensors` (the state dict, the architecture in its metadata)."""

import json
import os

import torch

from .model import VSRNet


def torch_load(path):
    # vsr_flow's .pth files hold plain dicts, lists, numbers, strings and tensors only, which
    # torch.load(weights_only=True) (torch 2.6's default) reads; torch 1.x's restricted
    # unpickler lacks opcodes those files use (BINFLOAT), so there it is the plain loader.
    major = int(torch.__version__.split(".")[0])
    if major >= 2:
        return torch.load(path, map_location="cpu", weights_only=True)
    return torch.load(path, map_location="cpu")


def infer_arch(state_dict):
    """base_channels, num_blocks and scale from the tensors' names and shapes (frames is not in
    the weights: None)."""
    try:
        c = state_dict["feat.conv.weight"].shape[0]
        up = state_dict["upsample.conv.weight"].shape[0]
    except KeyError as e:
        raise ValueError(f"not a vsr_flow VSRNet state dict: no {e.args[0]}; keys start with "
                         f"{sorted(state_dict)[:5]}") from None
    blocks = {k.split(".")[2] for k in state_dict if k.startswith("feat.blocks.")}
    scale = round((up / c) ** 0.5)
    return {"base_channels": c, "num_blocks": len(blocks), "scale": scale, "frames": None}


def read_weights(path, weights="ema"):
    """(state dict, arch) of a vsr_flow checkpoint or export. weights: "ema" (the EMA weights
    where the file has them, else the model's, as vsr_flow upscale does) or "model"."""
    if weights not in ("ema", "model"):
        raise ValueError(f"weights: expected 'ema' or 'model', found {weights!r}")
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        from safetensors import safe_open  # only needed for this format

        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            sd = {k: f.get_tensor(k) for k in f.keys()}
        arch = json.loads(meta["arch"]) if "arch" in meta else infer_arch(sd)
        return sd, arch
    data = torch_load(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict, found {type(data).__name__}")
    if "model" in data and "arch" in data:  # a vsr_flow training checkpoint
        ema = data.get("ema") or {}
        sd = ema if weights == "ema" and ema else data["model"]
        arch = {k: int(v) for k, v in data["arch"].items()}
        return dict(sd), arch
    for key in (("params_ema", "params") if weights == "ema" else ("params", "params_ema")):
        if key in data:  # vsr_flow export --to X.pth, BasicSR's layout
            return dict(data[key]), infer_arch(data[key])
    if all(isinstance(v, torch.Tensor) for v in data.values()):
        return dict(data), infer_arch(data)
    raise ValueError(f"{path}: not a vsr_flow checkpoint or export; top-level keys "
                     f"{sorted(data)[:8]}")


def load(path, weights="ema", frames=None, device="cpu"):
    """A VSRNet in eval mode with the weights of `path` (see read_weights). `frames` is taken
    from the file's arch where it has one (checkpoints, .safetensors); exported .pth files do not
    record it, so pass it there (default 7)."""
    sd, arch = read_weights(path, weights)
    t = arch.get("frames") or frames or 7
    if frames is not None and frames != t:
        raise ValueError(f"{path}: trained on {t} frames, frames={frames} asked for")
    net = VSRNet(arch["base_channels"], arch["num_blocks"], arch["scale"], t)
    net.load_state_dict({k: v.float() for k, v in sd.items()})
    return net.eval().to(device)
