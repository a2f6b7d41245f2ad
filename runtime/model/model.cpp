#include "runtime/model/model.h"

#include <iostream>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "common/errors.h"
#include "runtime/model/checkpoint_grad.h"
#include "runtime/outputs/checkpoint.h"

namespace vsr {
namespace {

namespace F = torch::nn::functional;

constexpr double kSlope = 0.1;  // LeakyReLU negative slope everywhere

torch::Tensor lrelu(const torch::Tensor& x) { return torch::leaky_relu(x, kSlope); }

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, /*kernel_size=*/kernel).padding(kernel / 2));
}

void zero_init(torch::nn::Conv2d& c) {
  torch::NoGradGuard no_grad;
  c->weight.zero_();
  c->bias.zero_();
}

// An empty module that only names its children (feat.*, backward.*, ...).
std::shared_ptr<torch::nn::Module> named_group(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>(name));
}

}  // namespace

ResidualBlockImpl::ResidualBlockImpl(int64_t channels)
    : conv1_(register_module("conv1", conv(channels, channels, 3))),
      conv2_(register_module("conv2", conv(channels, channels, 3))) {
  torch::NoGradGuard no_grad;
  for (auto* c : {&conv1_, &conv2_}) {
    (*c)->weight.mul_(0.1);
    (*c)->bias.zero_();
  }
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  return x + conv2_(lrelu(conv1_(x)));
}

ResidualGroupImpl::ResidualGroupImpl(int64_t channels, int64_t num_blocks, bool checkpointed)
    : checkpointed_(checkpointed) {
  for (int64_t i = 0; i < num_blocks; ++i) {
    blocks_.push_back(register_module(std::to_string(i), ResidualBlock(channels)));
  }
}

torch::Tensor ResidualGroupImpl::run(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (auto& block : blocks_) h = block(h);
  return h;
}

torch::Tensor ResidualGroupImpl::forward(const torch::Tensor& x) {
  if (!checkpointed_ || blocks_.empty()) return run(x);
  // The capture keeps the group alive as long as the autograd graph that may re-run it.
  auto self = std::static_pointer_cast<ResidualGroupImpl>(shared_from_this());
  return checkpoint([self](const torch::Tensor& t) { return self->run(t); }, x);
}

FlowLevelImpl::FlowLevelImpl()
    : conv1_(register_module("conv1", conv(8, 32, 5))),
      conv2_(register_module("conv2", conv(32, 32, 5))),
      conv3_(register_module("conv3", conv(32, 16, 5))),
      conv4_(register_module("conv4", conv(16, 2, 5))) {
  zero_init(conv4_);
}

torch::Tensor FlowLevelImpl::forward(const torch::Tensor& x) {
  return conv4_(torch::relu(conv3_(torch::relu(conv2_(torch::relu(conv1_(x)))))));
}

FlowEstimatorImpl::FlowEstimatorImpl() {
  levels_ = register_module("level", torch::nn::ModuleList());
  for (int l = 0; l < kFlowLevels; ++l) levels_->push_back(FlowLevel());
}

torch::Tensor FlowEstimatorImpl::forward(const torch::Tensor& ref, const torch::Tensor& supp) {
  const int64_t h = ref.size(2), w = ref.size(3);
  const int64_t m = int64_t{1} << (kFlowLevels - 1);
  const int64_t pad_h = (m - h % m) % m, pad_w = (m - w % m) % m;
  auto prepare = [&](const torch::Tensor& x) {
    torch::Tensor y = x.to(torch::kFloat) * 2.0 - 1.0;
    if (pad_h || pad_w) {
      y = F::pad(y, F::PadFuncOptions({0, pad_w, 0, pad_h}).mode(torch::kReplicate));
    }
    return y;
  };
  std::vector<torch::Tensor> refs{prepare(ref)}, supps{prepare(supp)};
  for (int l = 1; l < kFlowLevels; ++l) {
    refs.push_back(F::avg_pool2d(refs.back(), F::AvgPool2dFuncOptions(2)));
    supps.push_back(F::avg_pool2d(supps.back(), F::AvgPool2dFuncOptions(2)));
  }
  const auto& coarsest = refs.back();
  torch::Tensor flow =
      torch::zeros({coarsest.size(0), 2, coarsest.size(2), coarsest.size(3)}, coarsest.options());
  for (int l = kFlowLevels - 1; l >= 0; --l) {
    if (l < kFlowLevels - 1) {
      flow = F::interpolate(flow, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{refs[l].size(2), refs[l].size(3)})
                                      .mode(torch::kBilinear)
                                      .align_corners(false)) *
             2.0;
    }
    auto update = levels_[l]->as<FlowLevel>()->forward(
        torch::cat({refs[l], flow_warp(supps[l], flow), flow}, 1));
    flow = flow + update.to(torch::kFloat);
  }
  if (pad_h || pad_w) {
    flow = flow.index({torch::indexing::Slice(), torch::indexing::Slice(),
                       torch::indexing::Slice(0, h), torch::indexing::Slice(0, w)});
  }
  return flow;
}

