#include <cstdio>

#include "cli/commands.h"

namespace gravity::cli {

// Placeholder until this command group lands.
int StaticCommand(int, char** argv) {
  std::fprintf(stderr, "gravity %s: not available in this build yet\n", argv[0]);
  return 2;
}

}  // namespace gravity::cli
