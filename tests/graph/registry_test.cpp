#include "graph/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/errors.h"
#include "tests/graph/test_stages.h"

namespace vsr {
namespace {

using ::testing::HasSubstr;

TEST(Registry, HoldsEveryTestStageWithItsSchema) {
  const Registry& r = testing::test_registry();
  EXPECT_EQ(r.names(), (std::vector<std::string>{"add_pair", "counter", "hoarder", "sink", "square",
                                                 "thrower", "to_text"}));
  const StageSchema& counter = r.get("counter").schema;
  EXPECT_EQ(counter.kind(), StageKind::kSource);
  ASSERT_EQ(counter.outputs().size(), 1u);
  EXPECT_EQ(counter.outputs()[0].type, "Num");
  ASSERT_NE(counter.param("count"), nullptr);
  EXPECT_EQ(counter.param("count")->default_value, 10);
  EXPECT_TRUE(r.get("square").schema.allows_concurrency());
  EXPECT_FALSE(r.get("sink").schema.allows_concurrency());
}

TEST(Registry, DuplicateRegistrationIsAnError) {
  Registry r;
  r.add(StageSchema("x"), nullptr);
  try {
    r.add(StageSchema("x"), nullptr);
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("stage type 'x' is registered twice"));
  }
}

TEST(Registry, UnknownTypeListsKnownOnesAndSuggests) {
  try {
    testing::test_registry().get("sqare");
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown stage type 'sqare' (did you mean 'square'?)"));
    EXPECT_THAT(e.what(), HasSubstr("known types: add_pair, counter, hoarder, sink, square"));
  }
}

TEST(Registry, DefaultMustMatchItsType) {
  EXPECT_THROW(StageSchema("y").optional("n", ParamType::kInt, "ten", "doc"), Error);
}

TEST(Registry, ClosestMatch) {
  EXPECT_EQ(closest_match("concurency", {"concurrency", "name"}), "concurrency");
  EXPECT_EQ(closest_match("zzzzzz", {"concurrency", "name"}), "");
}

}  // namespace
}  // namespace vsr
