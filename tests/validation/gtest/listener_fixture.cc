// A GoogleTest program with the validation listener installed, run by listener_test.cc as a
// subprocess: FailingCall must fail (only because of its wrapped call), the others pass.
#include <gtest/gtest.h>

#include "validation/gtest/listener.h"
#include "validation/wrapper/compare_to_reference.h"

namespace {

// gmock_main provides main(); the listener is installed before RUN_ALL_TESTS by this initializer.
const bool kValidationListener = (ttt::install_validation_listener(), true);

ttt::Tensor same(const ttt::Tensor& x) { return x; }

ttt::Tensor offset(const ttt::Tensor& x) {
  ttt::Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v += 1.0f;
  return y;
}

TEST(Fixture, PassingCalls) {
  auto scale = ttt::compare_to_reference("fixture.scale", same, same);
  scale(ttt::Tensor::from_floats({2}, {1, 2}));
  scale(ttt::Tensor::from_floats({2}, {3, 4}));
}

TEST(Fixture, FailingCall) {
  auto bad = ttt::compare_to_reference("fixture.offset", offset, same);
  bad(ttt::Tensor::from_floats({2}, {1, 2}));
}

TEST(Fixture, NoWrappedCalls) { EXPECT_TRUE(kValidationListener); }

}  // namespace
