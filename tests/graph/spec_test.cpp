#include "graph/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "common/errors.h"
#include "tests/graph/test_stages.h"

namespace vsr {
namespace {

using ::testing::HasSubstr;

json good_spec() {
  return json::parse(R"({
    "version": 1, "name": "t", "max_in_flight": 4,
    "stages": [
      {"name": "numbers", "type": "counter", "params": {"count": 5}},
      {"name": "sq", "type": "square", "concurrency": 2},
      {"name": "out", "type": "sink"}
    ],
    "edges": ["numbers.out -> sq.in", {"from": "sq.out", "to": "out.in"}]
  })");
}

std::vector<SpecProblem> problems(const json& doc) {
  return check_spec(doc, testing::test_registry());
}

// The one problem reported at `path`; fails the test if there is not exactly one.
std::string problem_at(const json& doc, const std::string& path) {
  std::vector<std::string> found;
  for (const auto& p : problems(doc)) {
    if (p.path == path) found.push_back(p.message);
  }
  EXPECT_EQ(found.size(), 1u) << "problems at " << path;
  return found.empty() ? "" : found[0];
}

TEST(Spec, GoodSpecResolvesWithDefaults) {
  Spec spec;
  ASSERT_TRUE(check_spec(good_spec(), testing::test_registry(), &spec).empty());
  ASSERT_EQ(spec.stages.size(), 3u);
  EXPECT_EQ(spec.stages[0].max_in_flight, 4);  // from the spec-level default
  EXPECT_EQ(spec.stages[0].params["count"], 5);
  EXPECT_EQ(spec.stages[1].concurrency, 2);
  EXPECT_EQ(spec.stages[2].params["delay_ms"], 0.0);  // default filled in
  ASSERT_EQ(spec.edges.size(), 2u);
  EXPECT_EQ(spec.edges[1].from.str(), "sq.out");
  EXPECT_EQ(spec.edges[1].type, "Num");
  // Round trip through to_json gives the same resolved spec.
  Spec again = parse_spec(to_json(spec), testing::test_registry());
  EXPECT_EQ(to_json(again), to_json(spec));
}

TEST(Spec, UnknownStageType) {
  json d = good_spec();
  d["stages"][1]["type"] = "sqare";
  EXPECT_THAT(problem_at(d, "$.stages[1].type"),
              HasSubstr("unknown stage type 'sqare' (did you mean 'square'?)"));
}

TEST(Spec, UnknownParamWithSuggestion) {
  json d = good_spec();
  d["stages"][0]["params"]["cont"] = 3;
  EXPECT_THAT(problem_at(d, "$.stages[0].params.cont"),
              HasSubstr("unknown param 'cont' for stage type counter (did you mean 'count'?)"));
}

TEST(Spec, MistypedParam) {
  json d = good_spec();
  d["stages"][0]["params"]["count"] = "five";
  EXPECT_EQ(problem_at(d, "$.stages[0].params.count"), "expected int, found string \"five\"");
}

TEST(Spec, MissingRequiredParam) {
  json d = good_spec();
  d["stages"][1] = {{"name", "sq"}, {"type", "thrower"}};
  EXPECT_THAT(problem_at(d, "$.stages[1].params.fail_at"),
              HasSubstr("missing required param 'fail_at' (int: the number that makes it throw)"));
}

TEST(Spec, ParamOutOfRangeAndNotAChoice) {
  json d = good_spec();
  d["stages"][2]["params"]["delay_ms"] = 5000;
  EXPECT_EQ(problem_at(d, "$.stages[2].params.delay_ms"), "value 5000 out of range [0, 1000]");
  d["stages"][1] = {
      {"name", "sq"}, {"type", "thrower"}, {"params", {{"fail_at", 1}, {"mode", "x"}}}};
  EXPECT_EQ(problem_at(d, "$.stages[1].params.mode"),
            "expected one of 'runtime', 'int', found \"x\"");
}

TEST(Spec, ConcurrencyOnlyWhereAllowed) {
  json d = good_spec();
  d["stages"][2]["concurrency"] = 3;
  EXPECT_THAT(problem_at(d, "$.stages[2].concurrency"),
              HasSubstr("stage type sink is serial and runs with concurrency 1"));
  d = good_spec();
  d["stages"][1]["concurrency"] = 0;
  EXPECT_THAT(problem_at(d, "$.stages[1].concurrency"),
              HasSubstr("expected an integer >= 1 or \"unlimited\", found 0"));
  d["stages"][1]["max_in_flight"] = 2;
  EXPECT_THAT(problem_at(d, "$.stages[1].max_in_flight"), HasSubstr("only sources take"));
}

TEST(Spec, EdgeToUnknownStageOrPort) {
  json d = good_spec();
  d["edges"][0] = "numbrs.out -> sq.in";
  EXPECT_THAT(problem_at(d, "$.edges[0]"),
              HasSubstr("edge names unknown stage 'numbrs' (did you mean 'numbers'?)"));
  d["edges"][0] = "numbers.output -> sq.in";
  EXPECT_EQ(problem_at(d, "$.edges[0]"),
            "stage 'numbers' (type counter) has no output port 'output'; its outputs: 'out'");
  d["edges"][0] = "numbers.out -> sq.out";
  EXPECT_EQ(problem_at(d, "$.edges[0]"),
            "stage 'sq' (type square) has no input port 'out'; its inputs: 'in'");
  d["edges"][0] = "numbers.out sq.in";
  EXPECT_THAT(problem_at(d, "$.edges[0]"), HasSubstr("expected \"stage.port -> stage.port\""));
}

TEST(Spec, PortTypeMismatchNamesBothEnds) {
  json d = good_spec();
  d["stages"][1] = {{"name", "sq"}, {"type", "to_text"}};
  EXPECT_EQ(problem_at(d, "$.edges[1]"),
            "type mismatch: sq.out (stage type to_text) emits Text but out.in (stage type sink) "
            "takes Num");
}

TEST(Spec, UnconnectedInput) {
  json d = good_spec();
  d["stages"].push_back({{"name", "pair"}, {"type", "add_pair"}});
  d["edges"].push_back("numbers.out -> pair.a");
  EXPECT_THAT(problem_at(d, "$.stages[3]"),
              HasSubstr("input pair.b (Num) is not connected; add an edge"));
}

TEST(Spec, DuplicateStageName) {
  json d = good_spec();
  d["stages"][2]["name"] = "sq";
  d["stages"][2]["type"] = "square";
  EXPECT_EQ(problem_at(d, "$.stages[2].name"),
            "duplicate stage name 'sq' (first used at $.stages[1]); stage names must be unique");
}

TEST(Spec, Cycle) {
  json d = good_spec();
  d["stages"].push_back({{"name", "sq2"}, {"type", "square"}});
  d["stages"].push_back({{"name", "pair"}, {"type", "add_pair"}});
  d["edges"] = {"numbers.out -> pair.a", "sq2.out -> pair.b", "pair.out -> sq.in",
                "sq.out -> sq2.in", "sq.out -> out.in"};
  EXPECT_THAT(problem_at(d, "$.edges"), HasSubstr("cycle: pair -> sq -> sq2 -> pair"));
}

TEST(Spec, VersionAndUnknownTopLevelKeys) {
  json d = good_spec();
  d["version"] = 2;
  d["stagez"] = json::array();
  EXPECT_THAT(problem_at(d, "$.version"), HasSubstr("expected 1, found 2"));
  EXPECT_THAT(problem_at(d, "$.stagez"),
              HasSubstr("unknown key 'stagez' (did you mean 'stages'?)"));
  d.erase("version");
  EXPECT_THAT(problem_at(d, "$.version"), HasSubstr("missing; add \"version\": 1"));
}

TEST(Spec, EveryProblemAtOnce) {
  json d = good_spec();
  d["stages"][0]["params"]["count"] = "x";
  d["stages"][1]["type"] = "nope";
  d["stages"][2]["params"]["bogus"] = 1;
  d["edges"].push_back("ghost.out -> out.in");
  try {
    parse_spec(d, testing::test_registry(), "my.json");
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    const std::string msg = e.what();
    EXPECT_THAT(msg, HasSubstr("my.json: "));
    EXPECT_THAT(msg, HasSubstr("$.stages[0].params.count: expected int"));
    EXPECT_THAT(msg, HasSubstr("$.stages[1].type: unknown stage type 'nope'"));
    EXPECT_THAT(msg, HasSubstr("$.stages[2].params.bogus: unknown param"));
    EXPECT_THAT(msg, HasSubstr("$.edges[2]: edge names unknown stage 'ghost'"));
  }
}

TEST(Spec, JsonSyntaxErrorNamesFileLineAndColumn) {
  const std::string path = ::testing::TempDir() + "/broken_spec.json";
  std::ofstream(path) << "{\n  \"version\": 1,\n  \"stages\": [,]\n}\n";
  try {
    read_json_file(path);
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path + ":3:"));
    EXPECT_THAT(e.what(), HasSubstr("invalid JSON"));
  }
  EXPECT_THROW(read_json_file(path + ".missing"), SpecError);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vsr
