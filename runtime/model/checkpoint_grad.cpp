#include "runtime/model/checkpoint_grad.h"

#include <torch/torch.h>

#include <utility>

#include "runtime/model/device.h"

namespace vsr {
namespace {

// Carries the block and the forward-time autocast state through ctx->saved_data, which
// holds IValues only.
struct BlockCapsule : torch::CustomClassHolder {
  BlockCapsule(BlockFn b, const AutocastState& a) : block(std::move(b)), autocast(a) {}
  BlockFn block;
  AutocastState autocast;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const BlockFn& block) {
    auto capsule = c10::make_intrusive<BlockCapsule>(block, current_autocast_state());
    ctx->saved_data["block"] = c10::IValue::make_capsule(std::move(capsule));
    ctx->save_for_backward({x});
    torch::NoGradGuard no_grad;
    return block(x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto capsule =
        c10::static_intrusive_pointer_cast<BlockCapsule>(ctx->saved_data["block"].toCapsule());
    torch::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    torch::Tensor out;
    {
      torch::AutoGradMode grad_mode(true);
      ScopedAutocastState autocast(capsule->autocast);
      out = capsule->block(x);
    }
    torch::autograd::backward({out}, {grad_outputs[0]});
    return {x.grad(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpoint(const BlockFn& block, const torch::Tensor& x, bool params_need_grad) {
  if (!torch::GradMode::is_enabled()) return block(x);
  if (!x.requires_grad()) {
    if (!params_need_grad) return block(x);
    return CheckpointFunction::apply(x.detach().requires_grad_(true), block);
  }
  return CheckpointFunction::apply(x, block);
}

}  // namespace vsr
