// Gradient checkpointing for LibTorch, which has none in C++: run a block without keeping
// its activations, and recompute them during backward.
#pragma once

#include <torch/types.h>

#include <functional>

namespace vsr {

// A block of layers as a callable: one tensor in, one tensor out. Capture the modules it
// uses by value or make sure they outlive the autograd graph.
using BlockFn = std::function<torch::Tensor(const torch::Tensor&)>;

// Returns block(x) with the same value and the same gradients as calling block directly,
// but keeps only x (not block's intermediate activations) for backward; backward re-runs
// block under the autocast state captured here. Gradients of block's parameters accumulate
// into their .grad during the outer backward (so use backward(), not autograd::grad(), to
// get them). Falls back to a plain call when grad mode is off, or when x needs no gradient
// unless `params_need_grad` says the block's parameters do (a block on the network's input:
// x then enters as a leaf that requires grad, so the recompute and the parameters' gradients
// happen; its own gradient is dropped).
//   h = checkpoint([this](const torch::Tensor& t) { return blocks_->forward(t); }, h);
torch::Tensor checkpoint(const BlockFn& block, const torch::Tensor& x,
                         bool params_need_grad = false);

}  // namespace vsr
