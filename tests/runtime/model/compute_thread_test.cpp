// ComputeThread: every call runs on one thread, whoever calls; errors come back to the caller.
#include "runtime/model/compute_thread.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace vsr {
namespace {

TEST(ComputeThread, CallsFromAnyThreadRunOnTheSameOneInTurn) {
  ComputeThread compute;
  std::mutex mutex;
  std::set<std::thread::id> ran_on;
  // How many calls are inside at once, counted outside any lock, each call staying a moment.
  std::atomic<int> inside{0}, most_inside{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&] {
      for (int k = 0; k < 20; ++k) {
        compute.run([&] {
          const int now = ++inside;
          int most = most_inside.load();
          while (now > most && !most_inside.compare_exchange_weak(most, now)) {
          }
          {
            std::lock_guard<std::mutex> lock(mutex);
            ran_on.insert(std::this_thread::get_id());
          }
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          --inside;
        });
      }
    });
  }
  for (auto& c : callers) c.join();
  ASSERT_EQ(ran_on.size(), 1u);
  EXPECT_EQ(most_inside.load(), 1);
  for (const auto& c : callers) EXPECT_EQ(ran_on.count(c.get_id()), 0u);
}

TEST(ComputeThread, AnErrorIsRethrownToTheCallerAndTheThreadGoesOn) {
  ComputeThread compute;
  EXPECT_THAT([&] { compute.run([] { throw std::runtime_error("no such tensor"); }); },
              ::testing::ThrowsMessage<std::runtime_error>("no such tensor"));
  // Work on it, also nested (a call from the compute thread runs at once) and with tensors.
  double sum = 0;
  compute.run([&] { compute.run([&] { sum = at::arange(1, 101).sum().item<double>(); }); });
  EXPECT_EQ(sum, 5050);
}

}  // namespace
}  // namespace vsr
