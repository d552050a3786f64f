#include "validation/trace/explain.h"

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ttt {

ExplainSummary summarize_explanations(const ReplayReport& report) {
  ExplainSummary summary;
  for (const ReplayedCall& call : report.calls) {
    ++summary.total;
    if (!call.finding) {
      ++summary.not_judged;
      continue;
    }
    switch (*call.finding) {
      case PrecisionFinding::accurate:
        ++summary.accurate;
        break;
      case PrecisionFinding::precision_limited:
        ++summary.precision_limited;
        break;
      case PrecisionFinding::not_explained:
        ++summary.not_explained;
        if (summary.first_not_explained_seq) break;
        summary.first_not_explained_seq = call.seq;
        summary.first_not_explained_name = call.name;
        for (const ReplayExplanation& explained : call.explanations) {
          if (explained.explanation.finding != PrecisionFinding::not_explained) continue;
          summary.first_not_explained_text = explained.output + ": " + explained.explanation.text;
          break;
        }
        break;
    }
  }
  return summary;
}

ReplayOptions explain_options(ReplayOptions options) {
  options.explain = true;
  options.against = ReplayAgainst::both;
  return options;
}

nlohmann::json explain_report_json(const ReplayReport& report) {
  const ExplainSummary summary = summarize_explanations(report);
  nlohmann::json calls = nlohmann::json::array();
  for (const ReplayedCall& call : report.calls) calls.push_back(to_json(call));
  nlohmann::json first = nullptr;
  if (summary.first_not_explained_seq) {
    first = {{"seq", *summary.first_not_explained_seq},
             {"name", summary.first_not_explained_name},
             {"text", summary.first_not_explained_text}};
  }
  return {{"trace", report.trace},
          {"calls", std::move(calls)},
          {"summary",
           {{"total", summary.total},
            {"accurate", summary.accurate},
            {"precision_limited", summary.precision_limited},
            {"not_explained", summary.not_explained},
            {"not_judged", summary.not_judged},
            {"first_not_explained", std::move(first)}}}};
}

std::string format_explanations(const ReplayReport& report) {
  std::ostringstream text;
  std::map<std::string, std::int64_t> not_judged;
  for (const ReplayedCall& call : report.calls) {
    if (!call.finding) {
      ++not_judged[call.message];
      continue;
    }
    for (const ReplayExplanation& explained : call.explanations) {
      if (explained.explanation.finding == PrecisionFinding::accurate) continue;
      text << call.seq << " " << call.name << " (" << call.block << ") " << explained.output << ": "
           << explained.explanation.text << "\n";
    }
  }
  for (const auto& [reason, count] : not_judged) {
    text << "not judged: " << count << (count == 1 ? " call: " : " calls: ") << reason << "\n";
  }
  const ExplainSummary summary = summarize_explanations(report);
  text << report.trace << ": " << summary.total << " calls: " << summary.accurate << " accurate, "
       << summary.precision_limited << " precision-limited, " << summary.not_explained
       << " not explained by precision, " << summary.not_judged << " not judged\n";
  if (summary.first_not_explained_seq) {
    text << "first call not explained by precision: " << *summary.first_not_explained_seq << " "
         << summary.first_not_explained_name << ": " << summary.first_not_explained_text << "\n";
  }
  return text.str();
}

}  // namespace ttt
