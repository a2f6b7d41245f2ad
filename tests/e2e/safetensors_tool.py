"""The safetensors package on our files, for tests/e2e/export_test.cpp.

    python safetensors_tool.py read FILE       # JSON: metadata and every tensor (dtype, shape, values)
    python safetensors_tool.py write FILE      # a state dict as a DDP run would save it, float16
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

if sys.argv[1] == "read":
    with safe_open(sys.argv[2], "np") as f:
        out = {"metadata": f.metadata(), "tensors": {}}
        for name in f.keys():
            t = f.get_tensor(name)
            out["tensors"][name] = {"dtype": str(t.dtype), "shape": list(t.shape),
                                    "values": [float(v) for v in t.reshape(-1)]}
    print(json.dumps(out))
else:
    save_file({"module.conv.weight": np.arange(6, dtype=np.float16).reshape(2, 3) / 4,
               "module.conv.bias": np.array([-1.5, 2.25], dtype=np.float16)},
              sys.argv[2], metadata={"format": "pt"})
