#include "graph/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "common/errors.h"
#include "tests/graph/test_stages.h"

namespace vsr {
namespace {

using ::testing::HasSubstr;
using testing::Num;

json chain(const json& middle, long long count, double sink_delay_ms = 0, int bound = 8) {
  json stages = json::array();
  stages.push_back({{"name", "numbers"},
                    {"type", "counter"},
                    {"params", {{"count", count}}},
                    {"max_in_flight", bound}});
  stages.push_back(middle);
  stages.push_back({{"name", "out"}, {"type", "sink"}, {"params", {{"delay_ms", sink_delay_ms}}}});
  const std::string mid = middle["name"];
  return {{"version", 1},
          {"stages", stages},
          {"edges", {"numbers.out -> " + mid + ".in", mid + ".out -> out.in"}}};
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clear_sink_logs();
    Num::peak_from_source = 0;
  }
  void TearDown() override { EXPECT_EQ(Num::live_from_source, 0) << "a message leaked"; }
};

TEST_F(PipelineTest, RunsAChainToCompletion) {
  Pipeline p(testing::test_spec(
                 chain({{"name", "sq"}, {"type", "square"}, {"concurrency", "unlimited"}}, 100)),
             testing::test_registry());
  p.run();
  auto log = testing::sink_log("out");
  std::sort(log.values.begin(), log.values.end());
  ASSERT_EQ(log.values.size(), 100u);
  for (long long i = 0; i < 100; ++i) EXPECT_EQ(log.values[i], i * i);
  EXPECT_TRUE(log.closed);
  EXPECT_TRUE(log.completed);
  const auto stats = p.stats();
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0].out, 100u);
  EXPECT_EQ(stats[1].in, 100u);
  EXPECT_EQ(stats[1].out, 100u);
  EXPECT_EQ(stats[2].in, 100u);
  EXPECT_EQ(stats[0].max_in_flight, 8);
  const json j = p.stats_json();
  EXPECT_EQ(j["stages"][2]["name"], "out");
  EXPECT_EQ(j["stages"][2]["in"], 100);
  EXPECT_THAT(p.stats_table(), HasSubstr("numbers"));
}

TEST_F(PipelineTest, TwoInputsAreFedByPortNumber) {
  json spec = {
      {"version", 1},
      {"stages",
       {{{"name", "a"}, {"type", "counter"}, {"params", {{"count", 20}}}},
        {{"name", "sq"}, {"type", "square"}},
        {{"name", "pair"}, {"type", "add_pair"}},
        {{"name", "out"}, {"type", "sink"}}}},
      {"edges", {"a.out -> pair.a", "a.out -> sq.in", "sq.out -> pair.b", "pair.out -> out.in"}}};
  Pipeline p(testing::test_spec(spec), testing::test_registry());
  p.run();
  auto log = testing::sink_log("out");
  ASSERT_EQ(log.values.size(), 20u);
  long long sum = 0;
  for (long long v : log.values) sum += v;
  long long expect = 0;
  for (long long i = 0; i < 20; ++i) expect += i + i * i;
  EXPECT_EQ(sum, expect);
}

// A fast source and a slow sink: the source is held to max_in_flight messages alive.
TEST_F(PipelineTest, BackpressureBoundsLiveMessages) {
  const int bound = 4;
  Pipeline p(testing::test_spec(chain({{"name", "sq"}, {"type", "square"}, {"concurrency", 2}}, 300,
                                      /*sink_delay_ms=*/1, bound)),
             testing::test_registry());
  p.run();
  EXPECT_EQ(testing::sink_log("out").values.size(), 300u);
  EXPECT_GT(Num::peak_from_source, 0);
  EXPECT_LE(Num::peak_from_source, bound);
  const auto stats = p.stats();
  EXPECT_LE(stats[0].peak_in_flight, bound);
  EXPECT_EQ(stats[0].peak_in_flight, bound);  // the sink is slow, so the bound is reached
  EXPECT_GT(stats[0].blocked_s, 0.1);         // and the source spends its time held back
}

