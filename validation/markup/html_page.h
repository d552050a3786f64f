// The frame of TTTv2's self-contained HTML reports (coverage, run/trace report, roofline): one
// look, written once.
#pragma once

#include <string>
#include <string_view>

namespace ttt {

// The start of a page: DOCTYPE, charset and viewport, the escaped `title`, a <style> holding the
// common rules (body, headings, .sub, .cards/.card/.big, tables, td.num, code) followed by `css`
// (the page's own rules, which may override them), and "<body>\n". No script, no external
// resource.
std::string html_page_head(std::string_view title, std::string_view css);

// "</body>\n</html>\n".
std::string html_page_tail();

}  // namespace ttt
