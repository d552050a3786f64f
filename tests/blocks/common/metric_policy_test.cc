// The metric policy every block kind declares beside itself (blocks/<family>/kinds.cc): the rule
// the issue asks for per kind (exact for data movement, ULP for elementwise, nmse for reductions),
// a reason for each, and replay carrying it to `ttt explain`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "blocks/common/block_kind.h"
#include "blocks/registration.h"

namespace ttt {
namespace {

TEST(MetricPolicy, EveryKindDeclaresItsRuleWithAReason) {
  // Written out by hand from what each kind does to its data (docs/metrics.md).
  const std::map<std::string, MetricRule> expected = {
      {"all_gather", MetricRule::exact},
      {"all_reduce", MetricRule::nmse},
      {"attention.decode", MetricRule::nmse},
      {"attention.prefill", MetricRule::nmse},
      {"broadcast", MetricRule::exact},
      {"distributed_rms_norm", MetricRule::nmse},
      {"embedding", MetricRule::exact},
      {"ep_moe", MetricRule::nmse},
      {"gated_mlp", MetricRule::nmse},
      {"layer_norm", MetricRule::nmse},
      {"lm_head", MetricRule::nmse},
      {"mlp", MetricRule::nmse},
      {"moe", MetricRule::nmse},
      {"reduce_scatter", MetricRule::nmse},
      {"rms_norm", MetricRule::nmse},
      {"rope", MetricRule::ulp},
      {"tp2d_gated_mlp", MetricRule::nmse},
      {"tp_attention", MetricRule::nmse},
      {"tp_embedding", MetricRule::exact},
      {"tp_gated_mlp", MetricRule::nmse},
      {"tp_lm_head", MetricRule::nmse},
  };
  for (const BlockKind& kind : block_kinds()) {
    SCOPED_TRACE(kind.name);
    const auto it = expected.find(kind.name);
    ASSERT_NE(it, expected.end()) << "a new kind: add its rule here and in docs/metrics.md";
    EXPECT_EQ(kind.metric_policy.rule, it->second);
    EXPECT_FALSE(kind.metric_policy.reason.empty());
  }
  EXPECT_EQ(find_block_kind("rope")->metric_policy.max_ulp, 4.0);
}

TEST(MetricPolicy, ReplayCarriesIt) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  for (const BlockKind& kind : block_kinds()) {
    EXPECT_EQ(registry.find(kind.name)->metric_policy.rule, kind.metric_policy.rule) << kind.name;
  }
  // The builtin kind of every trace tool: one product rounded to its output format.
  const BlockReplayer* scale = BlockRegistry::global().find("ttt.scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->metric_policy.rule, MetricRule::ulp);
  EXPECT_EQ(scale->metric_policy.max_ulp, 1.0);
}

}  // namespace
}  // namespace ttt
