// Renderings of a CoverageReport: console, Markdown, JSON and a self-contained HTML page.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>

#include "coverage/internal/block_facts.h"
#include "coverage/report.h"
#include "validation/markup/html_page.h"
#include "validation/markup/markup.h"

namespace ttt {
namespace {

using coverage_detail::value_text;

std::string percent(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", value);
  return text;
}

std::string fraction(std::int64_t part, std::int64_t whole) {
  return std::to_string(part) + "/" + std::to_string(whole);
}

std::string strength_name(int strength) {
  if (strength == 2) return "pairwise";
  return std::to_string(strength) + "-way";
}

// The t-way parameters of a block, in TwayCoverage order.
std::vector<const ParameterCoverage*> tway_parameters(const BlockCoverage& block) {
  std::vector<const ParameterCoverage*> result;
  for (const std::string& name : block.tway_parameters) {
    for (const ParameterCoverage& parameter : block.parameters) {
      if (parameter.name == name) result.push_back(&parameter);
    }
  }
  return result;
}

// "head_dim=96, mode=prefill".
std::string tuple_text(const std::vector<const ParameterCoverage*>& parameters,
                       const std::vector<TwayAssignment>& tuple) {
  std::string text;
  for (const auto& [parameter, value] : tuple) {
    text += (text.empty() ? "" : ", ") + parameters[parameter]->name + "=" +
            value_text(parameters[parameter]->domain[value]);
  }
  return text;
}

std::string config_text(const CatalogConfig& config) {
  return config.block + " " + config.mode + " " + config.identity + " " + config.weight_dtype;
}

std::string presets_text(const CatalogConfig& config) {
  std::string text;
  for (const std::string& preset : config.presets) text += (text.empty() ? "" : ", ") + preset;
  return text;
}

// Configurations of a model that do not pass (missing, failing, unchecked).
std::vector<const ConfigCoverage*> not_passing(const ModelCoverage& model) {
  std::vector<const ConfigCoverage*> result;
  for (const ConfigCoverage& config : model.configurations) {
    if (config.status != ConfigStatus::passing) result.push_back(&config);
  }
  return result;
}

std::string tway_line(const BlockCoverage& block) {
  const TwayCoverage& tway = block.tway;
  return strength_name(tway.strength) +
         " coverage: " + fraction(tway.complete_combinations, tway.combinations) +
         " combinations complete (" + percent(100.0 * tway.simple_coverage) + "), " +
         fraction(tway.covered_tuples, tway.tuples) + " value tuples covered (" +
         percent(100.0 * tway.total_coverage) + ")";
}

// The states the HTML page draws, each with a CSS class ("state-<name>"), a color and a legend
// label. A configuration's status maps to one; "outside" marks what records exercised that no
// catalog model needs (a configuration or a parameter value outside the declared domain).
struct HtmlState {
  const char* name;
  const char* color;
  const char* label;
};
constexpr HtmlState kStates[] = {
    {"passing", "#1a9850", "passing"},
    {"failing", "#d73027", "failing (a call failed)"},
    {"unchecked", "#f4b400", "exercised without a verdict"},
    {"untested", "#c9ced6", "untested"},
    {"outside", "#7b3294", "outside the domain (no catalog model needs it)"},
};

const char* state_of(ConfigStatus status) {
  switch (status) {
    case ConfigStatus::passing:
      return "passing";
    case ConfigStatus::failing:
      return "failing";
    case ConfigStatus::unchecked:
      return "unchecked";
    case ConfigStatus::missing:
      break;
  }
  return "untested";
}

// Models some record exercised; every model when none was (the page then shows them all).
std::vector<const ModelCoverage*> shown_models(const CoverageReport& report) {
  std::vector<const ModelCoverage*> shown;
  for (const ModelCoverage& model : report.models) {
    if (model.counts.exercised > 0) shown.push_back(&model);
  }
  if (shown.empty()) {
    for (const ModelCoverage& model : report.models) shown.push_back(&model);
  }
  return shown;
}

// Block families in the order a model runs them, then any others by name.
std::vector<std::string> heatmap_columns(const std::vector<const ModelCoverage*>& models) {
  const std::vector<std::string> order = {"embedding", "rms_norm", "layer_norm", "attention",
                                          "gated_mlp", "mlp",      "moe",        "lm_head"};
  std::vector<std::string> present;
  for (const ModelCoverage* model : models) {
    for (const auto& [block, counts] : model->blocks) {
      if (std::find(present.begin(), present.end(), block) == present.end()) {
        present.push_back(block);
      }
    }
  }
  std::vector<std::string> columns;
  for (const std::string& block : order) {
    if (std::find(present.begin(), present.end(), block) != present.end()) columns.push_back(block);
  }
  std::sort(present.begin(), present.end());
  for (const std::string& block : present) {
    if (std::find(columns.begin(), columns.end(), block) == columns.end()) columns.push_back(block);
  }
  return columns;
}

// How many of the configurations of `block` that `model` needs are in each state (kStates order).
std::vector<std::int64_t> state_counts(const ModelCoverage& model, const std::string& block) {
  std::vector<std::int64_t> counts(std::size(kStates), 0);
  for (const ConfigCoverage& config : model.configurations) {
    if (config.config.block != block) continue;
    for (std::size_t i = 0; i < std::size(kStates); ++i) {
      if (std::string_view(kStates[i].name) == state_of(config.status)) ++counts[i];
    }
  }
  return counts;
}

// Values as chips of one state each: "<span class="chip state-passing">4096</span> ...".
std::string value_chips(const std::vector<nlohmann::json>& values,
                        const std::function<const char*(const nlohmann::json&)>& state) {
  std::string html;
  for (const nlohmann::json& value : values) {
    html += std::string(html.empty() ? "" : " ") + "<span class=\"chip state-" + state(value) +
            "\">" + xml_escape(value_text(value)) + "</span>";
  }
  return html;
}

nlohmann::json values_json(const std::vector<nlohmann::json>& values) {
  nlohmann::json array = nlohmann::json::array();
  for (const nlohmann::json& value : values) array.push_back(value);
  return array;
}

nlohmann::json counts_json(const CoverageCounts& counts) {
  return {{"configurations", counts.configurations},
          {"exercised", counts.exercised},
          {"passing", counts.passing},
          {"exercised_pct", counts.exercised_pct()},
          {"passing_pct", counts.passing_pct()}};
}

}  // namespace

std::string format_coverage_console(const CoverageReport& report, std::size_t max_listed) {
  std::ostringstream out;
  out << "Coverage of " << report.records << " records (" << report.calls
      << " calls: " << report.passed << " passed, " << report.failed << " failed) against the "
      << report.catalog << " catalog\n";
  out << "Configurations: " << fraction(report.summary.passing, report.summary.configurations)
      << " passing (" << percent(report.summary.passing_pct()) << "), "
      << fraction(report.summary.exercised, report.summary.configurations) << " exercised ("
      << percent(report.summary.exercised_pct()) << ")\n\n";

  std::size_t width = 5;
  for (const ModelCoverage& model : report.models) width = std::max(width, model.name.size());
  char line[256];
  std::snprintf(line, sizeof(line), "%-*s  %7s  %9s  %9s\n", static_cast<int>(width), "model",
                "configs", "exercised", "passing");
  out << line;
  for (const ModelCoverage& model : report.models) {
    std::snprintf(line, sizeof(line), "%-*s  %7lld  %9s  %9s%s\n", static_cast<int>(width),
                  model.name.c_str(), static_cast<long long>(model.counts.configurations),
                  percent(model.counts.exercised_pct()).c_str(),
                  percent(model.counts.passing_pct()).c_str(),
                  model.unsupported.empty() ? "" : "  (has unsupported features)");
    out << line;
  }
  for (const ModelCoverage& model : report.models) {
    const std::vector<const ConfigCoverage*> open = not_passing(model);
    if (open.empty() && model.unsupported.empty()) continue;
    out << "\n" << model.name << ": " << open.size() << " not passing\n";
    for (std::size_t i = 0; i < open.size() && i < max_listed; ++i) {
      out << "  " << config_status_name(open[i]->status) << "  " << config_text(open[i]->config)
          << " [" << presets_text(open[i]->config) << "]\n";
    }
    if (open.size() > max_listed) out << "  ... and " << open.size() - max_listed << " more\n";
    for (const std::string& feature : model.unsupported) {
      out << "  unsupported  " << feature << "\n";
    }
  }

  for (const BlockCoverage& block : report.blocks) {
    out << "\n"
        << block.block << ": " << block.records << " records, " << block.calls << " calls ("
        << block.failed << " failed)\n";
    if (!block.has_domain) {
      out << "  (no domain declared for this block)\n";
      continue;
    }
    for (const ParameterCoverage& parameter : block.parameters) {
      out << "  " << parameter.summary << "\n";
    }
    out << "  " << tway_line(block) << "\n";
    const auto parameters = tway_parameters(block);
    for (std::size_t i = 0; i < block.tway.missing.size() && i < max_listed; ++i) {
      out << "    missing: " << tuple_text(parameters, block.tway.missing[i]) << "\n";
    }
    if (block.tway.missing.size() > max_listed) {
      out << "    ... and " << block.tway.missing.size() - max_listed << " more missing tuples\n";
    }
  }
  if (!report.unmatched.empty()) {
    out << "\nExercised configurations no catalog model needs:\n";
    for (const UnmatchedConfig& config : report.unmatched) {
      out << "  " << config.block << " " << (config.mode.empty() ? "?" : config.mode) << " "
          << config.identity << " " << config.weight_dtype
          << (config.topology.empty() ? "" : " on " + config.topology) << ": " << config.calls
          << " calls, " << config.failed << " failed"
          << (config.problem.empty() ? "" : " (" + config.problem + ")") << "\n";
    }
  }
  return out.str();
}

std::string format_coverage_markdown(const CoverageReport& report, std::size_t max_listed) {
  std::ostringstream out;
  out << "## Block coverage\n\n";
  out << "**" << fraction(report.summary.passing, report.summary.configurations)
      << " configurations passing (" << percent(report.summary.passing_pct()) << ")**, "
      << report.summary.exercised << " exercised (" << percent(report.summary.exercised_pct())
      << ") - " << report.records << " records, " << report.calls << " calls (" << report.failed
      << " failed), " << strength_name(report.strength) << ", catalog " << report.catalog << "\n\n";
  out << "| model | configurations | exercised | passing | not passing |\n";
  out << "|---|---:|---:|---:|---|\n";
  for (const ModelCoverage& model : report.models) {
    const std::vector<const ConfigCoverage*> open = not_passing(model);
    std::string listed;
    for (std::size_t i = 0; i < open.size() && i < max_listed; ++i) {
      listed += (i == 0 ? "" : "<br>") + std::string(config_status_name(open[i]->status)) + " `" +
                config_text(open[i]->config) + "`";
    }
    if (open.size() > max_listed) {
      listed += "<br>... and " + std::to_string(open.size() - max_listed) + " more";
    }
    out << "| " << model.name << (model.unsupported.empty() ? "" : " (unsupported features)")
        << " | " << model.counts.configurations << " | " << model.counts.exercised << " ("
        << percent(model.counts.exercised_pct()) << ") | " << model.counts.passing << " ("
        << percent(model.counts.passing_pct()) << ") | " << listed << " |\n";
  }
  out << "\n| block | records | calls | failed | " << strength_name(report.strength)
      << " combinations complete | value tuples covered |\n";
  out << "|---|---:|---:|---:|---:|---:|\n";
  for (const BlockCoverage& block : report.blocks) {
    out << "| " << block.block << " | " << block.records << " | " << block.calls << " | "
        << block.failed << " | ";
    if (block.has_domain) {
      out << fraction(block.tway.complete_combinations, block.tway.combinations) << " ("
          << percent(100.0 * block.tway.simple_coverage) << ") | "
          << fraction(block.tway.covered_tuples, block.tway.tuples) << " ("
          << percent(100.0 * block.tway.total_coverage) << ") |\n";
    } else {
      out << "- | - |\n";
    }
  }
  out << "\n<details><summary>Parameters</summary>\n\n";
  for (const BlockCoverage& block : report.blocks) {
    for (const ParameterCoverage& parameter : block.parameters) {
      out << "- " << block.block << "." << parameter.summary << "\n";
    }
  }
  out << "\n</details>\n";
  return out.str();
}

nlohmann::json to_json(const CoverageReport& report) {
  nlohmann::json models = nlohmann::json::array();
  for (const ModelCoverage& model : report.models) {
    nlohmann::json configurations = nlohmann::json::array();
    for (const ConfigCoverage& config : model.configurations) {
      configurations.push_back({{"block", config.config.block},
                                {"mode", config.config.mode},
                                {"identity", config.config.identity},
                                {"weight_dtype", config.config.weight_dtype},
                                {"presets", config.config.presets},
                                {"count", config.config.count},
                                {"status", config_status_name(config.status)},
                                {"calls", config.calls},
                                {"passed", config.passed},
                                {"failed", config.failed}});
    }
    nlohmann::json blocks = nlohmann::json::object();
    for (const auto& [block, counts] : model.blocks) blocks[block] = counts_json(counts);
    nlohmann::json entry = counts_json(model.counts);
    entry["name"] = model.name;
    entry["hf_id"] = model.hf_id;
    if (!model.topology.empty()) entry["topology"] = model.topology;
    entry["blocks"] = std::move(blocks);
    entry["unsupported"] = model.unsupported;
    entry["configurations_list"] = std::move(configurations);
    models.push_back(std::move(entry));
  }
  nlohmann::json blocks = nlohmann::json::array();
  for (const BlockCoverage& block : report.blocks) {
    nlohmann::json parameters = nlohmann::json::array();
    for (const ParameterCoverage& parameter : block.parameters) {
      parameters.push_back({{"name", parameter.name},
                            {"field", parameter.field},
                            {"tway", parameter.tway},
                            {"domain", values_json(parameter.domain)},
                            {"tested", values_json(parameter.tested)},
                            {"failing", values_json(parameter.failing)},
                            {"missing", values_json(parameter.missing)},
                            {"outside", values_json(parameter.outside)},
                            {"unknown", parameter.unknown},
                            {"summary", parameter.summary}});
    }
    const auto names = tway_parameters(block);
    nlohmann::json missing = nlohmann::json::array();
    for (const std::vector<TwayAssignment>& tuple : block.tway.missing) {
      nlohmann::json item = nlohmann::json::object();
      for (const auto& [parameter, value] : tuple) {
        item[names[parameter]->name] = names[parameter]->domain[value];
      }
      missing.push_back(std::move(item));
    }
    nlohmann::json combinations = nlohmann::json::array();
    for (const TwayCombination& combination : block.tway.per_combination) {
      nlohmann::json parameter_names = nlohmann::json::array();
      for (std::size_t index : combination.parameters)
        parameter_names.push_back(names[index]->name);
      combinations.push_back({{"parameters", std::move(parameter_names)},
                              {"tuples", combination.tuples},
                              {"covered", combination.covered}});
    }
    blocks.push_back({{"block", block.block},
                      {"records", block.records},
                      {"calls", block.calls},
                      {"passed", block.passed},
                      {"failed", block.failed},
                      {"has_domain", block.has_domain},
                      {"parameters", std::move(parameters)},
                      {"tway",
                       {{"strength", block.tway.strength},
                        {"parameters", block.tway_parameters},
                        {"combinations", block.tway.combinations},
                        {"complete_combinations", block.tway.complete_combinations},
                        {"simple_coverage", block.tway.simple_coverage},
                        {"tuples", block.tway.tuples},
                        {"covered_tuples", block.tway.covered_tuples},
                        {"total_coverage", block.tway.total_coverage},
                        {"per_combination", std::move(combinations)},
                        {"missing", std::move(missing)}}}});
  }
  nlohmann::json unmatched = nlohmann::json::array();
  for (const UnmatchedConfig& config : report.unmatched) {
    unmatched.push_back({{"block", config.block},
                         {"mode", config.mode},
                         {"identity", config.identity},
                         {"weight_dtype", config.weight_dtype},
                         {"calls", config.calls},
                         {"passed", config.passed},
                         {"failed", config.failed},
                         {"problem", config.problem}});
    if (!config.topology.empty()) unmatched.back()["topology"] = config.topology;
  }
  return {{"format", "ttt-coverage-report"},
          {"version", 1},
          {"catalog", report.catalog},
          {"strength", report.strength},
          {"sources", report.sources},
          {"records", report.records},
          {"calls", report.calls},
          {"passed", report.passed},
          {"failed", report.failed},
          {"summary", counts_json(report.summary)},
          {"models", std::move(models)},
          {"blocks", std::move(blocks)},
          {"unmatched", std::move(unmatched)}};
}

std::string format_coverage_html(const CoverageReport& report) {
  std::ostringstream out;
  std::string css = R"(.bar { display: block; height: 100%; background: #1a9850; }
.barbg { display: inline-block; width: 8em; height: 0.7em; background: #e6e9ef; text-align: left;
         vertical-align: middle; margin-right: 0.4em; }
.chip { display: inline-block; padding: 0 0.4em; border-radius: 3px; margin: 0.1em 0; }
.swatch { display: inline-block; width: 1.2em; height: 0.8em; vertical-align: middle;
          margin: 0 0.3em 0 0.9em; border-radius: 2px; }
details { margin: 0.3em 0 0.8em; } summary { cursor: pointer; color: #2b5797; }
)";
  for (const HtmlState& state : kStates) {
    const bool light =
        std::string_view(state.name) == "untested" || std::string_view(state.name) == "unchecked";
    css += std::string(".state-") + state.name + " { background: " + state.color +
           "; color: " + (light ? "#1d2330" : "#fff") + "; fill: " + state.color + "; }\n";
  }
  out << html_page_head("TTTv2 block coverage", css) << "<h1>Block coverage</h1>\n";
  out << "<p class=\"sub\">" << report.records << " records from "
      << (report.sources.empty() ? std::string("memory") : xml_escape([&] {
           std::string text;
           for (const std::string& source : report.sources) {
             text += (text.empty() ? "" : ", ") + source;
           }
           return text;
         }()))
      << " against the " << xml_escape(report.catalog) << " catalog; "
      << strength_name(report.strength) << " combinatorial coverage</p>\n";
  out << "<div class=\"cards\">\n";
  out << "<div class=\"card\"><div class=\"big\" id=\"summary-passing\">"
      << percent(report.summary.passing_pct()) << "</div>configurations passing (<span "
      << "id=\"summary-passing-count\">"
      << fraction(report.summary.passing, report.summary.configurations) << "</span>)</div>\n";
  out << "<div class=\"card\"><div class=\"big\" id=\"summary-exercised\">"
      << percent(report.summary.exercised_pct()) << "</div>configurations exercised ("
      << fraction(report.summary.exercised, report.summary.configurations) << ")</div>\n";
  out << "<div class=\"card\"><div class=\"big\" id=\"summary-calls\">" << report.calls
      << "</div>calls: " << report.passed << " passed, " << report.failed << " failed</div>\n";
  out << "</div>\n";

  // The legend of the states every table and the heatmap use.
  out << "<p class=\"legend\" id=\"legend\">";
  for (const HtmlState& state : kStates) {
    out << "<span class=\"swatch state-" << state.name << "\"></span>" << state.label;
  }
  out << "</p>\n";

  // The heatmap: one row per model some record exercised, one column per block family; each cell
  // is split into the states of the configurations that model needs of that block.
  const std::vector<const ModelCoverage*> shown = shown_models(report);
  const std::vector<std::string> columns = heatmap_columns(shown);
  constexpr int kLabel = 240;
  constexpr int kCell = 96;
  constexpr int kRow = 28;
  constexpr int kHeader = 34;
  const int width = kLabel + kCell * static_cast<int>(columns.size()) + 4;
  const int height = kHeader + kRow * static_cast<int>(shown.size()) + 4;
  out << "<h2>Models &times; blocks</h2>\n";
  out << "<p class=\"sub\">Each cell: configurations of that block the model needs that pass, "
         "over all it needs, split by state (hover for details).</p>\n";
  out << "<svg id=\"heatmap\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
      << width << " " << height
      << "\" role=\"img\" aria-label=\"model by block coverage heatmap\" "
         "font-family=\"system-ui, sans-serif\" font-size=\"12\">\n";
  for (std::size_t c = 0; c < columns.size(); ++c) {
    out << "<text x=\"" << kLabel + kCell * static_cast<int>(c) + kCell / 2 << "\" y=\"" << 22
        << "\" text-anchor=\"middle\" font-weight=\"600\">" << xml_escape(columns[c])
        << "</text>\n";
  }
  for (std::size_t r = 0; r < shown.size(); ++r) {
    const ModelCoverage& model = *shown[r];
    const int y = kHeader + kRow * static_cast<int>(r);
    out << "<text x=\"" << kLabel - 8 << "\" y=\"" << y + kRow / 2 + 4 << "\" text-anchor=\"end\">"
        << xml_escape(model.name) << (model.unsupported.empty() ? "" : " *") << "</text>\n";
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const int x = kLabel + kCell * static_cast<int>(c);
      const std::vector<std::int64_t> counts = state_counts(model, columns[c]);
      std::int64_t total = 0;
      for (const std::int64_t n : counts) total += n;
      out << "<g class=\"cell\" data-model=\"" << xml_escape(model.name) << "\" data-block=\""
          << xml_escape(columns[c]) << "\">";
      if (total == 0) {
        out << "<rect x=\"" << x + 1 << "\" y=\"" << y + 1 << "\" width=\"" << kCell - 2
            << "\" height=\"" << kRow - 2 << "\" fill=\"#f0f1f4\"/><text x=\"" << x + kCell / 2
            << "\" y=\"" << y + kRow / 2 + 4 << "\" text-anchor=\"middle\" fill=\"#9aa1ad\">"
            << "&#8211;</text>";
      } else {
        out << "<title>" << xml_escape(model.name) << " " << xml_escape(columns[c]) << ":";
        for (std::size_t i = 0; i < counts.size(); ++i) {
          if (counts[i] > 0) out << " " << counts[i] << " " << kStates[i].name;
        }
        out << "</title>";
        // Segments left to right in kStates order, widths proportional to their counts.
        double left = x + 1;
        for (std::size_t i = 0; i < counts.size(); ++i) {
          if (counts[i] == 0) continue;
          const double w =
              (kCell - 2) * static_cast<double>(counts[i]) / static_cast<double>(total);
          char rect[160];
          std::snprintf(rect, sizeof(rect),
                        "<rect class=\"state-%s\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" "
                        "height=\"%d\"/>",
                        kStates[i].name, left, y + 1, w, kRow - 2);
          out << rect;
          left += w;
        }
        out << "<text x=\"" << x + kCell / 2 << "\" y=\"" << y + kRow / 2 + 4
            << "\" text-anchor=\"middle\" fill=\"#1d2330\" stroke=\"#fff\" stroke-width=\"3\" "
               "paint-order=\"stroke\">"
            << counts[0] << "/" << total << "</text>";
      }
      out << "</g>\n";
    }
  }
  out << "</svg>\n";
  out << "<p class=\"sub\"><span class=\"swatch\" style=\"background:#f0f1f4\"></span>not used by "
         "the model &nbsp; * has features no block expresses</p>\n";
  if (shown.size() < report.models.size()) {
    std::string names;
    for (const ModelCoverage& model : report.models) {
      if (model.counts.exercised == 0) names += (names.empty() ? "" : ", ") + model.name;
    }
    out << "<p class=\"sub\" id=\"untouched-models\">Nothing exercised for "
        << report.models.size() - shown.size() << " other catalog models: " << xml_escape(names)
        << " (ttt coverage report --require-model limits the report to the models you ask "
           "for).</p>\n";
  }

