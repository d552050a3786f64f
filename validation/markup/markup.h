// Escaping text for the markup languages reports are written in: XML (JUnit reports), HTML
// (coverage reports) and Markdown tables (pull-request comments). One definition, so that every
// report of TTTv2 escapes the same way.
#pragma once

#include <string>
#include <string_view>

namespace ttt {

// `text` with & < > " ' as entities, safe in XML 1.0 element text and attribute values, and in
// HTML. Control characters XML 1.0 forbids (all below 0x20 except tab, newline and carriage
// return) become '?'.
std::string xml_escape(std::string_view text);

// `text` made safe for one cell of a Markdown table: '|' escaped as "\|", line breaks as "<br>"
// (GitHub and GitLab render it inside a cell).
std::string markdown_cell(std::string_view text);

}  // namespace ttt
