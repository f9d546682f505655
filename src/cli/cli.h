#pragma once

namespace gravity::cli {

// Entry point of the `gravity` binary: dispatches on the first argument.
int Main(int argc, char** argv);

}  // namespace gravity::cli