  out << "<h2>Models</h2>\n<table id=\"models\">\n<tr><th>model</th><th>configurations</th>"
         "<th>exercised</th><th>passing</th></tr>\n";
  for (const ModelCoverage* model : shown) {
    out << "<tr data-model=\"" << xml_escape(model->name) << "\"><td>" << xml_escape(model->name)
        << "</td><td class=\"num\">" << model->counts.configurations << "</td><td class=\"num\">"
        << percent(model->counts.exercised_pct()) << "</td><td class=\"num passing\">"
        << "<span class=\"barbg\"><span class=\"bar\" style=\"width:"
        << static_cast<int>(std::lround(model->counts.passing_pct())) << "%\"></span></span>"
        << percent(model->counts.passing_pct()) << "</td></tr>\n";
  }
  out << "</table>\n";
  for (const ModelCoverage* model : shown) {
    const std::vector<const ConfigCoverage*> open = not_passing(*model);
    if (open.empty() && model->unsupported.empty()) continue;
    out << "<details><summary>" << xml_escape(model->name) << ": " << open.size() << " not passing"
        << (model->unsupported.empty() ? "" : ", unsupported features")
        << "</summary>\n<table>\n<tr><th>state</th><th>block</th><th>mode</th>"
           "<th>configuration</th><th>weights</th><th>presets</th></tr>\n";
    for (const ConfigCoverage* config : open) {
      const char* state = state_of(config->status);
      out << "<tr><td><span class=\"chip state-" << state << "\">" << state << "</span></td><td>"
          << xml_escape(config->config.block) << "</td><td>" << config->config.mode
          << "</td><td><code>" << xml_escape(config->config.identity) << "</code></td><td>"
          << config->config.weight_dtype << "</td><td>" << presets_text(config->config)
          << "</td></tr>\n";
    }
    for (const std::string& feature : model->unsupported) {
      out << "<tr><td><span class=\"chip state-untested\">unsupported</span></td>"
             "<td colspan=\"5\">"
          << xml_escape(feature) << "</td></tr>\n";
    }
    out << "</table>\n</details>\n";
  }

