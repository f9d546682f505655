#pragma once

// What every refused gravity.yml / stack.yml must look like: one problem per line, each
// starting with the file's name and a colon, at most kMaxErrors of them (plus a line
// saying more were left out).

#include <string>
#include <string_view>

#include "config/config.h"
#include "fuzz_check.h"

inline void CheckConfigErrors(const std::string& errors, std::string_view file) {
  FUZZ_CHECK(!errors.empty());
  int lines = 0;
  std::size_t start = 0;
  while (start <= errors.size()) {
    std::size_t end = errors.find('\n', start);
    std::string_view line(errors.data() + start,
                          (end == std::string::npos ? errors.size() : end) - start);
    FUZZ_CHECK(line.size() > file.size() && line.substr(0, file.size()) == file &&
               line[file.size()] == ':');
    ++lines;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  FUZZ_CHECK(lines <= gravity::config::kMaxErrors + 1);
}
