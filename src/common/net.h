#pragma once

#include <optional>
#include <string_view>

namespace gravity {

// True when something accepts TCP connections on 127.0.0.1:port right now (a blocking
// connect, immediate on loopback). Ports outside 1-65535 are never open.
bool LoopbackPortOpen(int port);

// True for a listen host only loopback clients can reach: an IPv4 address in 127.0.0.0/8,
// ::1 (also bracketed) or "localhost". Wildcards (0.0.0.0, ::, "") and names are not.
bool IsLoopbackHost(std::string_view host);

// The uid owning the other end of `fd`, a TCP connection accepted from loopback (found in
// /proc/net/tcp{,6} by its address pair); nullopt when the peer is not local or not found.
std::optional<unsigned> LoopbackPeerUid(int fd);

}  // namespace gravity