  out << "<h2>Blocks</h2>\n<table id=\"blocks\">\n<tr><th>block</th><th>records</th>"
         "<th>calls</th><th>failed</th><th>"
      << strength_name(report.strength) << ": combinations complete</th>"
      << "<th>value tuples covered</th></tr>\n";
  for (const BlockCoverage& block : report.blocks) {
    out << "<tr data-block=\"" << xml_escape(block.block) << "\"><td>" << xml_escape(block.block)
        << "</td><td class=\"num\">" << block.records << "</td><td class=\"num\">" << block.calls
        << "</td><td class=\"num\">" << block.failed << "</td>";
    if (block.has_domain) {
      out << "<td class=\"num simple\">"
          << fraction(block.tway.complete_combinations, block.tway.combinations) << " ("
          << percent(100.0 * block.tway.simple_coverage) << ")</td><td class=\"num total\">"
          << fraction(block.tway.covered_tuples, block.tway.tuples) << " ("
          << percent(100.0 * block.tway.total_coverage) << ")</td>";
    } else {
      out << "<td>-</td><td>-</td>";
    }
    out << "</tr>\n";
  }
  out << "</table>\n";
  for (const BlockCoverage& block : report.blocks) {
    if (!block.has_domain) continue;
    out << "<h3 id=\"block-" << xml_escape(block.block) << "\">" << xml_escape(block.block)
        << "</h3>\n<table>\n<tr><th>parameter</th><th>tested</th><th>missing</th>"
           "<th>outside the domain</th></tr>\n";
    for (const ParameterCoverage& parameter : block.parameters) {
      const auto tested_state = [&](const nlohmann::json& value) {
        const bool failed = std::any_of(
            parameter.failing.begin(), parameter.failing.end(),
            [&](const nlohmann::json& bad) { return coverage_detail::same_value(bad, value); });
        return failed ? "failing" : "passing";
      };
      out << "<tr><td>" << xml_escape(parameter.name) << (parameter.tway ? "" : " (not t-way)")
          << "</td><td>" << value_chips(parameter.tested, tested_state) << "</td><td>"
          << value_chips(parameter.missing, [](const nlohmann::json&) { return "untested"; })
          << "</td><td>"
          << value_chips(parameter.outside, [](const nlohmann::json&) { return "outside"; })
          << "</td></tr>\n";
    }
    out << "</table>\n<p>" << xml_escape(tway_line(block)) << "</p>\n";
    if (!block.tway.missing.empty()) {
      const auto parameters = tway_parameters(block);
      out << "<details><summary>" << block.tway.missing.size()
          << " missing value tuples</summary>\n<ul>\n";
      for (const std::vector<TwayAssignment>& tuple : block.tway.missing) {
        out << "<li>" << xml_escape(tuple_text(parameters, tuple)) << "</li>\n";
      }
      out << "</ul>\n</details>\n";
    }
  }
  if (!report.unmatched.empty()) {
    out << "<h2>Exercised configurations no catalog model needs</h2>\n<table id=\"unmatched\">\n"
           "<tr><th>block</th><th>mode</th><th>configuration</th><th>weights</th><th>calls</th>"
           "<th>failed</th></tr>\n";
    for (const UnmatchedConfig& config : report.unmatched) {
      out << "<tr class=\"outside\"><td><span class=\"chip state-outside\">"
          << xml_escape(config.block) << "</span></td><td>"
          << xml_escape(config.mode.empty() ? "?" : config.mode) << "</td><td><code>"
          << xml_escape(config.identity) << "</code></td><td>" << xml_escape(config.weight_dtype)
          << "</td><td class=\"num\">" << config.calls << "</td><td class=\"num\">" << config.failed
          << "</td></tr>\n";
    }
    out << "</table>\n";
  }
  out << "<p class=\"sub\">Generated by ttt coverage report (docs/coverage.md).</p>\n";
  out << html_page_tail();
  return out.str();
}

}  // namespace ttt
