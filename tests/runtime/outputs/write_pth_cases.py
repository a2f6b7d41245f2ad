"""Writes the .pth files that tests/runtime/outputs/pth_reader_test.cpp reads, with the Python
torch that runs it, into the folder given:

    /usr/bin/python3 tests/runtime/outputs/write_pth_cases.py OUT        # Debian's torch 1.13
    .venv-torch/bin/python tests/runtime/outputs/write_pth_cases.py OUT  # torch 2.15

The test compares the tensors with the same formulas (expected_weights there). The files of
torch 2.15 are also checked in (tests/runtime/outputs/pth_cases_torch2), for a build without
that venv; regenerate them with the second command.
"""

import collections
import datetime
import os
import sys
import zipfile

import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3)


def weights(shift):
    net = Net()
    with torch.no_grad():
        net.conv.weight.copy_(torch.arange(54.0).reshape(2, 3, 3, 3) * 0.125 - 3 + shift)
        net.conv.bias.copy_(torch.tensor([0.5, -0.25]) + shift)
    sd = net.state_dict()  # an OrderedDict with a _metadata attribute
    # A strided view (stride 1, 3) and a view at an offset into a larger storage.
    sd["extra.t"] = torch.arange(6.0).reshape(2, 3).t() + shift
    sd["extra.off"] = (torch.arange(10.0) + shift)[2:5]
    return net, sd


def main(out):
    os.makedirs(out, exist_ok=True)
    net, sd = weights(0)
    _, ema = weights(1)

    def save(obj, name, **kw):
        torch.save(obj, os.path.join(out, name), **kw)

    save(sd, "plain.pth")
    save({"params": sd}, "params.pth")
    save({"params_ema": ema, "params": sd}, "params_ema.pth")
    save({"state_dict": sd, "epoch": 3, "optimizer": {"lr": 0.1}}, "state_dict.pth")
    save({"model": sd, "iteration": 5}, "model.pth")
    save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), "module.pth")
    save({k: v.half() for k, v in sd.items()}, "fp16.pth")
    save({"params": {k: v.bfloat16() for k, v in sd.items()}}, "bf16.pth")
    save({k: v.double() for k, v in sd.items()}, "fp64.pth")
    save(collections.OrderedDict(net.named_parameters()), "parameters.pth")
    # vsr_flow's checkpoint layout, with OrderedDicts as Python's state_dict() gives them.
    ckpt = {"format_version": 1, "step": 9, "config": "py", "arch": {"base_channels": 2},
            "model": sd, "ema": ema,
            "optimizer": {"type": "adam", "lr": 1e-3, "param_names": ["conv.weight"],
                          "state": {}}, "loss_scale": 1.0}
    save(ckpt, "checkpoint.pth")
    save(dict(ckpt, ema={}), "checkpoint_no_ema.pth")
    # Files that must be refused with a clear error.
    save({"w": sd["conv.bias"], "when": datetime.date(2020, 1, 2)}, "forbidden_global.pth")
    save(sd, "legacy.pth", _use_new_zipfile_serialization=False)
    # What LibTorch's torch::pickle_save writes (torch 2.x exposes it to Python), one file per
    # kind of value: typed lists come wrapped in torch.jit._pickle globals.
    if hasattr(torch._C, "_pickle_save"):
        libtorch = {"dict": {"w": torch.ones(2, 3).t(), "b": torch.zeros(2)}, "strs": ["x", "y"],
                    "ints": [1, 2], "floats": [1.0, 2.5], "bools": [True, False],
                    "tensors": [torch.zeros(1), torch.ones(2)], "tuple": (1, "a"),
                    "nested": {"a": {"b": 1}}}
        for name, value in libtorch.items():
            with open(os.path.join(out, "libtorch_" + name + ".pth"), "wb") as f:
                f.write(bytes(torch._C._pickle_save(value)))
    with zipfile.ZipFile(os.path.join(out, "plain.pth")) as src, zipfile.ZipFile(
            os.path.join(out, "deflated.pth"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))


if __name__ == "__main__":
    main(sys.argv[1])
