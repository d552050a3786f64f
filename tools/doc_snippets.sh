#!/usr/bin/env bash
# Extracts the C++ snippets of Markdown pages (docs/testing.md "Documentation snippets").
#
#   tools/doc_snippets.sh OUT_DIR ROOT PAGE...
#
# Every ```cpp block of a page must follow, on the line just before its fence, one marker:
#   <!-- snippet: program NAME -->         a complete program: written to OUT_DIR/NAME.cc; the
#                                          tests build it, run it and compare its standard output
#                                          with the ```text block after the marker
#                                          <!-- snippet: output NAME --> when the page has one;
#   <!-- snippet: excerpt FILE -->         lines of FILE (relative to ROOT), a program the tests
#                                          build and run: every non-blank line of the block must
#                                          be a line of FILE (leading spaces ignored);
#   <!-- snippet: fragment REASON -->      not compiled, for REASON (a declaration, a sketch
#                                          with the reader's own types).
# Writes OUT_DIR/programs.txt (one NAME per line) and OUT_DIR/problems.txt (one line per unmarked
# block, excerpt that drifted from its file, output without its program, or duplicate name,
# "page:line: what"). Exits 0; the test docs.snippets fails when problems.txt is not empty.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 OUT_DIR ROOT PAGE..." >&2
  exit 2
fi
out=$1
root=$2
shift 2
mkdir -p "$out"
rm -f "$out"/*.cc "$out"/*.expected
: >"$out/programs.txt"
: >"$out/problems.txt"

for page in "$@"; do
  awk -v page="${page#"$root"/}" -v out="$out" -v root="$root" '
    function problem(text) { print page ":" NR ": " text >> (out "/problems.txt") }
    # Before a fence, the previous line says what the block is.
    /^<!-- snippet: [a-z]+ .*-->$/ {
      marker = $0
      sub(/^<!-- snippet: /, "", marker)
      sub(/ *-->$/, "", marker)
      kind = marker; sub(/ .*/, "", kind)
      arg = marker; sub(/^[a-z]+ +/, "", arg)
      pending = kind; pending_arg = arg; pending_line = NR
      next
    }
    /^```cpp *$/ && !in_block {
      in_block = 1; block = "cpp"; start = NR
      kind = (pending_line == NR - 1) ? pending : ""
      name = pending_arg
      if (kind == "program") {
        if (name in programs) problem("program " name " is defined twice")
        programs[name] = 1
        file = out "/" name ".cc"
        printf "" > file
        print name >> (out "/programs.txt")
      } else if (kind == "excerpt") {
        excerpt_file = root "/" name
        if ((getline probe < excerpt_file) < 0) problem("excerpt of " name ", which does not exist")
        close(excerpt_file)
      } else if (kind != "fragment") {
        problem("a ```cpp block without a <!-- snippet: program|excerpt|fragment ... --> marker")
      }
      pending = ""
      next
    }
    /^```text *$/ && !in_block {
      in_block = 1; block = "text"; start = NR
      kind = (pending_line == NR - 1 && pending == "output") ? "output" : ""
      name = pending_arg
      if (kind == "output") {
        if (!(name in programs)) problem("output of " name ", which is not a program above it")
        file = out "/" name ".expected"
        printf "" > file
      }
      pending = ""
      next
    }
    /^```/ && !in_block { in_block = 1; block = "other"; kind = ""; next }
    /^```/ && in_block {
      in_block = 0
      if (kind == "program" || kind == "output") close(file)
      next
    }
    in_block && (kind == "program" || kind == "output") { print > file; next }
    in_block && kind == "excerpt" {
      line = $0; sub(/^ +/, "", line)
      if (line == "") next
      found = 0
      while ((getline source < excerpt_file) > 0) {
        sub(/^ +/, "", source)
        if (source == line) { found = 1; break }
      }
      close(excerpt_file)
      if (!found) problem("this line is not in " name ": " line)
      next
    }
  ' "$page"
done
