#include "validation/gtest/listener.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>

#include "validation/markup/number.h"
#include "validation/wrapper/registry.h"

namespace ttt {
namespace {

// "layers.0.mlp: 3 calls, 1 failed, worst pcc 0.9812; embed: 1 call, 0 failed, worst pcc 1".
std::string summary_line(const ValidationSummary& summary) {
  std::string text;
  for (const NameSummary& name : summary.names) {
    if (!text.empty()) text += "; ";
    text += name.name + ": " + std::to_string(name.calls) +
            (name.calls == 1 ? " call, " : " calls, ") + std::to_string(name.failed) + " failed";
    if (name.worst_pcc.has_value()) text += ", worst pcc " + format_significant(*name.worst_pcc, 6);
  }
  return text;
}

}  // namespace

void ValidationListener::OnTestStart(const ::testing::TestInfo&) {
  first_sequence_ = validation_registry().next_sequence();
}

void ValidationListener::OnTestEnd(const ::testing::TestInfo&) {
  const std::vector<ValidationRecord> records =
      validation_registry().records({.min_sequence = first_sequence_});
  if (records.empty()) return;
  const ValidationSummary summary = summarize(records);
  if (options_.record_properties) {
    ::testing::Test::RecordProperty("ttt_validation_calls", std::to_string(summary.calls));
    ::testing::Test::RecordProperty("ttt_validation_passed", std::to_string(summary.passed));
    ::testing::Test::RecordProperty("ttt_validation_failed", std::to_string(summary.failed));
    std::optional<double> worst_pcc;
    for (const NameSummary& name : summary.names) {
      if (name.worst_pcc.has_value() && (!worst_pcc.has_value() || *name.worst_pcc < *worst_pcc)) {
        worst_pcc = name.worst_pcc;
      }
    }
    if (worst_pcc.has_value()) {
      ::testing::Test::RecordProperty("ttt_validation_worst_pcc", format_number(*worst_pcc));
    }
    ::testing::Test::RecordProperty("ttt_validation_summary", summary_line(summary));
  }
  if (!options_.fail_test_on_failed_calls || summary.failed == 0) return;
  std::ostringstream message;
  message << summary.failed << " of " << summary.calls << " wrapped calls failed:";
  const ValidationRecord* first_failed = nullptr;
  for (const ValidationRecord& record : records) {
    if (record.passed) continue;
    if (first_failed == nullptr) first_failed = &record;
    message << "\n  " << record.name << " call " << record.call_index << " ("
            << record.location.text() << "): " << record.verdict_text();
  }
  ADD_FAILURE_AT(first_failed->location.file.c_str(), static_cast<int>(first_failed->location.line))
      << message.str();
}

void install_validation_listener(ValidationListenerOptions options) {
  ::testing::UnitTest::GetInstance()->listeners().Append(new ValidationListener(options));
}

}  // namespace ttt