torch::Tensor flow_warp(const torch::Tensor& x, const torch::Tensor& flow) {
  const int64_t h = x.size(2), w = x.size(3);
  const auto opts = flow.options().dtype(torch::kFloat);
  torch::Tensor f = flow.to(torch::kFloat);
  // Pixel centres to grid_sample's [-1, 1] with align_corners=false: (2p + 1) / size - 1.
  torch::Tensor gx = torch::arange(w, opts).view({1, 1, w}) + f.select(1, 0);
  torch::Tensor gy = torch::arange(h, opts).view({1, h, 1}) + f.select(1, 1);
  // A non-finite flow (from a NaN or Inf in the input, or a diverging step) crashes LibTorch's
  // CPU grid_sample backward (pytorch/pytorch#24823): map NaN to the image centre and clamp the
  // rest just beyond the border, where border padding already samples the edge with a zero
  // gradient, so finite flows give exactly what they gave before. The loss stays non-finite and
  // the train step skips the step.
  torch::Tensor grid = torch::stack({(2.0 * gx + 1.0) / static_cast<double>(w) - 1.0,
                                     (2.0 * gy + 1.0) / static_cast<double>(h) - 1.0},
                                    /*dim=*/3)
                           .nan_to_num(/*nan=*/0.0, /*posinf=*/2.0, /*neginf=*/-2.0)
                           .clamp(-2.0, 2.0);
  torch::Tensor out = F::grid_sample(x.to(torch::kFloat), grid,
                                     F::GridSampleFuncOptions()
                                         .mode(torch::kBilinear)
                                         .padding_mode(torch::kBorder)
                                         .align_corners(false));
  return out.to(x.scalar_type());
}

VSRNetImpl::VSRNetImpl(const VSRNetOptions& options) : options_(options) {
  const int64_t c = options.base_channels();
  const int64_t n = options.num_blocks();
  const int64_t s = options.scale();
  const bool ckpt = options.use_checkpointing();
  if (c < 1) {
    throw ConfigError("model.base_channels: expected >= 1, found " + std::to_string(c));
  }
  if (n < 0) throw ConfigError("model.num_blocks: expected >= 0, found " + std::to_string(n));
  if (s < 2 || s > 4) throw ConfigError("scale: expected 2, 3 or 4, found " + std::to_string(s));
  if (options.frames() < 3 || options.frames() % 2 == 0) {
    throw ConfigError("frames: expected an odd number >= 3 (5 or 7), found " +
                      std::to_string(options.frames()));
  }

  auto feat = named_group(*this, "feat");
  feat_conv_ = feat->register_module("conv", conv(3, c, 3));
  feat_blocks_ = feat->register_module("blocks", ResidualGroup(c, n, ckpt));

  flow_ = register_module("flow", FlowEstimator());

  auto backward = named_group(*this, "backward");
  backward_fuse_ = backward->register_module("fuse", conv(2 * c, c, 3));
  backward_blocks_ = backward->register_module("blocks", ResidualGroup(c, n, ckpt));
  auto forward = named_group(*this, "forward");
  forward_fuse_ = forward->register_module("fuse", conv(2 * c, c, 3));
  forward_blocks_ = forward->register_module("blocks", ResidualGroup(c, n, ckpt));

  auto recon = named_group(*this, "recon");
  recon_fuse_ = recon->register_module("fuse", conv(3 * c, c, 3));
  recon_blocks_ = recon->register_module("blocks", ResidualGroup(c, n, ckpt));

  auto upsample = named_group(*this, "upsample");
  up_conv_ = upsample->register_module("conv", conv(c, c * s * s, 3));
  shuffle_ = torch::nn::PixelShuffle(torch::nn::PixelShuffleOptions(s));
  up_last_ = upsample->register_module("last", conv(c, 3, 3));
  zero_init(up_last_);
}

