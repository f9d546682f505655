#pragma once

// What this binary is: the project version, the git commit it was configured from and the
// CMake build type. Values are fixed when CMake configures the build (configure_file of
// version.cpp.in), so a commit made after configuring shows until CMake runs again.
namespace gravity {

const char* Version();      // "0.1.0"
const char* GitCommit();    // "d921c99c0f3a" (12 hex digits), "unknown" outside a git checkout
const char* BuildType();    // "Release", "RelWithDebInfo", "Debug", ...

}  // namespace gravity
