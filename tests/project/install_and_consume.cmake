# cmake -P script: install the build into WORK_DIR/prefix, build the consumer against it, run it.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "cmake --install failed: ${result}")
endif()
set(include_dir ${WORK_DIR}/prefix/include/tttv2)
foreach(expected bin/ttt include/tttv2/validation/tensor/tensor.h
        include/tttv2/blocks/ffn/gated_mlp.h include/tttv2/patterns/causal_lm.h
        include/tttv2/suites/suite/suite.h include/tttv2/models/llama/model.h
        include/tttv2/coverage/collector.h include/tttv2/coverage/catalog/catalog.h
        include/tttv2/coverage/suite_coverage.h include/tttv2/gate/gate.h
        lib/cmake/tttv2/tttv2Config.cmake lib/cmake/tttv2/tttv2ConfigVersion.cmake)
  if(NOT EXISTS ${WORK_DIR}/prefix/${expected})
    message(FATAL_ERROR "installed tree lacks ${expected}")
  endif()
endforeach()
# Every project include of every installed header resolves in the installed tree: a public header
# including an internal/ header (not installed) would break every consumer that includes it.
file(GLOB_RECURSE installed_headers RELATIVE ${include_dir} ${include_dir}/*.h)
set(unresolved "")
foreach(header IN LISTS installed_headers)
  if(header MATCHES "(^|/)internal/")
    string(APPEND unresolved "  ${header}: an internal/ header was installed\n")
  endif()
  file(STRINGS ${include_dir}/${header} includes REGEX "^#include \"")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" included "${line}")
    if(NOT EXISTS ${include_dir}/${included})
      string(APPEND unresolved "  ${header} includes \"${included}\", not installed\n")
    endif()
  endforeach()
endforeach()
if(unresolved)
  message(FATAL_ERROR "installed headers with includes that do not resolve:\n${unresolved}")
endif()
list(LENGTH installed_headers header_count)
message(STATUS "${header_count} installed headers; every project include resolves")
# A build instrumented by sanitizers is consumed by a program built with the same ones.
set(consumer_flags "")
if(SANITIZE)
  set(consumer_flags -DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE}
                     -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE})
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix ${consumer_flags}
                        -DTTT_SUITE_EXAMPLE=${SNIPPET_DIR}/fluent_suite.cc
                RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "configuring the consumer failed: ${result}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "building the consumer failed: ${result}")
endif()
# The validation example, a coverage collection with a gate decision, and docs/suites.md's fluent
# Suite example; each exits 0 only when its outcome is the expected one.
foreach(program consumer coverage_gate fluent_suite)
  execute_process(COMMAND ${WORK_DIR}/build/${program} WORKING_DIRECTORY ${WORK_DIR}/build
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  message(STATUS "${program} printed:\n${output}")
  if(result)
    message(FATAL_ERROR "the consumer program ${program} failed: ${result}\n${errors}")
  endif()
endforeach()
# SameMinorVersion: asking for 2.1 must be refused by a 2.0.x install.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build_21 -G ${GENERATOR}
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DTTT_REQUIRED_VERSION=2.1
                RESULT_VARIABLE result OUTPUT_QUIET ERROR_QUIET)
if(NOT result)
  message(FATAL_ERROR "find_package(tttv2 2.1) accepted a 2.0 install")
endif()
