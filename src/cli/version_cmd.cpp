// gravity version: version, git commit and build type (fixed when CMake configured).

#include <cstdio>
#include <cstring>

#include "cli/commands.h"
#include "common/version.h"

namespace gravity::cli {

int VersionCommand(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--json") == 0)) {
    std::printf("{\"version\": \"%s\", \"commit\": \"%s\", \"build_type\": \"%s\"}\n", Version(),
                GitCommit(), BuildType());
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr, "usage: gravity version [--json]\n");
    return 2;
  }
  std::printf("gravity %s (commit %s, %s build)\n", Version(), GitCommit(), BuildType());
  return 0;
}

}  // namespace gravity::cli
