// Param declarations that several stage types share, each with its checks, declared once:
// the scale, the frame count, the device and threads. They are shared(): a compiled spec
// gives each once, in its "shared" values.
#pragma once

#include <string>

#include "graph/schema.h"

namespace vsr {

// scale: 2..4, default 3.
StageSchema& scale_param(StageSchema& s, const std::string& doc = "GT size / LR frame size");
// frames: LR frames per sample, odd (the centre frame is the reference), default 7.
StageSchema& frames_param(StageSchema& s, const std::string& doc = "LR frames per sample (odd)");
// device: auto, cpu, cuda or cuda:N, checked against this build and machine.
StageSchema& device_param(StageSchema& s);
// device_param and threads (LibTorch intra-op threads, 0 = all cores).
StageSchema& device_params(StageSchema& s);

}  // namespace vsr
