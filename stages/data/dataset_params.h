// The params that name a dataset in the spec's layout, shared by the stages that read one
// (sample for training, scan for whole-dataset jobs), declared and checked in one place.
#pragma once

#include "graph/schema.h"

namespace vsr {

// data_root, category, lr_version, scale and formats (shared), with the check that every
// format's size divides by the scale.
StageSchema& dataset_params(StageSchema& s);
// The check of the world a training source needs: data_root exists and every listed format
// has its GT and LR folders there. (scan, for check-data, reports a missing dataset in its own
// problem list instead.)
StageSchema& dataset_folders_check(StageSchema& s);

// formats: the listed patch formats (shared), each a known name; required and non-empty, or
// optional with [] as its default.
StageSchema& formats_param(StageSchema& s, const std::string& doc, bool required = true);
// The check that every listed format's GT size divides by the scale (needs formats and scale).
StageSchema& scaled_formats_check(StageSchema& s);

}  // namespace vsr
