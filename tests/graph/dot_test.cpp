#include "graph/dot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/graph/test_stages.h"

namespace vsr {
namespace {

using ::testing::HasSubstr;

TEST(Dot, ShowsStagesTypesConcurrencyAndEdgeTypesAndRenders) {
  const Spec spec = testing::test_spec(json::parse(R"({
    "version": 1, "name": "demo",
    "stages": [
      {"name": "numbers", "type": "counter", "params": {"count": 5}, "max_in_flight": 3},
      {"name": "sq", "type": "square", "concurrency": 2},
      {"name": "txt", "type": "to_text", "params": {"prefix": "n=\"q\""}},
      {"name": "out", "type": "sink"}
    ],
    "edges": ["numbers.out -> sq.in", "sq.out -> out.in", "sq.out -> txt.in"]
  })"));
  const std::string dot = to_dot(spec, testing::test_registry());
  EXPECT_THAT(dot, HasSubstr("digraph \"demo\""));
  EXPECT_THAT(dot, HasSubstr("\"numbers\" [label=\"numbers\\n[counter]\\nsource, max_in_flight "
                             "3\\nconcurrency 1\\ncount = 5\"]"));
  EXPECT_THAT(dot, HasSubstr("\"sq\" [label=\"sq\\n[square]\\nconcurrency 2\"]"));
  EXPECT_THAT(dot, HasSubstr("\"sq\" -> \"out\" [label=\"out -> in\\nNum\"]"));
  EXPECT_THAT(dot, HasSubstr("prefix = n=\\\"q\\\""));      // quotes escaped
  EXPECT_THAT(dot, ::testing::Not(HasSubstr("delay_ms")));  // defaults are left out

  const std::string base = ::testing::TempDir() + "/vsr_dot_test";
  std::ofstream(base + ".dot") << dot;
  ASSERT_EQ(std::system(("dot -Tsvg " + base + ".dot -o " + base + ".svg").c_str()), 0)
      << "Graphviz rejected:\n"
      << dot;
  std::ifstream svg(base + ".svg");
  std::stringstream text;
  text << svg.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("<svg"));
  EXPECT_THAT(text.str(), HasSubstr("numbers"));
}

}  // namespace
}  // namespace vsr
