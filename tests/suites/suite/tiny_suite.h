// The tiny suite of the registry tests (library and CLI): an RMSNorm in decode and a gated MLP in
// prefill, both small enough to run in milliseconds.
#pragma once

namespace ttt::test_support {

inline constexpr const char* kTinySuite = R"({
  "suite": "tiny",
  "defaults": {"warmup": 0, "expect": {"pcc": 0.99}},
  "cases": [
    {"name": "norm", "block": "rms_norm", "mode": "decode", "spec": {"dim": 64}},
    {"name": "ffn", "block": "gated_mlp", "mode": "prefill",
     "spec": {"hidden_dim": 64, "ffn_dim": 128}, "shapes": {"seq_len": 12}}
  ]})";

}  // namespace ttt::test_support
