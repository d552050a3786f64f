# `cmake --install` puts headers under include/tttv2, the libraries, the `ttt` binary and a package
# config so that a model living outside this repository can write
#   find_package(tttv2 2.0 REQUIRED)
#   target_link_libraries(my_model PRIVATE tttv2::validation)
include(CMakePackageConfigHelpers)

get_property(ttt_targets GLOBAL PROPERTY TTT_EXPORTED_TARGETS)

# Every public header of every exported library: all *.h under the directory of each library's
# CMakeLists.txt (recursively), except internal/ (private to the library; public headers never
# include it, which project.install_and_consume checks). Deriving the directories from the targets
# keeps the rule right when a library is added or code moves between directories. A directory
# nested in another one (validation/tensor under validation/) is covered by its parent.
set(ttt_header_dirs "")
foreach(target IN LISTS ttt_targets)
  get_target_property(dir ${target} SOURCE_DIR)
  list(APPEND ttt_header_dirs ${dir})
endforeach()
list(REMOVE_DUPLICATES ttt_header_dirs)
foreach(dir IN LISTS ttt_header_dirs)
  set(nested FALSE)
  foreach(other IN LISTS ttt_header_dirs)
    string(FIND "${dir}" "${other}/" position)
    if(position EQUAL 0)
      set(nested TRUE)
    endif()
  endforeach()
  if(nested)
    continue()
  endif()
  file(RELATIVE_PATH relative ${PROJECT_SOURCE_DIR} ${dir})
  get_filename_component(parent ${relative} DIRECTORY)
  install(DIRECTORY ${dir}
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tttv2/${parent}
          FILES_MATCHING PATTERN "*.h"
          PATTERN "internal" EXCLUDE)
endforeach()

install(TARGETS ${ttt_targets} EXPORT tttv2Targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT tttv2Targets NAMESPACE tttv2:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tttv2)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/tttv2Config.cmake.in
  ${PROJECT_BINARY_DIR}/tttv2Config.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tttv2)
# Models pin a version; minor releases are source compatible, so 2.0 accepts 2.0.x only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tttv2ConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tttv2Config.cmake ${PROJECT_BINARY_DIR}/tttv2ConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tttv2)
