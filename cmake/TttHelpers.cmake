# Shared compile settings for every target of the project.
function(ttt_target_settings target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                             -Wno-sign-conversion)
    # Libraries are built with -fPIC; without this GCC will not inline exported functions into
    # hot loops (it must assume they can be interposed), which cost formats 4x.
    target_compile_options(${target} PRIVATE -fno-semantic-interposition)
    if(TTT_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

if(TTT_SANITIZE)
  add_compile_options(-fsanitize=${TTT_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${TTT_SANITIZE})
endif()
# Fuzzing instruments every library, not only the fuzz targets: libFuzzer steers by the coverage
# of the code under test (the parsers), which lives in the libraries. The fuzz targets alone link
# libFuzzer itself (tests/fuzz/CMakeLists.txt).
if(TTT_BUILD_FUZZERS)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# ttt_add_library(<concept> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
# Creates library `ttt_<concept>` with the alias `tttv2::<concept>`, exported for find_package.
# Public headers are included as "validation/tensor/tensor.h" from the repository root, and from
# <prefix>/include/tttv2 once installed.
function(ttt_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ttt_${name} ${ARG_SOURCES})
  add_library(tttv2::${name} ALIAS ttt_${name})
  set_target_properties(ttt_${name} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(ttt_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/tttv2>)
  target_link_libraries(ttt_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  ttt_target_settings(ttt_${name})
  set_property(GLOBAL APPEND PROPERTY TTT_EXPORTED_TARGETS ttt_${name})
endfunction()

# The definitions every test executable is compiled with (ttt_add_test).
set(TTT_TEST_DEFINITIONS
    TTT_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
    TTT_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TTT_BINARY_DIR="${PROJECT_BINARY_DIR}")

# One precompiled header for every test executable: GoogleTest, GoogleMock, nlohmann::json and
# the standard headers the tests use, parsed once instead of once per test (about a fifth of a
# test's compile time). ttt_test_pch compiles it with the tests' flags and definitions; each test
# reuses it (REUSE_FROM). Project headers stay out of it: a change to one must not rebuild every
# test. TTT_TEST_PCH=OFF compiles each test alone (to check that it includes what it uses).
option(TTT_TEST_PCH "Build the tests with one shared precompiled header" ON)
function(ttt_test_pch_target)
  if(TARGET ttt_test_pch)
    return()
  endif()
  file(WRITE ${PROJECT_BINARY_DIR}/ttt_test_pch.cc "// The target that compiles the tests' precompiled header.\n")
  add_library(ttt_test_pch OBJECT ${PROJECT_BINARY_DIR}/ttt_test_pch.cc)
  target_link_libraries(ttt_test_pch PRIVATE GTest::gmock nlohmann_json::nlohmann_json)
  target_compile_definitions(ttt_test_pch PRIVATE ${TTT_TEST_DEFINITIONS})
  ttt_target_settings(ttt_test_pch)
  target_precompile_headers(ttt_test_pch PRIVATE
    <gmock/gmock.h> <gtest/gtest.h> <nlohmann/json.hpp>
    <algorithm> <cmath> <cstdint> <cstdio> <filesystem> <fstream> <functional> <map> <memory>
    <optional> <set> <sstream> <stdexcept> <string> <string_view> <utility> <vector>)
endfunction()

# ttt_add_test(<name> SOURCES ... [DEPS ...] [LABELS ...] [TIMEOUT s] [SERIAL])
# One GoogleTest executable, discovered test by test into CTest with the given labels
# (unit, pattern, model, slow). Tests run from the source tree's tests/ directory.
# SERIAL: CTest runs its tests alone (timing-sensitive tests).
function(ttt_add_test name)
  cmake_parse_arguments(ARG "SERIAL" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock_main)
  target_compile_definitions(${name} PRIVATE ${TTT_TEST_DEFINITIONS})
  ttt_target_settings(${name})
  if(TTT_TEST_PCH)
    ttt_test_pch_target()
    target_precompile_headers(${name} REUSE_FROM ttt_test_pch)
  endif()
  # ::testing::TempDir() is TEST_TMPDIR: one directory per build tree, so that two test runs on
  # one machine (two clones, two presets) never share scratch files.
  file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/test-tmp)
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} ENVIRONMENT TEST_TMPDIR=${PROJECT_BINARY_DIR}/test-tmp
    DISCOVERY_TIMEOUT 60)
  # Labels are set after discovery, on the list of tests gtest_discover_tests defines
  # (${name}_TESTS): passed through its PROPERTIES, a list of two labels is split into two
  # properties and the second label is lost.
  set(serial "")
  if(ARG_SERIAL)
    set(serial " RUN_SERIAL TRUE")
  endif()
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake
    "if(${name}_TESTS)\n  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\"${serial})\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES
               ${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake)
endfunction()

# ttt_add_tests_glob(<prefix> [DEPS ...] [LABELS ...])
# One test executable per *_test.cc file in the current source directory, named <prefix>_<file>.
function(ttt_add_tests_glob prefix)
  cmake_parse_arguments(ARG "" "" "DEPS;LABELS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  foreach(source IN LISTS sources)
    get_filename_component(stem ${source} NAME_WE)
    ttt_add_test(${prefix}_${stem} SOURCES ${source} DEPS ${ARG_DEPS} LABELS ${ARG_LABELS})
  endforeach()
endfunction()
