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

TEST(ComputeThread, WaitersWaitWhileExclusiveWorkRunsAndOnlyThen) {
  ComputeThread compute;
  // Idle, or running plain work: a waiter returns at once (it would hang here otherwise).
  EXPECT_EQ(compute.wait_while_exclusive(), 0.0);
  std::atomic<bool> plain_returned{false};
  compute.run([&] {
    std::thread waiter([&] {
      EXPECT_EQ(compute.wait_while_exclusive(), 0.0);
      plain_returned = true;
    });
    waiter.join();
  });
  EXPECT_TRUE(plain_returned);

  // Exclusive work: every waiter returns after it has ended, also when it throws.
  for (const bool fails : {false, true}) {
    std::atomic<bool> started{false}, ended{false};
    std::atomic<int> returned_before_end{0}, returned{0};
    std::mutex mutex;
    double waited = 0;  // the longest wait, seconds
    std::thread owner([&] {
      try {
        compute.run_exclusive([&] {
          started = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          ended = true;
          if (fails) throw std::runtime_error("step failed");
        });
      } catch (const std::runtime_error&) {
      }
    });
    while (!started) std::this_thread::yield();
    std::vector<std::thread> waiters;
    for (int i = 0; i < 3; ++i) {
      waiters.emplace_back([&] {
        const double s = compute.wait_while_exclusive();
        if (!ended) ++returned_before_end;
        std::lock_guard<std::mutex> lock(mutex);
        waited = std::max(waited, s);
        ++returned;
      });
    }
    for (auto& w : waiters) w.join();
    owner.join();
    EXPECT_EQ(returned.load(), 3) << "fails " << fails;
    EXPECT_EQ(returned_before_end.load(), 0) << "fails " << fails;
    EXPECT_GT(waited, 0.0) << "no waiter said it waited";
    EXPECT_LT(waited, 10.0);
    compute.wait_while_exclusive();  // open again afterwards
  }
}

}  // namespace
}  // namespace vsr
