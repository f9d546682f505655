#pragma once

namespace gravity {

// True when something accepts TCP connections on 127.0.0.1:port right now (a blocking
// connect, immediate on loopback). Ports outside 1-65535 are never open.
bool LoopbackPortOpen(int port);

}  // namespace gravity
