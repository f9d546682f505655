#pragma once

// The small HTTP/1.1 server behind the control socket and the metrics listener: requests
// with Content-Length bodies up to 1 MiB, keep-alive, answers from a handler coroutine.
// Parsing is http1's, like everything else in the proxy.
// Thread-safety: runs on the io_context of the acceptor it serves.

#include <functional>
#include <string>

#include "proxy/control_api.h"
#include "proxy/internal.h"

namespace gravity::proxy {

using AdminHandler =
    std::function<asio::awaitable<ApiResponse>(std::string method, std::string target,
                                               std::string body)>;

// Accepts connections until the acceptor closes; serves each with `handler`.
void ServeAdminHttp(tcp::acceptor& acceptor, AdminHandler handler);
void ServeAdminHttp(asio::local::stream_protocol::acceptor& acceptor, AdminHandler handler);

}  // namespace gravity::proxy
