#pragma once

#include <string>

#include "common/status.h"

namespace gravity {

// Reads a whole file. The error names the path and the reason.
Result<std::string> ReadFile(const std::string& path);

// Writes `content` to `path` atomically: a temp file beside it, fsync, rename over the old
// file, fsync of the directory. Readers see the old or the new content, never a mix.
Status WriteFileAtomic(const std::string& path, const std::string& content, int mode = 0644);

// mkdir -p with the given mode for directories it creates.
Status MakeDirs(const std::string& path, int mode = 0755);

// Makes a fresh directory under $TMPDIR (or /tmp) named prefix-XXXXXX.
Result<std::string> MakeTempDir(const std::string& prefix);

// rm -rf; succeeds when the path does not exist. Makes read-only directories writable
// first so released (read-only) trees can be removed.
Status RemoveTree(const std::string& path);

}  // namespace gravity
