#pragma once

#include <string>

namespace gravity {

// The short form of a commit id users read in messages and tables ("3f2a9c1").
inline std::string ShortCommit(const std::string& commit) { return commit.substr(0, 7); }

}  // namespace gravity
