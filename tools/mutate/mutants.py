"""The mutants of tools/mutate/mutate.py: realistic faults, each a one-place edit of the tree.

Every mutant names the file it edits, the exact original text (which must occur exactly once in
that file: `mutate.py --check` verifies it) and its replacement, a one-line description of the bug
it stands for, and the tests that are run for it: `tests`, a Python regular expression searched in
each CTest test name (the names are GoogleTest's `Suite.Case`, `Prefix/Suite.Case/Param`, or the
name given to add_test), and `programs`, test programs (executables) all of whose tests run.

The selection bounds what can catch a mutant: a test that is not selected is never run for it. So
a selection always holds the area's unit tests (the hand-checked cases included) and every golden,
suite or pattern test that could independently see the fault; tests labelled `slow` never run.

A replacement must compile with the `ci` preset's warnings as errors (no unused variable left
behind); a mutant that does not compile is reported as defective, not as caught.

When a real bug is found and fixed, add it here as a mutant (docs/testing.md, "Mutation runs").
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mutant:
    id: str  # Unique, "<area letter><number>-<short-name>".
    area: str  # One of AREAS.
    file: str  # Relative to the repository root.
    original: str  # Must occur exactly once in `file`.
    replacement: str
    description: str  # The realistic bug, in one line.
    tests: str = ""  # Python regex searched in CTest test names.
    programs: tuple = field(default_factory=tuple)  # Test executables run whole.


AREAS = ("numerics", "blocks", "metrics", "wrapper", "traces", "patterns")

# Selections shared by several mutants. Each names GoogleTest suites (the part before the dot).
GOLDENS = r"|^Goldens/GoldenFileTest\.|^GoldensTest\."
PATTERNS = r"|^(DecoderLayerTest|CausalLmTest|EmbeddingNorm|EmbeddingNormTest|BlockModules)\."
MODEL_QUICK = ("suites_model_quick_test",)
NORMS = (r"^(NormalizationHandChecked|RmsNormTest|RmsNormAccuracyTest|RmsNormReferenceTest|"
         r"LayerNormTest|LayerNormAccuracyTest|LayerNormReferenceTest|DistributedRmsNorm|"
         r"CclHandChecked|EdgeRegime|ScaleSensitivity)\." + GOLDENS + PATTERNS)
ROPE = (r"^(RopeHandChecked|RopeDefaultsTest|RopeDeviceTest|RopeReferenceTest|RopeScalingTest|"
        r"AttentionHandChecked|AttentionDeviceTest|AttentionReferenceTest|"
        r"AttentionConsistencyTest|AttentionModelTest|TpAttentionTest|EdgeRegime)\." + GOLDENS +
        PATTERNS)
ATTENTION = (r"^(AttentionHandChecked|AttentionConsistencyTest|AttentionDeviceTest|"
             r"AttentionFlashTest|AttentionModelTest|AttentionReferenceTest|AttentionWindowTest|"
             r"AttentionReplayTest|TpAttentionTest|TpAttentionKindTest|EdgeRegime|"
             r"ScaleSensitivity)\." + GOLDENS + PATTERNS)
FFN = (r"^(FfnHandChecked|MlpTest|MlpAccuracyTest|MlpReferenceTest|GatedMlpTest|"
       r"GatedMlpAccuracyTest|GatedMlpReferenceTest|MoeTest|MoeRoutingTest|EpMoeTest|"
       r"TpGatedMlpTest|Tp2dGatedMlpTest|ScaleSensitivity)\." + GOLDENS + PATTERNS)
LM_HEAD = (r"^(LmHeadHandChecked|LmHeadTest|LmHeadAccuracyTest|LmHeadReferenceTest|TpLmHeadTest|"
           r"EdgeRegime|CausalLmTest)\." + GOLDENS)
EMBEDDINGS = (r"^(EmbeddingsHandChecked|EmbeddingTest|EmbeddingErrorTest|TpEmbeddingTest|"
              r"EdgeRegime)\." + GOLDENS + PATTERNS)
CCL = (r"^(CclHandChecked|CclCollectives|CclNumerics|CclGoldens|DistributedRmsNorm|"
       r"TpGatedMlpTest|Tp2dGatedMlpTest|TpLmHeadTest|TpAttentionTest|TpEmbeddingTest|EpMoeTest|"
       r"MeshLayerTest|MeshReplayTest|SuiteMesh|MeshSeeding)\." + GOLDENS)
MATMUL = (r"^(DeviceMatmulTest|MlpAccuracyTest|GatedMlpAccuracyTest|LmHeadAccuracyTest|"
          r"AttentionDeviceTest|CclNumerics|FfnHandChecked|LmHeadHandChecked)\." + GOLDENS)
METRICS = (r"^(ComputeMetricsTest|AllcloseTest|UlpTest|UlpRuleTest|PccTest|ConcordanceTest|"
           r"FusedPassTest|ErrorDistributionTest|EvaluateTest|DefaultTolerancesTest|"
           r"MetricsJsonTest|BugOrPrecisionTest|LogitsOracle|ScaleSensitivity|AllClose|"
           r"PccAtLeast|MetricsWithin|CompareCommand|CompareThresholds|AccuracyCommand)\.")
WRAPPER = (r"^(CompareToReferenceTest|MeshOutputTest|MeshTraceTest|CallSinkTest|Report|Summarize|"
           r"ValidationRegistry|ValidationRecord|SwitchesTest|TraceCaptureTest|ErrorPropagation|"
           r"FirstBadLayerTest|BugOrPrecision|RunDiff|ThreadSafetyTest|DemoCommand)\.|^wrapper_")
TRACES = (r"^(TraceSession|TraceReader|ProcessWideSession|Replay|ReplayAgainstNames|InteropTrace|"
          r"TensorFile|Inspect|Journal|Recovery|CrashSafety|TokenGolden|TraceCaptureTest|"
          r"MeshTraceTest|AttentionReplayTest|TraceCommands|MeshReplay|BrokenMeshGroup|"
          r"MeshReplayTest|CclGoldens|BadInput|H5dump)\." + GOLDENS)

MUTANTS = [
    # ---- numerics: the device formats and the matrix unit's arithmetic ------------------------
    Mutant(
        "N01-bf16-round-half-away", "numerics", "validation/tensor/formats.cc",
        "const std::uint32_t rounded = bits + 0x7fffu + lowest_kept_bit;",
        "const std::uint32_t rounded = bits + 0x7fffu + (lowest_kept_bit | 1u);",
        "bfloat16 rounding ties away from zero instead of to even (docs/formats.md)",
        r"^(BFloat16|SixteenBitFormats|QuantizeInPlace|TensorTo|DeviceMatmulTest|CclNumerics|"
        r"CclGoldens|CclHandChecked|RmsNormTest|LayerNormTest)\." + GOLDENS),
    Mutant(
        "N02-shift-round-half-up", "numerics", "validation/tensor/formats.cc",
        "return (value + half_minus_one + lowest_kept_bit) >> shift;",
        "return (value + half_minus_one + (lowest_kept_bit | 1u)) >> shift;",
        "float16 and block-float mantissas round ties up instead of to even",
        r"^(Formats/)?(Float16|BlockFloat|PackBlockFloat|UnpackBlockFloat|QuantizeInPlace|"
        r"SixteenBitFormats|TensorTo|ReadNpy|InteropTrace|CclNumerics|CclGoldens|UlpTest)\." +
        GOLDENS),
    Mutant(
        "N03-bfp4-nibble-order", "numerics", "validation/tensor/formats.cc",
        "packed.mantissas[slot / 2] |= static_cast<std::uint8_t>(code << (4 * (slot % 2)));",
        "packed.mantissas[slot / 2] |= static_cast<std::uint8_t>(code << (4 * (1 - slot % 2)));",
        "bfloat4_b packing puts the even slot in the high nibble (unpacking unchanged)",
        r"^(Formats/)?(BlockFloat|BlockFloatLayout|PackBlockFloat|UnpackBlockFloat|TensorTo|"
        r"TensorStorage|ReadNpy|WriteNpy|TensorFile|InteropTrace)\."),
    Mutant(
        "N04-bf16-accumulation-chunk-32", "numerics", "blocks/common/matmul.cc",
        "constexpr std::int64_t kProductsPerDstUpdate = 16;",
        "constexpr std::int64_t kProductsPerDstUpdate = 32;",
        "bfloat16 accumulation rounds the running sum every 32 products of K instead of 16",
        MATMUL),
    Mutant(
        "N05-hifi3-phase-weights", "numerics", "blocks/common/matmul.cc",
        "gemm(x.low.data(), rows, w, w.high, block, 1.0f, out);",
        "gemm(x.low.data(), rows, w, w.all, block, 1.0f, out);",
        "HiFi3's third phase multiplies the activations' low bits by all weight bits (HiFi4's)",
        MATMUL),
    Mutant(
        "N06-norm-squares-unrounded", "numerics", "blocks/normalization/row_sums.cc",
        "tile += round_to_bfloat16(values[i] * values[i]);",
        "tile += values[i] * values[i];",
        "bfloat16 norm statistics (portable kernel, distributed norm) skip rounding each square",
        NORMS, MODEL_QUICK),
    # ---- blocks: normalization ----------------------------------------------------------------
    Mutant(
        "B01-rms-eps-after-sqrt", "blocks", "blocks/normalization/row_sums.cc",
        "round(1.0f / std::sqrt(mean_square + eps))",
        "round(1.0f / (std::sqrt(mean_square) + eps))",
        "RMSNorm adds eps after the square root (issue 19's fault that passed 810 tests)",
        NORMS, MODEL_QUICK),
    Mutant(
        "B02-rms-stat-shard-offset", "blocks", "blocks/normalization/rms_norm.cc",
        "sum += partials[static_cast<std::size_t>(r * shards + s)];",
        "sum += partials[static_cast<std::size_t>(r * shards)];",
        "a sharded RMSNorm adds the first chip's partial sum once per chip",
        NORMS, MODEL_QUICK),
    Mutant(
        "B03-rms-reference-dim-minus-one", "blocks", "blocks/normalization/rms_norm.cc",
        "mean_square /= static_cast<double>(dim);",
        "mean_square /= static_cast<double>(dim - 1);",
        "the RMSNorm reference divides the sum of squares by dim - 1",
        NORMS, MODEL_QUICK),
    Mutant(
        "B04-layernorm-unbiased-variance", "blocks", "blocks/normalization/layer_norm.cc",
        "const float variance = round_intermediate_(sums[static_cast<std::size_t>(r)] * inverse_dim);",
        "const float variance =\n"
        "        round_intermediate_(sums[static_cast<std::size_t>(r)] / static_cast<float>(dim - 1));",
        "LayerNorm's device path uses the unbiased variance (n - 1) instead of the biased one",
        NORMS, MODEL_QUICK),
    Mutant(
        "B05-layernorm-eps-after-sqrt", "blocks", "blocks/normalization/layer_norm.cc",
        "round_intermediate_(1.0f / std::sqrt(variance + eps))",
        "round_intermediate_(1.0f / (std::sqrt(variance) + eps))",
        "LayerNorm adds eps after the square root of the variance",
        NORMS, MODEL_QUICK),
    # ---- blocks: RoPE -------------------------------------------------------------------------
    Mutant(
        "B06-rope-sin-sign", "blocks", "blocks/rope/rope.cc",
        "first[i] = a * cos_row[i] - b * sin_row[i];",
        "first[i] = a * cos_row[i] + b * sin_row[i];",
        "RoPE rotates the first half with the wrong sign of sin",
        ROPE, MODEL_QUICK),
    Mutant(
        "B07-rope-half-rotation-index", "blocks", "blocks/rope/rope.cc",
        "float* second = first + half_;",
        "float* second = first + head_dim / 2;",
        "rotate-half pairs value i with i + head_dim / 2, not i + rotary_dim / 2 (partial rotary)",
        ROPE, MODEL_QUICK),
    Mutant(
        "B08-rope-llama3-smoothing-inverted", "blocks", "blocks/rope/rope.cc",
        "frequency = (1.0 - smooth) * frequency / spec.factor + smooth * frequency;",
        "frequency = smooth * frequency / spec.factor + (1.0 - smooth) * frequency;",
        "llama3 RoPE scaling interpolates the medium frequencies the wrong way round",
        ROPE + r"|^(InteropTrace)\.", MODEL_QUICK),
    # ---- blocks: attention --------------------------------------------------------------------
    Mutant(
        "B09-causal-mask-off-by-one", "blocks", "blocks/attention/attention.cc",
        "if (key > query_position || key < first_visible) {",
        "if (key >= query_position || key < first_visible) {",
        "the causal mask hides the query's own position",
        ATTENTION, MODEL_QUICK),
    Mutant(
        "B10-sliding-window-edge", "blocks", "blocks/attention/attention.cc",
        "const std::int64_t first_visible = query_position - params.window + 1;",
        "const std::int64_t first_visible = query_position - params.window;",
        "the sliding window admits one key too many",
        ATTENTION, MODEL_QUICK),
    Mutant(
        "B11-attention-softcap-inside", "blocks", "blocks/attention/attention.cc",
        "if constexpr (kSoftcap) score = params.cap * std::tanh(score / params.cap);",
        "if constexpr (kSoftcap) score = params.cap * std::tanh(score);",
        "the attention softcap is cap * tanh(s) instead of cap * tanh(s / cap)",
        ATTENTION, MODEL_QUICK),
    Mutant(
        "B12-decode-kv-position-off-by-one", "blocks", "blocks/attention/attention.cc",
        "const std::int64_t keys = position - first + 1;",
        "const std::int64_t keys = position - first;",
        "decode attends to the cache up to position - 1, leaving out the key it just wrote",
        ATTENTION, MODEL_QUICK),
    Mutant(
        "B13-decode-user-zero-position", "blocks", "blocks/attention/attention.cc",
        "const std::int64_t position = position_values[static_cast<std::size_t>(b)];",
        "const std::int64_t position = position_values[0];",
        "decode reads every user's position from user 0",
        ATTENTION, MODEL_QUICK),
    Mutant(
        "B14-gqa-prefill-head-mapping", "blocks", "blocks/attention/attention.cc",
        "h.q.data() + (t * layout.heads + g * group + r) * head_dim",
        "h.q.data() + (t * layout.heads + r * layout.kv_heads + g) * head_dim",
        "prefill GQA maps query heads to KV heads interleaved instead of in contiguous groups",
        ATTENTION, MODEL_QUICK),
    Mutant(
        "B15-gqa-decode-query-offset", "blocks", "blocks/attention/attention.cc",
        "kernels.scores.run(h.q.data() + g * group * head_dim_, group, kt_matrix, scores.data());",
        "kernels.scores.run(h.q.data() + g * head_dim_, group, kt_matrix, scores.data());",
        "decode GQA reads KV head g's queries without the group stride",
        ATTENTION, MODEL_QUICK),
    Mutant(
        "B16-query-pre-attn-scalar-ignored", "blocks", "blocks/attention/attention.cc",
        "query_pre_attn_scalar > 0.0 ? query_pre_attn_scalar : static_cast<double>(dim_per_head());",
        "static_cast<double>(dim_per_head());",
        "the score scale ignores query_pre_attn_scalar (Gemma 2): wrong scale, reference too",
        ATTENTION, MODEL_QUICK),
    # ---- blocks: FFN --------------------------------------------------------------------------
    Mutant(
        "B17-gated-mlp-gate-up-swapped", "blocks", "blocks/ffn/gated_mlp.cc",
        "activation_(gate);",
        "activation_(up);",
        "the gated MLP activates the up projection instead of the gate",
        FFN, MODEL_QUICK),
    Mutant(
        "B18-gelu-tanh-for-erf", "blocks", "blocks/ffn/activation.cc",
        "  const float inverse_sqrt2 = static_cast<float>(1.0 / std::numbers::sqrt2);\n"
        "  for (float& x : values) x = 0.5f * x * (1.0f + std::erf(x * inverse_sqrt2));",
        "  const float sqrt_2_over_pi = static_cast<float>(std::sqrt(2.0 / std::numbers::pi));\n"
        "  for (float& x : values) {\n"
        "    x = 0.5f * x * (1.0f + std::tanh(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));\n"
        "  }",
        "exact gelu computed with the tanh approximation",
        FFN, MODEL_QUICK),
    Mutant(
        "B19-moe-softmax-over-all-experts", "blocks", "blocks/ffn/moe.cc",
        "  for (ExpertChoice& choice : choices) choice.weight = round_to_bfloat16(choice.weight / sum);",
        "  sum = 0.0f;\n"
        "  for (float logit : logits) sum += std::exp(logit - maximum);\n"
        "  for (ExpertChoice& choice : choices) choice.weight = round_to_bfloat16(choice.weight / sum);",
        "MoE routing weights are a softmax over all experts, not renormalised over the top k",
        FFN, MODEL_QUICK),
    # ---- blocks: LM head and embeddings -------------------------------------------------------
    Mutant(
        "B20-lm-head-softcap-inside", "blocks", "blocks/lm_head/lm_head.cc",
        "logits[i] = cap * std::tanh(logits[i] / cap);",
        "logits[i] = cap * std::tanh(logits[i]);",
        "the LM head's softcap is cap * tanh(x) instead of cap * tanh(x / cap)",
        LM_HEAD, MODEL_QUICK),
    Mutant(
        "B21-tied-lm-head-not-transposed", "blocks", "blocks/lm_head/lm_head.cc",
        "target[c] = tied ? values[(begin + c) * hidden + h] : values[h * vocab + begin + c];",
        "target[c] = values[h * vocab + begin + c];",
        "a tied LM head reads the [vocab, hidden] embedding table as if it were [hidden, vocab]",
        LM_HEAD, MODEL_QUICK),
    Mutant(
        "B22-embedding-scale-on-positions", "blocks", "blocks/embeddings/embedding.cc",
        "for (std::int64_t d = 0; d < hidden; ++d) target[d] += row[d];",
        "for (std::int64_t d = 0; d < hidden; ++d) target[d] += row[d] * tables.scale;",
        "the embedding scale is applied to the position row as well as the token row",
        EMBEDDINGS, MODEL_QUICK),
    Mutant(
        "B23-sinusoid-sin-cos-swapped", "blocks", "blocks/embeddings/embedding.cc",
        "values[static_cast<std::size_t>(p * hidden + d)] =\n"
        "                  d % 2 == 0 ? std::sin(angle) : std::cos(angle);",
        "values[static_cast<std::size_t>(p * hidden + d)] =\n"
        "                  d % 2 == 0 ? std::cos(angle) : std::sin(angle);",
        "the device's sinusoidal position table interleaves cos before sin",
        EMBEDDINGS, MODEL_QUICK),
    # ---- blocks: collectives ------------------------------------------------------------------
    Mutant(
        "C01-ring-order", "blocks", "blocks/ccl/ccl_common.cc",
        "int ring_hop(int chunk, int hop, int n) { return (chunk + 1 + hop) % n; }",
        "int ring_hop(int chunk, int hop, int n) { return (chunk + hop) % n; }",
        "a ring reduce-scatter starts each chunk's partial sum at its own device, not the next",
        CCL),
    Mutant(
        "C02-mesh-column-group-stride", "blocks", "blocks/ccl/ccl_common.cc",
        "position * mesh.cols + group",
        "position * mesh.rows + group",
        "a collective along mesh rows strides by the row count (wrong devices on TG's 8x4)",
        CCL),
    # ---- metrics ------------------------------------------------------------------------------
    Mutant(
        "M01-nmse-over-actual-energy", "metrics", "validation/metrics/metrics.cc",
        "m.nmse = t.sum_squared_error / t.sum_expected_squared;",
        "m.nmse = t.sum_squared_error / t.sum_actual_squared;",
        "nmse is normalised by the actual side's energy instead of the expected side's",
        METRICS),
    Mutant(
        "M02-ccc-mean-gap-per-element", "metrics", "validation/metrics/metrics.cc",
        "t.m2_actual + t.m2_expected + static_cast<double>(t.numel) * mean_gap * mean_gap;",
        "t.m2_actual + t.m2_expected + mean_gap * mean_gap;",
        "CCC's mean-gap term is not multiplied by n (sums mixed with a mean)",
        METRICS),
    Mutant(
        "M03-pcc-constant-side-is-one", "metrics", "validation/metrics/metrics.cc",
        "    return metrics_internal::masked_allclose(input, 1e-5, 1e-4) ? 1.0 : 0.0;",
        "    (void)input;\n    return 1.0;",
        "PCC with one constant side returns 1 (tt-metal issues #24928 and #25137)",
        METRICS),
    Mutant(
        "M04-bf16-ulp-eight-bits", "metrics", "validation/metrics/passes.cc",
        "rule = {UlpRule::Kind::ieee, 7, -126, 1};",
        "rule = {UlpRule::Kind::ieee, 8, -126, 1};",
        "a bfloat16 ULP counts the implicit bit as a mantissa bit (half the real ULP)",
        METRICS),
    Mutant(
        "M05-block-ulp-exponent-bias", "metrics", "validation/metrics/passes.cc",
        "std::ldexp(1.0, 126 + input.ulp.mantissa_bits - static_cast<int>(shared));",
        "std::ldexp(1.0, 127 + input.ulp.mantissa_bits - static_cast<int>(shared));",
        "the block-float ULP unit uses bias 127, not 126 (every ULP count doubles)",
        METRICS),
    # ---- wrapper ------------------------------------------------------------------------------
    Mutant(
        "W01-compares-device-with-itself", "wrapper", "validation/wrapper/checked_call.cc",
        "compute_metrics(actual.tensor, expected->tensor, description.options.metrics);",
        "compute_metrics(actual.tensor, actual.tensor, description.options.metrics);",
        "the wrapper compares the device output with itself instead of the reference",
        WRAPPER),
    Mutant(
        "W02-reference-only-output-dropped", "wrapper", "validation/wrapper/checked_call.cc",
        "if (detail::find_named(data.device_outputs, expected.name) != nullptr) continue;",
        "continue;",
        "an output the reference has and the device lacks is not reported",
        WRAPPER),
    Mutant(
        "W03-registry-drops-failed-records", "wrapper", "validation/wrapper/registry.cc",
        "records_.insert(position, std::move(record));",
        "if (record.passed) records_.insert(position, std::move(record));",
        "the validation registry drops the records of failed calls",
        WRAPPER),
    Mutant(
        "W04-device-check-wrong-slice", "wrapper", "validation/wrapper/checked_call.cc",
        "compute_metrics(actual.shards[device], slices.shards[device], options);",
        "compute_metrics(actual.shards[device], slices.shards[0], options);",
        "each mesh device's shard is compared with device 0's slice of the reference",
        WRAPPER),
    # ---- traces -------------------------------------------------------------------------------
    Mutant(
        "T01-stale-kv-cache-linked", "traces", "validation/trace/capture.cc",
        "if (it != written_inputs.end() && same_values(it->second.path, tensor)) {",
        "if (it != written_inputs.end()) {",
        "capture links a KV cache updated in place to its earlier (stale) dataset",
        TRACES),
    Mutant(
        "T02-writer-stores-storage-dtype", "traces", "validation/trace/capture.cc",
        "const std::string dtype(dtype_name(tensor.dtype()));",
        "const std::string dtype(h5::stored_type_name(h5::stored_type_for(tensor.dtype())));",
        "the trace writer records the storage type (float32) as ttt_dtype, losing bfloat16 etc.",
        TRACES),
    Mutant(
        "T03-writer-reverses-shape", "traces", "validation/trace/internal/h5.cc",
        "    const std::vector<hsize_t> dims = to_hsize(shape);",
        "    std::vector<hsize_t> dims = to_hsize(shape);\n"
        "    std::reverse(dims.begin(), dims.end());",
        "datasets are created with the shape in column-major (Fortran) order",
        TRACES),
    Mutant(
        "T04-replay-swaps-k-and-v", "traces", "blocks/attention/kinds.cc",
        "  const Tensor k_cache = call.input(\"k_cache\");\n"
        "  const Tensor v_cache = call.input(\"v_cache\");",
        "  const Tensor k_cache = call.input(\"v_cache\");\n"
        "  const Tensor v_cache = call.input(\"k_cache\");",
        "replay binds a decode call's k_cache and v_cache inputs swapped (device and reference)",
        TRACES + r"|^(AttentionHandChecked|AttentionConsistencyTest|BlockKinds)\."),
    Mutant(
        "T05-reader-container-name-order", "traces", "validation/trace/trace_reader.cc",
        "return std::stoll(a) < std::stoll(b);",
        "return a < b;",
        "the reader orders container elements by name (\"10\" before \"2\"), swapping inputs",
        TRACES),
    # ---- patterns -----------------------------------------------------------------------------
    Mutant(
        "P01-decoder-returns-attention-residual", "patterns", "patterns/decoder_layer.cc",
        "  if (calls.post_ffn_norm.prefill) update = run(calls.post_ffn_norm, update, Mode::prefill, site);\n"
        "  return residual_add(h, update, dtype, path_);",
        "  if (calls.post_ffn_norm.prefill) update = run(calls.post_ffn_norm, update, Mode::prefill, site);\n"
        "  return h;",
        "the decoder layer's prefill returns the attention residual, dropping the FFN's update",
        PATTERNS[1:] + r"|^(MeshLayerTest|ErrorPropagation|FirstBadLayerTest|RunDiff|TokenAccuracy|"
        r"TrainedModel|LlamaModel|Demo|DemoCommand|DeviceCompose|BugOrPrecision)\.",
        MODEL_QUICK),
]
