// VSRNet: the centre-anchored bidirectional recurrent video super-resolution network of
// DESIGN.md "The model" and the spec's "Model Architecture".
//
//   lr [B,T,3,h,w] float in [0,1], T odd, centre c = T/2  ->  sr [B,3,h*scale,w*scale]
//
//   feat[t]   = feat(lr[t])                             shared conv + residual blocks
//   flow[t]   = flow(lr[c], lr[t])                      SPyNet-like pyramid at LR resolution,
//                                                       flow[t](p) = where p of the centre
//                                                       lies in frame t (pixels, x then y)
//   aligned   = warp(feat[t], flow[t])                  bilinear grid_sample, border padding
//   backward: h = feat[c]; for t = c+1 .. T-1: h = backward.blocks(lrelu(backward.fuse(
//             concat(h, aligned[t]))))
//   forward:  the same over t = c-1 .. 0 with forward.*
//   sr        = upsample.last(lrelu(PixelShuffle(upsample.conv(recon.blocks(lrelu(
//               recon.fuse(concat(feat[c], h_back, h_fwd))))))))
//               + bicubic(lr[c])
//
// upsample.last is zero-initialised, so an untrained model outputs exactly the bicubic
// upscale of the centre frame. The flow estimator's last convs are zero-initialised too
// (it starts at zero flow, i.e. identity warps) and it trains from scratch. Frames whose
// size is not a multiple of 2^(kFlowLevels-1) are replicate-padded for the flow estimator
// and the flow is cropped back; everything else runs at the true size.
//
// State-dict names (stable; checkpoints and Python's load_state_dict rely on them).
// N = num_blocks, C = base_channels, i in [0, N), l in [0, kFlowLevels), 0 = finest level:
//   feat.conv.{weight,bias}                      Conv2d(3, C, 3)
//   feat.blocks.{i}.conv{1,2}.{weight,bias}      residual block: conv-lrelu-conv + x
//   flow.level.{l}.conv{1..4}.{weight,bias}      Conv2d 8->32->32->16->2, 5x5 (SPyNet basic
//                                                module: centre, warped neighbour, flow)
//   backward.fuse.{weight,bias}                  Conv2d(2C, C, 3)
//   backward.blocks.{i}.conv{1,2}.{weight,bias}
//   forward.fuse.{weight,bias}                   Conv2d(2C, C, 3)
//   forward.blocks.{i}.conv{1,2}.{weight,bias}
//   recon.fuse.{weight,bias}                     Conv2d(3C, C, 3)
//   recon.blocks.{i}.conv{1,2}.{weight,bias}
//   upsample.conv.{weight,bias}                  Conv2d(C, C*scale^2, 3), PixelShuffle(scale)
//   upsample.last.{weight,bias}                  Conv2d(C, 3, 3), zero-initialised
// No buffers. With use_checkpointing (runtime/checkpoint_grad.h: same values and gradients,
// less activation memory) the feature extractor is checkpointed frame by frame (feat.conv and
// feat.blocks of one frame; all frames at once would recompute T frames' activations at
// once), the flow estimator as a whole, and each propagation step's and recon's block group:
// what stays is about one tensor per checkpoint, and a backward recomputes one frame's or one
// group's activations at a time.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vsr {

// Number of levels of the flow pyramid; frames are padded to a multiple of
// 2^(kFlowLevels-1) for the flow estimator.
inline constexpr int kFlowLevels = 3;

struct VSRNetOptions {
  TORCH_ARG(int64_t, base_channels) = 64;
  // Residual blocks per group (feature extractor, each branch, reconstruction).
  TORCH_ARG(int64_t, num_blocks) = 10;
  // Upscaling factor: 2, 3 or 4.
  TORCH_ARG(int64_t, scale) = 3;
  // Frames per sample: odd, >= 3 (5 and 7 in the configs).
  TORCH_ARG(int64_t, frames) = 7;
  TORCH_ARG(bool, use_checkpointing) = false;
};

// Conv-LeakyReLU-Conv plus the input; the convs start at a tenth of their default init so a
// deep stack starts near identity.
class ResidualBlockImpl : public torch::nn::Module {
 public:
  explicit ResidualBlockImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(ResidualBlock);

// num_blocks residual blocks applied in order, optionally as one checkpointed group.
class ResidualGroupImpl : public torch::nn::Module {
 public:
  ResidualGroupImpl(int64_t channels, int64_t num_blocks, bool checkpointed);
  torch::Tensor forward(const torch::Tensor& x);
  // The blocks in order, never checkpointed (for a caller that checkpoints around them).
  torch::Tensor run(const torch::Tensor& x);

