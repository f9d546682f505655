#include "daemon/state_layout.h"

namespace gravity::daemon {

StateLayout StateLayout::For(const std::string& state_dir) {
  StateLayout p;
  p.state_dir = state_dir;
  p.db = state_dir + "/state.db";
  p.token = state_dir + "/token";
  p.daemon_pid = state_dir + "/daemon.pid";
  p.daemon_log = state_dir + "/daemon.log";
  p.daemon_out = state_dir + "/daemon.out";
  p.proxy_socket = state_dir + "/proxy.sock";
  p.proxy_state = state_dir + "/proxy";
  p.proxy_pid = state_dir + "/proxy.pid";
  p.proxy_log = state_dir + "/proxy.log";
  p.access_log = state_dir + "/access.log";
  p.logs_dir = state_dir + "/logs";
  p.logs_db = state_dir + "/logs.db";
  p.certs_dir = state_dir + "/certs";
  p.acme_key = state_dir + "/acme/account.key";
  p.applied = state_dir + "/stack.applied";
  p.supervisor_pid = state_dir + "/supervisor.pid";
  p.supervisor_status = state_dir + "/supervisor.json";
  p.supervisor_log = state_dir + "/supervisor.log";
  return p;
}

}  // namespace gravity::daemon
