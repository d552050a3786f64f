# cmake -P script: runs a documentation program (PROGRAM) in a fresh WORK_DIR; it must exit 0 and,
# when the page shows its output (EXPECTED exists), print exactly that on standard output.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${PROGRAM} WORKING_DIRECTORY ${WORK_DIR}
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${result}\nstdout:\n${output}\nstderr:\n${errors}")
endif()
if(EXISTS ${EXPECTED})
  file(READ ${EXPECTED} expected)
  if(NOT output STREQUAL expected)
    message(FATAL_ERROR "${PROGRAM} printed\n${output}\nbut its page shows\n${expected}")
  endif()
endif()
message(STATUS "${output}")
