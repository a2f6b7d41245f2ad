// The job description a rank reads from torchrun's variables (runtime/dist/collective.h).
#include "runtime/dist/collective.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "common/errors.h"

namespace vsr {
namespace {

using ::testing::HasSubstr;

// Sets the variables for one test and restores what was there.
class Env {
 public:
  explicit Env(const std::map<std::string, std::string>& values) {
    for (const char* name :
         {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) {
      if (const char* v = std::getenv(name)) saved_[name] = v;
      ::unsetenv(name);
    }
    for (const auto& [k, v] : values) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~Env() {
    for (const char* name :
         {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) {
      ::unsetenv(name);
    }
    for (const auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
  }

 private:
  std::map<std::string, std::string> saved_;
};

std::string error_of(const std::map<std::string, std::string>& values) {
  Env env(values);
  try {
    distributed_options_from_env();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

TEST(DistributedOptions, WithoutWorldSizeThereIsNoJob) {
  Env env(std::map<std::string, std::string>{{"RANK", "3"}});
  const DistributedOptions o = distributed_options_from_env();
  EXPECT_EQ(o.world_size, 1);
  EXPECT_EQ(o.rank, 0);
}

TEST(DistributedOptions, ReadsWhatTorchrunSets) {
  Env env({{"RANK", "3"},
           {"LOCAL_RANK", "1"},
           {"WORLD_SIZE", "4"},
           {"LOCAL_WORLD_SIZE", "2"},
           {"MASTER_ADDR", "10.0.0.1"},
           {"MASTER_PORT", "29501"}});
  const DistributedOptions o = distributed_options_from_env();
  EXPECT_EQ(o.world_size, 4);
  EXPECT_EQ(o.rank, 3);
  EXPECT_EQ(o.local_rank, 1);
  EXPECT_EQ(o.local_world_size, 2);
  EXPECT_EQ(o.master_addr, "10.0.0.1");
  EXPECT_EQ(o.master_port, 29501);
}

TEST(DistributedOptions, SaysWhichVariableIsWrongOrMissing) {
  EXPECT_THAT(error_of({{"WORLD_SIZE", "2"}}), HasSubstr("WORLD_SIZE=2 is set but RANK is not"));
  EXPECT_THAT(error_of({{"WORLD_SIZE", "2"}, {"RANK", "2"}}),
              HasSubstr("RANK=2: expected an integer in [0, 1]"));
  EXPECT_THAT(error_of({{"WORLD_SIZE", "two"}}), HasSubstr("WORLD_SIZE=two: expected an integer"));
  EXPECT_THAT(error_of({{"WORLD_SIZE", "2"}, {"RANK", "1"}}), HasSubstr("MASTER_ADDR is not set"));
  EXPECT_THAT(error_of({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "h"}}),
              HasSubstr("MASTER_PORT is not set: the distributed job needs a free TCP port on h"));
  EXPECT_THAT(
      error_of({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "0"}}),
      HasSubstr("MASTER_PORT=0: expected an integer in [1, 65535]"));
}

}  // namespace
}  // namespace vsr
