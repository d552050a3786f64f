# `cmake --install` puts headers under include/tttv2, the libraries, the `ttt` binary and a package
# config so that a model living outside this repository can write
#   find_package(tttv2 2.0 REQUIRED)
#   target_link_libraries(my_model PRIVATE tttv2::validation)
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/validation ${PROJECT_SOURCE_DIR}/blocks
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tttv2
        FILES_MATCHING PATTERN "*.h"
        PATTERN "internal" EXCLUDE)

get_property(ttt_targets GLOBAL PROPERTY TTT_EXPORTED_TARGETS)
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