torch::Tensor VSRNetImpl::propagate(torch::nn::Conv2d& fuse, ResidualGroup& blocks,
                                    const torch::Tensor& h, const torch::Tensor& aligned) {
  return blocks(lrelu(fuse(torch::cat({h, aligned.to(h.scalar_type())}, 1))));
}

torch::Tensor VSRNetImpl::forward(const torch::Tensor& lr) {
  if (lr.dim() != 5 || lr.size(1) != options_.frames() || lr.size(2) != 3) {
    throw std::invalid_argument("VSRNet: expected lr [B," + std::to_string(options_.frames()) +
                                ",3,h,w], found " + c10::str(lr.sizes()));
  }
  const int64_t b = lr.size(0), t = lr.size(1), h = lr.size(3), w = lr.size(4);
  const int64_t c = t / 2, ch = options_.base_channels(), s = options_.scale();
  const torch::Tensor lr_f = lr.to(torch::kFloat);

  const torch::Tensor feat = features(lr_f);

  // All neighbours at once: flow from the centre to each, then warp their features.
  std::vector<int64_t> nb;
  for (int64_t i = 0; i < t; ++i) {
    if (i != c) nb.push_back(i);
  }
  const auto nb_index =
      torch::tensor(nb, torch::TensorOptions().dtype(torch::kLong)).to(lr.device());
  const int64_t n = t - 1;
  torch::Tensor centre = lr_f.select(1, c);
  torch::Tensor ref = centre.unsqueeze(1).expand({b, n, 3, h, w}).reshape({b * n, 3, h, w});
  torch::Tensor supp = lr_f.index_select(1, nb_index).reshape({b * n, 3, h, w});
  torch::Tensor flow = flows(ref, supp);
  torch::Tensor aligned = flow_warp(feat.index_select(1, nb_index).reshape({b * n, ch, h, w}), flow)
                              .view({b, n, ch, h, w});
  auto aligned_at = [&](int64_t frame) { return aligned.select(1, frame < c ? frame : frame - 1); };

  const torch::Tensor feat_c = feat.select(1, c);
  torch::Tensor h_back = feat_c;
  for (int64_t i = c + 1; i < t; ++i) {
    h_back = propagate(backward_fuse_, backward_blocks_, h_back, aligned_at(i));
  }
  torch::Tensor h_fwd = feat_c;
  for (int64_t i = c - 1; i >= 0; --i) {
    h_fwd = propagate(forward_fuse_, forward_blocks_, h_fwd, aligned_at(i));
  }

  torch::Tensor x = recon_blocks_(lrelu(recon_fuse_(
      torch::cat({feat_c, h_back.to(feat_c.scalar_type()), h_fwd.to(feat_c.scalar_type())}, 1))));
  torch::Tensor residual = up_last_(lrelu(shuffle_(up_conv_(x))));
  torch::Tensor base = F::interpolate(centre, F::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{h * s, w * s})
                                                  .mode(torch::kBicubic)
                                                  .align_corners(false));
  return base + residual.to(torch::kFloat);
}

torch::Tensor VSRNetImpl::features(const torch::Tensor& lr_f) {
  const int64_t b = lr_f.size(0), t = lr_f.size(1), h = lr_f.size(3), w = lr_f.size(4);
  if (!options_.use_checkpointing()) {
    return feat_blocks_(lrelu(feat_conv_(lr_f.reshape({b * t, 3, h, w}))))
        .view({b, t, options_.base_channels(), h, w});
  }
  // The capture keeps the network alive as long as the autograd graph that may re-run it.
  auto self = std::static_pointer_cast<VSRNetImpl>(shared_from_this());
  const BlockFn one_frame = [self](const torch::Tensor& frame) {
    return self->feat_blocks_->run(lrelu(self->feat_conv_(frame)));
  };
  std::vector<torch::Tensor> per_frame;
  for (int64_t i = 0; i < t; ++i) {
    per_frame.push_back(checkpoint(one_frame, lr_f.select(1, i), /*params_need_grad=*/true));
  }
  return torch::stack(per_frame, 1);
}

