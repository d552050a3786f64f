# cmake -P script: install the build into WORK_DIR/prefix, build the consumer against it, run it.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "cmake --install failed: ${result}")
endif()
foreach(expected bin/ttt include/tttv2/validation/tensor/tensor.h
        lib/cmake/tttv2/tttv2Config.cmake lib/cmake/tttv2/tttv2ConfigVersion.cmake)
  if(NOT EXISTS ${WORK_DIR}/prefix/${expected})
    message(FATAL_ERROR "installed tree lacks ${expected}")
  endif()
endforeach()
# A build instrumented by sanitizers is consumed by a program built with the same ones.
set(consumer_flags "")
if(SANITIZE)
  set(consumer_flags -DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE}
                     -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE})
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix ${consumer_flags}
                RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "configuring the consumer failed: ${result}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "building the consumer failed: ${result}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE result OUTPUT_VARIABLE output)
message(STATUS "consumer printed: ${output}")
if(result)
  message(FATAL_ERROR "the consumer failed: ${result}")
endif()
# SameMinorVersion: asking for 2.1 must be refused by a 2.0.x install.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build_21 -G ${GENERATOR}
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DTTT_REQUIRED_VERSION=2.1
                RESULT_VARIABLE result OUTPUT_QUIET ERROR_QUIET)
if(NOT result)
  message(FATAL_ERROR "find_package(tttv2 2.1) accepted a 2.0 install")
endif()
