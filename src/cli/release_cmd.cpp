#include <cstdio>
#include <cstring>

#include "cli/commands.h"
#include "runtime/instance_wrapper.h"

namespace gravity::cli {

int ReleaseCommand(int argc, char** argv) {
  // Internal: every instance runs under `gravity _instance` (see runtime/instance_wrapper.h).
  if (std::strcmp(argv[0], "_instance") == 0) return runtime::InstanceWrapperMain(argc, argv);
  std::fprintf(stderr, "gravity %s: not available in this build yet\n", argv[0]);
  return 2;
}

}  // namespace gravity::cli
