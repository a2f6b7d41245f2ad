// `vsr_flow export CKPT --to FILE.onnx`: the ONNX graph is traced from vsr_flow's Python model
// (python/vsr_flow, the same state-dict names and numerics as runtime/model/model.h, checked
// against it by tests/e2e/python_model_test.cpp) with torch.onnx, so every op of the model is
// lowered by PyTorch's own exporter and nothing here has to follow the model when it changes.
// It runs `$VSR_FLOW_PYTHON` (default python3), which must have torch (and, for torch 2.x, the
// onnx package), with the package's folder put first on PYTHONPATH.
#pragma once

#include <string>

namespace vsr {

// The folder holding the vsr_flow Python package: <binary>/../share/vsr_flow/python where
// installed, else the source tree's python/ (the build tree's binary). "" when neither exists.
std::string python_package_dir();

// Writes `out` (.onnx) from the checkpoint `checkpoint` with the EMA or model `weights`; the
// Python exporter prints what it wrote. Throws RunError when Python cannot be started or the
// export fails (its own message is on stderr by then).
void export_onnx(const std::string& checkpoint, const std::string& out, const std::string& weights,
                 int frames);

}  // namespace vsr