torch::Tensor VSRNetImpl::flows(const torch::Tensor& ref, const torch::Tensor& supp) {
  if (!options_.use_checkpointing()) return flow_(ref, supp);
  bool trainable = false;
  for (const auto& p : flow_->parameters()) trainable |= p.requires_grad();
  auto self = std::static_pointer_cast<VSRNetImpl>(shared_from_this());
  return checkpoint(
      [self](const torch::Tensor& pair) {
        return self->flow_(pair.narrow(1, 0, 3), pair.narrow(1, 3, 3));
      },
      torch::cat({ref, supp}, 1), /*params_need_grad=*/trainable);
}

std::int64_t parameter_count(const VSRNetOptions& o) {
  auto conv = [](std::int64_t in, std::int64_t out, std::int64_t k) {
    return in * out * k * k + out;
  };
  const std::int64_t c = o.base_channels(), n = o.num_blocks(), s = o.scale();
  const std::int64_t flow_level =
      conv(8, 32, 5) + conv(32, 32, 5) + conv(32, 16, 5) + conv(16, 2, 5);
  return conv(3, c, 3) + 4 * n * 2 * conv(c, c, 3) + kFlowLevels * flow_level +
         2 * conv(2 * c, c, 3) + conv(3 * c, c, 3) + conv(c, c * s * s, 3) + conv(c, 3, 3);
}

std::vector<torch::Tensor> VSRNetImpl::flow_parameters() const { return flow_->parameters(); }

std::vector<torch::Tensor> VSRNetImpl::other_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& item : named_parameters()) {
    if (item.key().rfind("flow.", 0) != 0) out.push_back(item.value());
  }
  return out;
}

void load_named_weights(torch::nn::Module& net,
                        const std::vector<std::pair<std::string, torch::Tensor>>& weights,
                        const std::string& context, bool allow_unknown) {
  std::map<std::string, const at::Tensor*> given;
  for (const auto& [name, t] : weights) given[name] = &t;
  std::vector<std::string> missing, misshapen;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& dst) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      return;
    }
    used.insert(name);
    if (it->second->sizes() != dst.sizes()) {
      misshapen.push_back(name + " (model " + c10::str(dst.sizes()) + ", given " +
                          c10::str(it->second->sizes()) + ")");
      return;
    }
    dst.copy_(*it->second);
  };
  for (auto& p : net.named_parameters(/*recurse=*/true)) load(p.key(), p.value());
  for (auto& b : net.named_buffers(/*recurse=*/true)) load(b.key(), b.value());
  std::vector<std::string> unknown;
  for (const auto& [name, t] : given) {
    if (!allow_unknown && !used.count(name)) unknown.push_back(name);
  }
  if (missing.empty() && misshapen.empty() && unknown.empty()) return;
  auto list = [](const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < 5; ++i) s += (i ? ", " : "") + names[i];
    if (names.size() > 5) s += ", ... (" + std::to_string(names.size()) + " in all)";
    return s;
  };
  std::string msg = context;
  if (!missing.empty()) msg += " missing " + list(missing) + ";";
  if (!unknown.empty()) msg += " unknown " + list(unknown) + ";";
  if (!misshapen.empty()) msg += " wrong shape " + list(misshapen) + ";";
  throw DataError(msg);
}

void load_pretrained(VSRNet& model, const std::string& path, const std::string& key) {
  // Extra entries are fine: "pretrained may load any state dict" that covers the model.
  std::string source;
  const auto weights = read_state_dict(path, key, &source);
  load_named_weights(
      *model, weights,
      key + ": " + path + " does not fit the model (check base_channels, num_blocks and scale):",
      /*allow_unknown=*/true);
  std::cerr << key << ": loaded " << weights.size() << " tensors of " << path << " (from " << source
            << ")\n";
}

void use_channels_last(torch::nn::Module& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

}  // namespace vsr
