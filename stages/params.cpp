#include "stages/params.h"

#include "runtime/model/device.h"

namespace vsr {

StageSchema& scale_param(StageSchema& s, const std::string& doc) {
  return s.optional("scale", ParamType::kInt, 3, doc).range(2, 4).shared();
}

StageSchema& frames_param(StageSchema& s, const std::string& doc) {
  return s.optional("frames", ParamType::kInt, 7, doc)
      .range(3, 31)
      .shared()
      .check("frames is odd", [](const json& p, ParamProblems& out) {
        const int frames = p.at("frames").get<int>();
        if (frames % 2 == 0) {
          out.add("frames", "frames must be odd (the centre frame is the reference), found " +
                                std::to_string(frames));
        }
      });
}

namespace {

// Adds to `out` the problem of device `name` on this build and machine, if any.
void check_device(const std::string& name, const std::string& param, ParamProblems& out) {
  try {
    pick_device(name);
  } catch (const std::exception& e) {
    out.add(param, e.what());
  }
}

}  // namespace

StageSchema& device_param(StageSchema& s) {
  return s.optional("device", ParamType::kString, "auto", "auto, cpu, cuda or cuda:N")
      .shared()
      .world_check("the device exists on this build and machine",
                   [](const json& p, ParamProblems& out) {
                     check_device(p.at("device").get<std::string>(), "device", out);
                   });
}

StageSchema& device_params(StageSchema& s) {
  return device_param(s)
      .optional("threads", ParamType::kInt, 0, "LibTorch intra-op threads; 0 = all cores")
      .at_least(0)
      .shared();
}

}  // namespace vsr
