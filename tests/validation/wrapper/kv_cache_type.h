// A user type with a customization point (ttt_visit_tensors found by argument-dependent lookup in
// the user's namespace), as a model's KV cache would be: two tensors and a plain int. Shared by
// the wrapper tests that read, compare and teacher-force it.
#pragma once

#include "validation/wrapper/tensor_visit.h"

namespace model {

struct KvCache {
  ttt::Tensor k;
  ttt::Tensor v;
  int length = 0;
};

inline void ttt_visit_tensors(KvCache& cache, ttt::TensorVisitor& visit) {
  visit("k", cache.k);
  visit("v", cache.v);
  visit("length", cache.length);
}

}  // namespace model
