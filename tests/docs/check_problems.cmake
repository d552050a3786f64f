# cmake -P script: fails listing the problems tools/doc_snippets.sh found (PROBLEMS: its file).
file(READ ${PROBLEMS} problems)
if(NOT problems STREQUAL "")
  message(FATAL_ERROR "documentation snippets (docs/testing.md \"Documentation snippets\"):\n"
                      "${problems}")
endif()
