// The one version of trainyard: CMake's project(VERSION), passed to every
// target as TRAINYARD_VERSION (the top-level CMakeLists.txt). `--version` of
// both binaries and GetServerInfo's `version` read it from here.
#ifndef TRAINYARD_CORE_VERSION_H_
#define TRAINYARD_CORE_VERSION_H_

#ifndef TRAINYARD_VERSION
#error "TRAINYARD_VERSION is defined by CMakeLists.txt (project VERSION)"
#endif

namespace trainyard {

inline constexpr char kTrainyardVersion[] = TRAINYARD_VERSION;

}  // namespace trainyard

#endif  // TRAINYARD_CORE_VERSION_H_
