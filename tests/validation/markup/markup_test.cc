// Escaping shared by the JUnit, HTML and Markdown report writers.
#include "validation/markup/markup.h"

#include <gtest/gtest.h>

#include <string>

namespace ttt {
namespace {

TEST(XmlEscape, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(xml_escape("layers.3.attention"), "layers.3.attention");
  EXPECT_EQ(xml_escape(""), "");
}

TEST(XmlEscape, ReplacesControlCharactersXmlForbidsButKeepsWhitespace) {
  const std::string text = std::string("a\x01") + "b\x1f" + "\t\n\r" + std::string(1, '\0');
  EXPECT_EQ(xml_escape(text), "a?b?\t\n\r?");
}

TEST(XmlEscape, LeavesUtf8Untouched) {
  EXPECT_EQ(xml_escape("\xc2\xb1 0.5 \xe2\x89\xa4 1"), "\xc2\xb1 0.5 \xe2\x89\xa4 1");
}

TEST(MarkdownCell, EscapesPipesAndBreaksLines) {
  EXPECT_EQ(markdown_cell("pcc 0.98 < 0.99 | max_abs 2"), "pcc 0.98 < 0.99 \\| max_abs 2");
  EXPECT_EQ(markdown_cell("first\r\nsecond\nthird"), "first<br>second<br>third");
  EXPECT_EQ(markdown_cell("plain"), "plain");
}

}  // namespace
}  // namespace ttt
