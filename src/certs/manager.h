#pragma once

// Certificates for the environments with `tls:` in stack.yml, kept on the proxy's HTTPS
// listener by the daemon.
//
//   tls: { certificate, key }  the files are read, checked (the key matches, the chain
//                              parses) and sent to the proxy; sent again whenever they
//                              change on disk. A bad file is reported and the proxy keeps
//                              serving what it had.
//   tls: auto                  ordered from proxy.https.acme (RFC 8555) with the proxy
//                              answering the challenge (HTTP-01 on the plain listener or
//                              TLS-ALPN-01 on the HTTPS one); stored atomically under
//                              state_dir/certs (0600) and restored at start, so a restart
//                              never orders again; renewed at two thirds of its lifetime
//                              with jitter; failures retried with backoff that honours
//                              Retry-After. Until the first certificate is issued the host
//                              is served on plain HTTP as before: a CA that is down breaks
//                              nothing that is live.
//
// The proxy is checked every interval: a certificate it lost (a new proxy state dir) is
// sent again, and certificates of hosts no longer in the stack are removed (only those the
// daemon put there: source "file" or "acme").
// Thread-safety: Start/Stop from one thread; Hosts() from any thread; the work runs on the
// manager's own thread (or on the caller's, with TickOnce, in tests).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "acme/client.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "config/spec.h"

namespace gravity::certs {

// One host with `tls:` as the stack file says.
struct WantedHost {
  std::string host;
  std::string app;
  std::string environment;
  config::TlsSpec tls;
};
std::vector<WantedHost> HostsOf(const config::StackSpec& stack);

// What `gravity certs` shows for one host.
struct HostStatus {
  WantedHost wanted;
  std::string source;  // "file" | "acme"
  std::vector<std::string> names;  // of the certificate in use (empty: none yet)
  std::string issuer;
  std::int64_t not_before = 0;  // Unix seconds; 0: no certificate yet
  std::int64_t not_after = 0;
  std::int64_t renew_at = 0;          // acme: when renewal starts
  std::int64_t last_attempt = 0;      // acme: the last order; file: the last read
  std::int64_t next_attempt = 0;      // acme: after a failure, the next try
  std::int64_t last_renewed = 0;      // when the certificate in use was obtained or read
  int failures = 0;                   // consecutive failures
  std::string error;                  // the last failure; empty when fine
  bool served = false;                // the proxy serves it (as of the last check)
};

struct ManagerOptions {
  std::string certs_dir;         // state_dir/certs: issued certificates (0700, files 0600)
  std::string account_key_path;  // state_dir/acme/account.key
  std::string proxy_socket;
  std::optional<config::AcmeSpec> acme;
  std::chrono::milliseconds interval = std::chrono::seconds(2);
  Clock* clock = &Clock::Real();
  acme::Sleeper sleep = acme::RealSleeper();  // the ACME client's polls
  // Where a solver's challenge goes (default: the proxy's control API). Tests may record.
  std::chrono::milliseconds proxy_timeout = std::chrono::seconds(10);
};

class CertManager {
 public:
  CertManager(ManagerOptions options, std::vector<WantedHost> hosts);
  ~CertManager();
  CertManager(const CertManager&) = delete;
  CertManager& operator=(const CertManager&) = delete;

  void Start();
  void Stop();
  // One pass over every host (what the thread does every interval).
  void TickOnce();
  std::vector<HostStatus> Hosts() const;

 private:
  struct State;
  void SyncFile(State& s);
  void SyncAcme(State& s, std::int64_t now);
  void LoadStored(State& s);
  Status Order(State& s);
  void SyncProxy();
  Status Push(State& s);
  void Loop();

  const ManagerOptions options_;
  std::vector<std::unique_ptr<State>> states_;  // touched by the worker thread only
  std::unique_ptr<acme::Client> acme_;
  mutable Mutex mu_;
  std::vector<HostStatus> published_ GUARDED_BY(mu_);  // copies for Hosts()
  std::condition_variable wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gravity::certs
