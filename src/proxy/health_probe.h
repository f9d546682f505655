#pragma once

// One active health check: GET spec.path on a target over a fresh connection, within
// spec.timeout, the response judged by EvaluateResponse (health.h). Only I/O lives here;
// the state machine that the results feed is HealthMachine.
// Thread-safety: runs on the io_context it is given.

#include "proxy/config.h"
#include "proxy/health.h"
#include "proxy/internal.h"

namespace gravity::proxy {

asio::awaitable<CheckResult> Probe(asio::io_context& io, const Address& address,
                                   const HealthSpec& spec);

}  // namespace gravity::proxy
