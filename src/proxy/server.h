#pragma once

// `gravity proxy run`: the data plane (listener, workers, upstream pools) and its control
// plane (control API, health checks, deploys, drain, state file, metrics, SIGTERM).
// No Asio in this header.

#include <string>

#include "common/clock.h"
#include "proxy/balancer.h"
#include "proxy/config.h"

namespace gravity::proxy {

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free port
  // HOST:PORT of the HTTPS listener; empty: none. Certificates come over the control API
  // and are kept in <state_dir>/tls.
  std::string https_listen;
  std::string https_ready_file;  // when set, "HOST:PORT\n" of the HTTPS listener
  // Plain HTTP for a host with a certificate gets a 308 to https:// (ACME challenges aside).
  bool redirect_http = false;
  std::string state_dir = ".gravity/proxy";
  std::string control_socket;      // empty: <state_dir>/proxy.sock
  std::string metrics_listen;      // empty: no metrics endpoint
  std::string access_log = "off";  // FILE | - | off
  std::string ready_file;          // when set, "HOST:PORT\n" of the listener is written here
  int workers = 1;
  Balance balance = Balance::kRoundRobin;
  // Take the listening sockets over from the proxy serving control_socket (takeover.h):
  // a restart or an upgrade with no gap.
  bool takeover = false;
  ProxyLimits limits;
};

// Runs the proxy until SIGTERM or SIGINT, then drains in-flight requests (bounded by
// limits.shutdown_timeout) and returns the process exit code.
int RunServer(const ServerOptions& options, Clock& clock);

}  // namespace gravity::proxy