TEST_F(PipelineTest, ExceptionInMiddleStageNamesItAndStopsCleanly) {
  Pipeline p(testing::test_spec(chain(
                 {{"name", "middle"}, {"type", "thrower"}, {"params", {{"fail_at", 7}}}}, -1)),
             testing::test_registry());
  try {
    p.run();
    FAIL() << "expected StageError";
  } catch (const StageError& e) {
    EXPECT_EQ(e.stage(), "middle");
    EXPECT_EQ(e.type(), "thrower");
    EXPECT_THAT(e.what(), HasSubstr("stage 'middle' (type thrower) failed: cannot handle 7"));
  }
  const auto log = testing::sink_log("out");
  EXPECT_TRUE(log.closed);
  EXPECT_FALSE(log.completed);
}

TEST_F(PipelineTest, NonStandardExceptionIsStillNamed) {
  Pipeline p(
      testing::test_spec(chain(
          {{"name", "middle"}, {"type", "thrower"}, {"params", {{"fail_at", 3}, {"mode", "int"}}}},
          10)),
      testing::test_registry());
  try {
    p.run();
    FAIL() << "expected StageError";
  } catch (const StageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("stage 'middle' (type thrower) failed: unknown exception"));
  }
}

TEST_F(PipelineTest, StopDrainsInFlightWorkAndFlushesSinks) {
  Pipeline p(testing::test_spec(chain({{"name", "sq"}, {"type", "square"}}, -1, 0.5, 6)),
             testing::test_registry());
  auto done = std::async(std::launch::async, [&] { p.run(); });
  while (testing::sink_log("out").values.size() < 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  p.request_stop();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready) << "stop hung";
  done.get();
  const auto log = testing::sink_log("out");
  EXPECT_TRUE(log.closed);
  EXPECT_TRUE(log.completed);
  const auto stats = p.stats();
  // Nothing in flight was dropped: everything the source made reached the sink.
  EXPECT_EQ(stats[0].out, log.values.size());
  EXPECT_EQ(stats[2].in, log.values.size());
}

TEST_F(PipelineTest, StageHoldingAllCreditsIsReportedAsAStall) {
  json spec = {{"version", 1},
               {"stages",
                {{{"name", "numbers"},
                  {"type", "counter"},
                  {"params", {{"count", 100}}},
                  {"max_in_flight", 3}},
                 {{"name", "keep"}, {"type", "hoarder"}}}},
               {"edges", {"numbers.out -> keep.in"}}};
  {
    Pipeline p(testing::test_spec(spec), testing::test_registry());
    try {
      p.run();
      FAIL() << "expected a stall error";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("pipeline stalled: source 'numbers' has all 3 credits"));
    }
  }
}

TEST_F(PipelineTest, FactoryErrorNamesTheStage) {
  Registry r;
  r.add(StageSchema("bad").input<Num>("in"),
        [](const StageContext&) -> std::unique_ptr<Stage> { throw std::runtime_error("no GPU"); });
  r.add(StageSchema("src").output<Num>("out"),
        [](const StageContext&) { return std::unique_ptr<Stage>(new Stage()); });
  const Spec spec = parse_spec(
      json{{"version", 1},
           {"stages", {{{"name", "s"}, {"type", "src"}}, {{"name", "b"}, {"type", "bad"}}}},
           {"edges", {"s.out -> b.in"}}},
      r);
  try {
    Pipeline p(spec, r);
    FAIL() << "expected StageError";
  } catch (const StageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("stage 'b' (type bad) failed: could not be created: no GPU"));
  }
}

TEST(Message, TypeCheckedAccess) {
  const Message m = Message::make<testing::Text>(testing::Text{"hi"});
  EXPECT_TRUE(m.is<testing::Text>());
  EXPECT_EQ(m.as<testing::Text>()->value, "hi");
  try {
    m.as<Num>();
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "message of type Text read as Num");
  }
}

}  // namespace
}  // namespace vsr

namespace vsr {
namespace {

TEST_F(PipelineTest, SerialChainKeepsOrder) {
  Pipeline p(testing::test_spec(
                 chain({{"name", "sq"}, {"type", "thrower"}, {"params", {{"fail_at", -5}}}}, 500)),
             testing::test_registry());
  p.run();
  const auto log = testing::sink_log("out");
  ASSERT_EQ(log.values.size(), 500u);
  for (long long i = 0; i < 500; ++i) ASSERT_EQ(log.values[i], i);
}

}  // namespace
}  // namespace vsr
