#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace gravity {

// True when something accepts TCP connections on 127.0.0.1:port right now (a blocking
// connect, immediate on loopback). Ports outside 1-65535 are never open.
bool LoopbackPortOpen(int port);

// True when something accepts connections on the unix socket at `path` right now.
bool UnixSocketAnswers(const std::string& path);

// True for a listen host only loopback clients can reach: an IPv4 address in 127.0.0.0/8,
// ::1 (also bracketed) or "localhost". Wildcards (0.0.0.0, ::, "") and names are not.
bool IsLoopbackHost(std::string_view host);

// The uid owning the other end of the TCP connection `fd` when that end is a socket on this
// host, whatever addresses and family it used (found in /proc/net/tcp and tcp6 by the
// address pair, IPv4-mapped forms included); nullopt for a remote peer or when not found.
std::optional<unsigned> LocalPeerUid(int fd);

// Waits up to `timeout` for `fd` to be readable (or closed, or failed): false when it is not.
bool WaitReadable(int fd, std::chrono::milliseconds timeout);

}  // namespace gravity
