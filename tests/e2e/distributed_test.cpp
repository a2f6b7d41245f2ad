// Data-parallel training over c10d Gloo with two local ranks (runtime/dist/collective.h): the
// weights equal those of one process training on the union of the ranks' batches; a job
// started by hand with torchrun's variables works; a rank that dies or hangs ends the job
// with an error naming it; a run resumes on another world size.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/dist/collective.h"
#include "runtime/outputs/checkpoint.h"
#include "runtime/outputs/tensorboard.h"
#include "tests/support/command.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string file_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class Distributed : public testing::MockDatasetSuite<Distributed> {
 public:
  static constexpr const char* kDatasetName = "vsr_e2e_distributed";
  static testing::MockDatasetOptions dataset_options() {
    return {{"small_540"}, {7}, /*count=*/6, /*val_count=*/1, /*seed=*/4};
  }

 protected:
  void SetUp() override {
    if (!backend_available("gloo")) {
      GTEST_SKIP() << "this build has no c10d Gloo (pip's LibTorch ships no Gloo headers); the "
                      "Debian-LibTorch build runs these tests";
    }
  }
  // The demo config, shrunk: `batch` samples per rank and micro-batch, 2 micro-batches a step;
  // in float32 (the demo's mixed_precision auto is bf16 on some CPUs), as these runs are compared
  // to 1e-5 with runs that sum the same gradients in another order.
  static std::string args(const std::string& name, int steps, int batch,
                          const std::vector<std::string>& extra = {}) {
    std::string a = std::string(VSR_SOURCE_DIR) + "/configs/demo.yaml";
    for (const std::string& set :
         {"DATA.data_root=" + root_.string(),
          "OUTPUT.experiments_root=" + (root_ / "experiments").string(),
          "OUTPUT.experiment_name=" + name + "_" + std::to_string(::getpid()),
          "TRAINING.total_steps=" + std::to_string(steps),
          "TRAINING.batch_size.small_540=" + std::to_string(batch),
          std::string("TRAINING.gradient_accumulation.small_540=2"),
          std::string("TRAINING.warmup_steps=1"), std::string("TRAINING.threads=1"),
          std::string("TRAINING.ema_decay=0.9"), std::string("DATA.augmentation.crop=48"),
          std::string("DATA.num_workers=1"), std::string("MODEL.base_channels=8"),
          std::string("MODEL.num_blocks=1"), std::string("VALIDATION.val_interval=1000"),
          std::string("VALIDATION.num_images=1"), std::string("CHECKPOINT.checkpoint_interval=3"),
          std::string("LOGGING.log_interval=1"), std::string("DISTRIBUTED.timeout_s=6"),
          std::string("TRAINING.mixed_precision=off")}) {
      a += " --set " + set;
    }
    for (const auto& set : extra) a += " --set " + set;
    return a;
  }
  static fs::path experiment(const std::string& name) {
    return root_ / "experiments" / (name + "_" + std::to_string(::getpid()));
  }
  static fs::path checkpoint(const std::string& name, int step) {
    return experiment(name) / "checkpoints" / checkpoint_file_name(step);
  }
  static testing::CommandResult run(const std::string& args_line) {
    return testing::run_command(std::string(VSR_BINARY) + " run " + args_line + " 2>&1");
  }
  // One rank of a job started by hand, as torchrun would (env of its own, log to a file).
  static std::string rank_command(int rank, int port, const std::string& args_line,
                                  const fs::path& log) {
    return "env RANK=" + std::to_string(rank) + " LOCAL_RANK=" + std::to_string(rank) +
           " WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
           std::to_string(port) + " " + VSR_BINARY + " run " + args_line + " > " + log.string() +
           " 2>&1";
  }
};

// Largest difference of the model, EMA and optimizer tensors of two checkpoints.
double max_difference(const fs::path& a, const fs::path& b) {
  const CheckpointData x = load_checkpoint(a), y = load_checkpoint(b);
  EXPECT_EQ(x.step, y.step);
  double worst = 0;
  for (const auto* part : {&x.model, &x.ema, &x.optimizer_state}) {
    const auto& other = part == &x.model ? y.model : part == &x.ema ? y.ema : y.optimizer_state;
    EXPECT_EQ(part->size(), other.size());
    EXPECT_FALSE(part->empty());
    for (std::size_t i = 0; i < part->size() && i < other.size(); ++i) {
      EXPECT_EQ((*part)[i].first, other[i].first);
      worst = std::max(worst, (*part)[i].second.sub(other[i].second).abs().max().item<double>());
    }
  }
  return worst;
}

// How far the weights moved from the first checkpoint to the last: a comparison of two runs
// means nothing when training did not change them.
double moved(const fs::path& first, const fs::path& last) {
  const CheckpointData x = load_checkpoint(first), y = load_checkpoint(last);
  double most = 0;
  for (std::size_t i = 0; i < x.model.size(); ++i) {
    most = std::max(most, x.model[i].second.sub(y.model[i].second).abs().max().item<double>());
  }
  return most;
}

