"""Runs vsr_flow's Python model (python/vsr_flow) on what tests/e2e/python_model_test.cpp
wrote and prints, as JSON, the largest difference from the C++ model's outputs.

    python python_model_check.py CASE_DIR...

Each CASE_DIR holds ckpt.pth (a vsr_flow checkpoint), io.pth ({"io": {"input", "ema_output",
"model_output"}} from LibTorch) and, optionally, export.pth (`vsr_flow export --to X.pth`).
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import vsr_flow  # noqa: E402

torch.set_num_threads(2)
result = {"torch": torch.__version__, "cases": {}}
for case in sys.argv[1:]:
    io = vsr_flow.torch_load(os.path.join(case, "io.pth"))["io"]
    seen = {}
    with torch.no_grad():
        for weights in ("ema", "model"):
            net = vsr_flow.load(os.path.join(case, "ckpt.pth"), weights=weights)
            out = net(io["input"])
            seen[weights] = float((out - io[weights + "_output"]).abs().max())
            seen["arch"] = net.arch
        export = os.path.join(case, "export.pth")
        if os.path.exists(export):
            net = vsr_flow.load(export, frames=io["input"].shape[1])
            seen["export_pth"] = float((net(io["input"]) - io["ema_output"]).abs().max())
    # The C++ names, in the C++ order, are the Python module's.
    ckpt = vsr_flow.torch_load(os.path.join(case, "ckpt.pth"))
    seen["same_names_in_order"] = list(ckpt["model"]) == list(net.state_dict())
    seen["output_shape"] = list(out.shape)
    result["cases"][os.path.basename(case)] = seen
print(json.dumps(result))