 private:
  std::vector<ResidualBlock> blocks_;
  bool checkpointed_;
};
TORCH_MODULE(ResidualGroup);

// One level of the flow pyramid (SPyNet's basic module): centre, warped neighbour and
// the current flow (8 channels) -> flow update (2 channels). conv4 starts at zero.
class FlowLevelImpl : public torch::nn::Module {
 public:
  FlowLevelImpl();
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, conv4_{nullptr};
};
TORCH_MODULE(FlowLevel);

// SPyNet-like coarse-to-fine optical flow, trained from scratch.
class FlowEstimatorImpl : public torch::nn::Module {
 public:
  FlowEstimatorImpl();
  // ref, supp [N,3,h,w] in [0,1] -> flow [N,2,h,w] (x, y in pixels, float32) such that
  // flow_warp(supp, flow) is aligned with ref. Any h, w >= 1.
  torch::Tensor forward(const torch::Tensor& ref, const torch::Tensor& supp);

 private:
  torch::nn::ModuleList levels_;
};
TORCH_MODULE(FlowEstimator);

// Samples x [N,C,h,w] at p + flow(p), flow [N,2,h,w] in pixels (bilinear, border padding).
// Runs in float32 whatever the autocast state; returns x's dtype.
torch::Tensor flow_warp(const torch::Tensor& x, const torch::Tensor& flow);

class VSRNetImpl : public torch::nn::Module {
 public:
  explicit VSRNetImpl(const VSRNetOptions& options);

  // lr [B,T,3,h,w] with T == options.frames -> [B,3,h*scale,w*scale].
  torch::Tensor forward(const torch::Tensor& lr);

  // The flow estimator's parameters (flow.*), for a separate learning-rate multiplier or
  // freezing, and all the others. Together they are parameters(), without overlap.
  std::vector<torch::Tensor> flow_parameters() const;
  std::vector<torch::Tensor> other_parameters() const;

  const VSRNetOptions& options() const { return options_; }

 private:
  torch::Tensor propagate(torch::nn::Conv2d& fuse, ResidualGroup& blocks, const torch::Tensor& h,
                          const torch::Tensor& aligned);
  // The features [B,T,C,h,w] and the flows of the neighbours, checkpointed as said above.
  torch::Tensor features(const torch::Tensor& lr_f);
  torch::Tensor flows(const torch::Tensor& ref, const torch::Tensor& supp);

  VSRNetOptions options_;
  torch::nn::Conv2d feat_conv_{nullptr};
  ResidualGroup feat_blocks_{nullptr};
  FlowEstimator flow_{nullptr};
  torch::nn::Conv2d backward_fuse_{nullptr}, forward_fuse_{nullptr};
  ResidualGroup backward_blocks_{nullptr}, forward_blocks_{nullptr};
  torch::nn::Conv2d recon_fuse_{nullptr};
  ResidualGroup recon_blocks_{nullptr};
  torch::nn::Conv2d up_conv_{nullptr}, up_last_{nullptr};
  torch::nn::PixelShuffle shuffle_{nullptr};
};
TORCH_MODULE(VSRNet);

// The number of parameters of a VSRNet of these options (the same as building it and counting,
// without allocating it).
std::int64_t parameter_count(const VSRNetOptions& options);

// Copies `weights` into the parameters and buffers of `net` by name. Throws
// std::runtime_error starting with `context` and listing (up to 5 of each) the names that are
// missing, unknown or of the wrong shape; unknown names are ignored when `allow_unknown`.
void load_named_weights(torch::nn::Module& net,
                        const std::vector<std::pair<std::string, torch::Tensor>>& weights,
                        const std::string& context, bool allow_unknown = false);

// Loads a state dict file into `model`: a plain name -> tensor dict, or a vsr_flow checkpoint
// (its "model" entry). Every tensor of the model must be there with its shape; extra entries
// are ignored. Throws DataError naming the file (`key` names the setting, e.g.
// "MODEL.pretrained") when it cannot be read or does not fit.
void load_pretrained(VSRNet& model, const std::string& path, const std::string& key);

// Turns every 4-D parameter of `net` (the convolution weights) channels_last (NHWC) in place:
// convolutions then run, and emit their activations, in that layout, which GPUs with tensor
// cores compute faster. Values are unchanged; the optimizer state follows the layout.
void use_channels_last(torch::nn::Module& net);

}  // namespace vsr