TEST_F(Distributed, TwoLocalRanksTrainWhatOneProcessTrainsOnTheirUnionBatch) {
  const testing::CommandResult two = run(args("nproc2", 6, 1) + " --nproc 2");
  ASSERT_EQ(two.code, 0) << two.out;
  const testing::CommandResult one = run(args("single", 6, 2));
  ASSERT_EQ(one.code, 0) << one.out;
  const double diff = max_difference(checkpoint("nproc2", 6), checkpoint("single", 6));
  EXPECT_LT(diff, 1e-5);
  EXPECT_GT(moved(checkpoint("nproc2", 3), checkpoint("nproc2", 6)), 1e-4);
  std::cout << "2 ranks x batch 1 vs 1 process x batch 2 after 6 steps: max difference " << diff
            << "\n";

  // Rank 0 alone printed and wrote: one console, one event file, one log line per step.
  EXPECT_THAT(two.out, HasSubstr("--nproc 2: ranks 0-1 on 127.0.0.1:"));
  EXPECT_THAT(two.out, HasSubstr("rank 0 of 2"));
  EXPECT_THAT(two.out, HasSubstr("the effective batch is batch_size x gradient_accumulation x 2"));
  EXPECT_THAT(two.out, HasSubstr("train_step: 2 ranks (gloo): gradient all-reduce"));
  EXPECT_THAT(two.out, ::testing::Not(HasSubstr("rank 1 of 2")));
  const std::string log = file_text(experiment("nproc2") / "train.log");
  std::size_t lines = 0;
  for (std::size_t at = log.find("step 6/6"); at != std::string::npos;
       at = log.find("step 6/6", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << log;
  std::vector<fs::path> events;
  for (const auto& e : fs::directory_iterator(experiment("nproc2") / "tensorboard")) {
    events.push_back(e.path());
  }
  ASSERT_EQ(events.size(), 1u);
  // The effective batch: 1 sample x 2 micro-batches x 2 ranks; the losses are the job's (the
  // single process logs the same).
  std::map<std::string, float> last;
  for (const auto& r : read_event_file(events[0])) last[r.tag] = r.scalar;
  EXPECT_EQ(last.at("train/effective_batch/small_540"), 4.0f);
}

TEST_F(Distributed, AJobStartedByHandWithTorchrunsVariablesWorks) {
  const int port = free_port();
  const std::string a = args("by_hand", 3, 1);
  const fs::path dir = experiment("by_hand").parent_path();
  fs::create_directories(dir);
  testing::Child rank0(rank_command(0, port, a, dir / "rank0.log"));
  testing::Child rank1(rank_command(1, port, a, dir / "rank1.log"));
  EXPECT_EQ(rank0.wait(120s), 0) << file_text(dir / "rank0.log");
  EXPECT_EQ(rank1.wait(120s), 0) << file_text(dir / "rank1.log");
  EXPECT_THAT(file_text(dir / "rank0.log"), HasSubstr("step 3/3"));
  // Rank 1 prints nothing but errors.
  EXPECT_EQ(file_text(dir / "rank1.log"), "");
  const testing::CommandResult one = run(args("by_hand_single", 3, 2));
  ASSERT_EQ(one.code, 0) << one.out;
  EXPECT_LT(max_difference(checkpoint("by_hand", 3), checkpoint("by_hand_single", 3)), 1e-5);
}

// Starts a long job by hand and waits until rank 0 has logged `step`.
void wait_for_step(const fs::path& log, int step) {
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (file_text(log).find("step " + std::to_string(step) + "/") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << file_text(log);
    std::this_thread::sleep_for(50ms);
  }
}

TEST_F(Distributed, AKilledRankEndsTheOtherWithAnErrorNamingIt) {
  const int port = free_port();
  const std::string a = args("killed", 100000, 1);
  const fs::path dir = experiment("killed").parent_path();
  fs::create_directories(dir);
  testing::Child rank0(rank_command(0, port, a, dir / "killed0.log"));
  testing::Child rank1(rank_command(1, port, a, dir / "killed1.log"));
  wait_for_step(dir / "killed0.log", 4);
  rank1.signal(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  const std::optional<int> code = rank0.wait(60s);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  ASSERT_TRUE(code.has_value()) << "rank 0 still runs a minute after rank 1 was killed";
  EXPECT_EQ(*code, 1);
  const std::string log = file_text(dir / "killed0.log");
  EXPECT_THAT(log, HasSubstr("rank 0 of 2: averaging the gradients failed: rank 1 died or hangs"));
  EXPECT_THAT(log, HasSubstr("checkpoints written before are intact, continue with --resume auto"));
  EXPECT_LT(took, 6 + 10) << "DISTRIBUTED.timeout_s is 6";
  // The checkpoints written before load.
  for (const auto& [step, path] : list_step_checkpoints(experiment("killed") / "checkpoints")) {
    EXPECT_NO_THROW(load_checkpoint(path)) << path;
  }
}

TEST_F(Distributed, AHungRankEndsTheJobWithinTheTimeout) {
  const int port = free_port();
  const std::string a = args("hung", 100000, 1);
  const fs::path dir = experiment("hung").parent_path();
  fs::create_directories(dir);
  testing::Child rank0(rank_command(0, port, a, dir / "hung0.log"));
  testing::Child rank1(rank_command(1, port, a, dir / "hung1.log"));
  wait_for_step(dir / "hung0.log", 3);
  rank1.signal(SIGSTOP);
  const auto stopped = std::chrono::steady_clock::now();
  const std::optional<int> code = rank0.wait(60s);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped).count();
  rank1.signal(SIGKILL);
  ASSERT_TRUE(code.has_value()) << "rank 0 still waits a minute after rank 1 stopped";
  EXPECT_EQ(*code, 1);
  EXPECT_THAT(file_text(dir / "hung0.log"), HasSubstr("rank 1 died or hangs"));
  EXPECT_GE(took, 5.0) << "a hang is only known after DISTRIBUTED.timeout_s (6 s)";
  EXPECT_LT(took, 6 + 10);
}

TEST_F(Distributed, TheLauncherNamesTheRankThatDiedAndStopsTheOthers) {
  const fs::path dir = experiment("launcher").parent_path();
  fs::create_directories(dir);
  const fs::path log = dir / "launcher.log";
  testing::Child job(std::string(VSR_BINARY) + " run " + args("launcher", 100000, 1) +
                     " --nproc 2 > " + log.string() + " 2>&1");
  wait_for_step(log, 3);
  std::smatch m;
  const std::string text = file_text(log);
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(\(pids (\d+), (\d+)\))"))) << text;
  const pid_t rank1 = std::stoi(m[2]);
  ::kill(rank1, SIGKILL);
  const std::optional<int> code = job.wait(60s);
  ASSERT_TRUE(code.has_value()) << file_text(log);
  EXPECT_NE(*code, 0);
  EXPECT_THAT(file_text(log), HasSubstr("vsr_flow: --nproc: rank 1 (pid " + std::string(m[2]) +
                                        ") was killed by signal 9"));
  EXPECT_EQ(::kill(std::stoi(m[1]), 0), -1) << "rank 0 is still running";
}

TEST_F(Distributed, CtrlCStopsEveryRankAfterTheSameStepWhichIsSavedAndResumed) {
  const fs::path dir = experiment("ctrl_c").parent_path();
  fs::create_directories(dir);
  const fs::path log = dir / "ctrl_c.log";
  testing::Child job(std::string(VSR_BINARY) + " run " + args("ctrl_c", 100000, 1) +
                     " --nproc 2 > " + log.string() + " 2>&1");
  wait_for_step(log, 3);
  job.signal(SIGINT);  // the launcher only: the ranks are in a process group of their own
  const std::optional<int> code = job.wait(60s);
  ASSERT_TRUE(code.has_value()) << file_text(log);
  EXPECT_EQ(*code, 130) << file_text(log);
  EXPECT_THAT(file_text(log), HasSubstr("stopped on request"));
  EXPECT_THAT(file_text(log), ::testing::Not(HasSubstr("--nproc: rank")));  // no failure
  const auto saved = list_step_checkpoints(experiment("ctrl_c") / "checkpoints");
  ASSERT_FALSE(saved.empty());
  const std::int64_t step = saved.back().first;
  EXPECT_GE(step, 3);
  // Both ranks stopped after that step (else rank 0 would have waited for rank 1 and failed);
  // the run goes on from it.
  const testing::CommandResult resumed =
      run(args("ctrl_c", static_cast<int>(step) + 2, 1) + " --resume auto --nproc 2");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_THAT(resumed.out, HasSubstr("step " + std::to_string(step + 2) + "/"));
}

TEST_F(Distributed, ARunResumesOnAnotherWorldSize) {
  // One process with batch 2 straight to step 6; from its step-3 checkpoint, two ranks with
  // batch 1 each to step 6: the same samples, so the same weights.
  const testing::CommandResult straight = run(args("straight", 6, 2));
  ASSERT_EQ(straight.code, 0) << straight.out;
  const testing::CommandResult resumed =
      run(args("resumed", 6, 1) + " --resume " + checkpoint("straight", 3).string() + " --nproc 2");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_THAT(resumed.out, HasSubstr("resuming from " + checkpoint("straight", 3).string()));
  EXPECT_THAT(resumed.out, HasSubstr("train_step.distributed.world_size: 1 -> 2"));
  EXPECT_LT(max_difference(checkpoint("resumed", 6), checkpoint("straight", 6)), 1e-5);
}

}  // namespace
}  // namespace vsr
