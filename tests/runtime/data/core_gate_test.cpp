// CoreGate: data sections wait while a step computes, a step waits for running data sections,
// and an off gate never waits.
#include "runtime/data/core_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace vsr {
namespace {

using namespace std::chrono_literals;

// Each test its own gate; global() is the process's.
TEST(CoreGate, DataWaitsWhileTheStepComputesAndGoesOnAfterIt) {
  CoreGate gate;
  gate.set_interleave(true);
  std::atomic<bool> data_ran{false};
  std::thread data;
  {
    const CoreGate::ComputeSection step(gate);
    data = std::thread([&] {
      const CoreGate::DataSection d(gate);
      data_ran = true;
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(data_ran);  // held back for as long as the step computes
  }
  data.join();
  EXPECT_TRUE(data_ran);
  EXPECT_EQ(gate.data_waits(), 1);
  EXPECT_EQ(gate.compute_waits(), 0);
}

TEST(CoreGate, AStepWaitsForTheDataSectionsAlreadyRunning) {
  CoreGate gate;
  gate.set_interleave(true);
  std::atomic<bool> data_done{false}, step_started{false};
  std::thread step;
  {
    const CoreGate::DataSection d(gate);
    step = std::thread([&] {
      const CoreGate::ComputeSection c(gate);
      step_started = true;
      EXPECT_TRUE(data_done);
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(step_started);
    data_done = true;
  }
  step.join();
  EXPECT_TRUE(step_started);
  EXPECT_EQ(gate.compute_waits(), 1);
}

TEST(CoreGate, OffNothingWaitsAndTurningItOffReleasesTheWaiting) {
  CoreGate gate;
  {
    const CoreGate::ComputeSection step(gate);
    const CoreGate::DataSection d(gate);  // would deadlock if it waited
  }
  EXPECT_EQ(gate.data_waits(), 0);
  gate.set_interleave(true);
  std::atomic<bool> data_ran{false};
  std::thread data;
  {
    const CoreGate::ComputeSection step(gate);
    data = std::thread([&] {
      const CoreGate::DataSection d(gate);
      data_ran = true;
    });
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(data_ran);
    gate.set_interleave(false);  // e.g. train_step closing: the waiting data goes on
    data.join();
    EXPECT_TRUE(data_ran);
  }
}

}  // namespace
}  // namespace vsr
