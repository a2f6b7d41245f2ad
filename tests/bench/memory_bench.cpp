// memory_bench: peak memory of one training forward + backward of VSRNet, plain and with
// use_checkpointing, each in a fresh process (its peak RSS growth; on CUDA the allocator's
// peak), at the spec's size by default: 128 channels, 32 blocks, 7 frames, one small_540
// sample cropped to a 288-pixel GT (96-pixel LR) at x3. Not a unit test; see
// tests/bench/README.md.
//
//   memory_bench [--channels 128] [--blocks 32] [--frames 7] [--crop 288] [--batch 1]
//                [--scale 3] [--threads 2]
#include <ATen/ATen.h>
#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "runtime/model/model.h"
#include "runtime/model/optim.h"

namespace vsr {
namespace {

struct Options {
  int channels = 128;
  int blocks = 32;
  int frames = 7;
  int crop = 288;
  int batch = 1;
  int scale = 3;
  int threads = 2;
};

std::string flags(const Options& o) {
  return " --channels " + std::to_string(o.channels) + " --blocks " + std::to_string(o.blocks) +
         " --frames " + std::to_string(o.frames) + " --crop " + std::to_string(o.crop) +
         " --batch " + std::to_string(o.batch) + " --scale " + std::to_string(o.scale) +
         " --threads " + std::to_string(o.threads);
}

// In the child: the RSS growth (MiB) of one forward + backward and the seconds it took. The
// weights and input exist before the first reading, so what grows is activations and gradients.
void measure(const Options& o, bool checkpointing) {
  at::set_num_threads(o.threads);
  torch::manual_seed(0);
  VSRNet net(VSRNetOptions()
                 .base_channels(o.channels)
                 .num_blocks(o.blocks)
                 .frames(o.frames)
                 .scale(o.scale)
                 .use_checkpointing(checkpointing));
  const int lr_size = o.crop / o.scale;
  const auto lr = torch::rand({o.batch, o.frames, 3, lr_size, lr_size});
  const auto gt = torch::rand({o.batch, 3, lr_size * o.scale, lr_size * o.scale});
  for (auto& p : net->parameters()) p.mutable_grad() = torch::zeros_like(p);  // counted before
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto t0 = std::chrono::steady_clock::now();
  charbonnier_loss(net->forward(lr), gt).backward();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  std::printf("%f %f\n", (after.ru_maxrss - before.ru_maxrss) / 1024.0, s);
}

bool child(const Options& o, bool checkpointing, double* mib, double* seconds) {
  const std::string cmd = "/proc/" + std::to_string(getpid()) + "/exe --child " +
                          (checkpointing ? "1" : "0") + flags(o);
  std::FILE* p = popen(cmd.c_str(), "r");
  const bool ok = p && std::fscanf(p, "%lf %lf", mib, seconds) == 2;
  if (p) pclose(p);
  return ok;
}

}  // namespace
}  // namespace vsr

int main(int argc, char** argv) {
  vsr::Options o;
  int child = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << "usage: memory_bench [--channels 128] [--blocks 32] [--frames 7] [--crop 288] "
                   "[--batch 1] [--scale 3] [--threads 2]\n"
                   "  peak RSS growth of one VSRNet forward+backward, plain and checkpointed, "
                   "each in a fresh process\n";
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "memory_bench: " << a << " needs a value\n";
      return 2;
    }
    const int v = std::atoi(argv[++i]);
    std::map<std::string, int*> known = {{"--channels", &o.channels}, {"--blocks", &o.blocks},
                                         {"--frames", &o.frames},     {"--crop", &o.crop},
                                         {"--batch", &o.batch},       {"--scale", &o.scale},
                                         {"--threads", &o.threads},   {"--child", &child}};
    if (!known.count(a) || (v <= 0 && a != "--child")) {
      std::cerr << "memory_bench: unknown option or bad value: " << a << " " << argv[i] << "\n";
      return 2;
    }
    *known[a] = v;
  }
  if (child >= 0) {
    vsr::measure(o, child == 1);
    return 0;
  }
  double plain = 0, plain_s = 0, ckpt = 0, ckpt_s = 0;
  if (!vsr::child(o, false, &plain, &plain_s) || !vsr::child(o, true, &ckpt, &ckpt_s)) {
    std::cerr << "memory_bench: a measuring child failed\n";
    return 1;
  }
  std::printf(
      "memory_bench: VSRNet %d channels x %d blocks, %d frames, batch %d, GT %d (LR %d) x%d, %d "
      "threads; peak RSS growth of one forward+backward:\n"
      "  plain        %8.0f MiB  %6.1f s\n  checkpointed %8.0f MiB  %6.1f s\n"
      "  checkpointed / plain: %.1f%% of the memory, %.2fx the time\n",
      o.channels, o.blocks, o.frames, o.batch, o.crop, o.crop / o.scale, o.scale, o.threads, plain,
      plain_s, ckpt, ckpt_s, 100 * ckpt / plain, ckpt_s / plain_s);
  return 0;
}
