#pragma once

// What `gravity up` / `down` share with the rest of the CLI: where a stack's processes keep
// their files (daemon::StateLayout) and their pid files (daemon/pid_file.h).
#include "daemon/pid_file.h"
#include "daemon/state_layout.h"

namespace gravity::cli {

using daemon::PidRecord;
using daemon::PidRecordAlive;
using daemon::ReadPidFile;
using daemon::WritePidFile;
using StackPaths = daemon::StateLayout;

}  // namespace gravity::cli
