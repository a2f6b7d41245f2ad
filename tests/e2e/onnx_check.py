"""Runs an ONNX model that `vsr_flow export --to X.onnx` wrote with onnxruntime (the test venv
.venv-test) on the inputs of a .safetensors file (input_0, input_1, ...) and prints, as JSON,
the graph's inputs and outputs, its opset and the largest difference from output_0, ...

    python onnx_check.py MODEL.onnx IO.safetensors
"""

import json
import sys

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file


def varint(buf, i):
    v, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def fields(buf):
    """(field number, wire type, value) of one protobuf message's top level."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield num, wire, v


def opsets(path):
    """ModelProto.opset_import (field 8): OperatorSetIdProto {domain = 1, version = 2}."""
    out = {}
    for num, _, v in fields(open(path, "rb").read()):
        if num == 8:
            d = {n: x for n, _, x in fields(v)}
            out[d.get(1, b"").decode() or "ai.onnx"] = d.get(2, 0)
    return out


model, io_path = sys.argv[1], sys.argv[2]
io = load_file(io_path)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
result = {
    "inputs": [{"name": i.name, "shape": i.shape} for i in session.get_inputs()],
    "outputs": [{"name": o.name, "shape": o.shape} for o in session.get_outputs()],
    "opset": opsets(model),
    "onnxruntime": ort.__version__,
    "runs": [],
}
k = 0
while f"input_{k}" in io:
    out = session.run(["output"], {"input": io[f"input_{k}"]})[0]
    want = io[f"output_{k}"]
    result["runs"].append({"input_shape": list(io[f"input_{k}"].shape), "shape": list(out.shape),
                           "max_abs_diff": float(np.abs(out - want).max())
                           if out.shape == want.shape else None})
    k += 1
print(json.dumps(result))
