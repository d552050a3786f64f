#include "validation/markup/html_page.h"

#include "validation/markup/markup.h"

namespace ttt {

std::string html_page_head(std::string_view title, std::string_view css) {
  std::string page = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>)";
  page += xml_escape(title);
  page += R"(</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
       margin: 2em auto; max-width: 1200px; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #d8dce4; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.sub { color: #5b6475; margin-top: 0; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; margin: 1.2em 0; }
.card { border: 1px solid #d8dce4; border-radius: 8px; padding: 0.8em 1.2em; min-width: 12em; }
.big { font-size: 2em; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border-bottom: 1px solid #e6e9ef; padding: 0.3em 0.7em; text-align: left;
         vertical-align: top; }
th { background: #f4f6f9; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.9em; background: #f4f6f9; padding: 0 0.2em; border-radius: 3px; }
)";
  page += css;
  page += "</style>\n</head>\n<body>\n";
  return page;
}

std::string html_page_tail() { return "</body>\n</html>\n"; }

}  // namespace ttt
