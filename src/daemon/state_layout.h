#pragma once

#include <string>

namespace gravity::daemon {

// Where everything of one stack lives under its state_dir. The one place these paths are
// spelled; the daemon, `gravity up/down` and the CLI's clients all ask it.
struct StateLayout {
  std::string state_dir;
  std::string db;            // state.db: the daemon's SQLite store
  std::string token;         // token: the API's bearer token (mode 0600)
  std::string daemon_pid;    // daemon.pid (written by the daemon itself)
  std::string daemon_log;    // daemon.log: the daemon's log proper
  std::string daemon_out;    // daemon.out: the daemon's stdout/stderr under `gravity up`
  std::string proxy_socket;  // proxy.sock: the proxy's control socket
  std::string proxy_state;   // proxy/: the proxy's routes and certificates
  std::string proxy_pid;     // proxy.pid (written by `gravity up`)
  std::string proxy_log;     // proxy.log: the proxy's output
  std::string access_log;    // access.log
  std::string logs_dir;      // logs/: instance logs, <app>/<env>/<release>/<instance>.log
  std::string logs_db;       // logs.db: the log store (SQLite + FTS5, docs/logs.md)
  std::string certs_dir;     // certs/: certificates issued for tls: auto (0700, files 0600)
  std::string acme_key;      // acme/account.key: the ACME account's key (0600)
  std::string applied;       // stack.applied: path + text of the stack last applied
  std::string supervisor_pid;     // supervisor.pid (written by the supervisor itself)
  std::string supervisor_status;  // supervisor.json: pids, uptimes, restarts, last exits
  std::string supervisor_log;     // supervisor.log: its log and its own output

  static StateLayout For(const std::string& state_dir);
};

}  // namespace gravity::daemon
