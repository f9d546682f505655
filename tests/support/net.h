#pragma once

#include <string>

namespace gravity::test {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
// Ports handed out by this process are not handed out again. Prefer `--port 0` with a
// port file where the program supports it (gravity-testapp does): no race at all.
int FreePort();

// True when something accepts TCP connections on host:port right now.
bool PortOpen(int port, const std::string& host = "127.0.0.1");

}  // namespace gravity::test
