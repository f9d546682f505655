#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace gravity::test {

struct PebbleOptions {
  // The ports pebble's validation authority dials on 127.0.0.1 for http-01 (httpPort) and
  // tls-alpn-01 (tlsPort): where the test's challenge solver listens. 0: a free port that
  // nothing listens on.
  int http_port = 0;
  int tls_port = 0;
  // Added to pebble's environment, over the defaults PEBBLE_VA_NOSLEEP=1 (validate at
  // once). E.g. {"PEBBLE_WFE_NONCEREJECT", "50"}, {"PEBBLE_AUTHZREUSE", "0"}.
  std::map<std::string, std::string> env;
  // Names pebble refuses to issue for (urn:ietf:params:acme:error:rejectedIdentifier).
  std::vector<std::string> domain_blocklist;
  // How long issued certificates are valid (pebble's certificateValidityPeriod); 0: its
  // default (years). A short one exercises renewal.
  std::chrono::seconds certificate_validity{0};
  std::chrono::milliseconds start_timeout = std::chrono::seconds(30);
};

// A real ACME server for tests: Debian's pebble, with pebble-challtestsrv as its DNS
// server answering 127.0.0.1 for every name, so any domain validates against loopback.
// Start() makes pebble's own TLS certificate (OpenSSL, for 127.0.0.1 and localhost) and
// its config in a temp dir, starts both programs on free loopback ports and returns when
// the directory answers. Destruction kills both (their process groups) and removes the
// temp dir. Not thread-safe.
class Pebble {
 public:
  static Result<std::unique_ptr<Pebble>> Start(PebbleOptions options = {});
  ~Pebble();
  Pebble(const Pebble&) = delete;
  Pebble& operator=(const Pebble&) = delete;

  // https://127.0.0.1:<port>/dir
  const std::string& directory_url() const { return directory_url_; }
  // PEM file of the certificate pebble's HTTPS (ACME API and management) presents: the
  // trust an ACME client needs (ClientOptions::ca_bundle).
  const std::string& ca_bundle() const { return ca_bundle_; }
  int management_port() const { return management_port_; }
  // Pebble's issuing root `index` (management /roots/<index>), PEM: the trust anchor of
  // the certificates it issues. Regenerated at every pebble start.
  Result<std::string> RootCertificate(int index = 0) const;
  // GET https://127.0.0.1:<management port><path> (e.g. "/intermediates/0").
  Result<std::string> Management(const std::string& path) const;

  // What pebble and pebble-challtestsrv printed so far, for failure messages.
  std::string Logs() const;
  Subprocess& pebble() { return *pebble_; }
  Subprocess& dns() { return *dns_; }

 private:
  Pebble() = default;
  Status WriteCertificate();
  Status WriteConfig(const PebbleOptions& options);
  Status StartDns();
  Status StartPebble(const PebbleOptions& options);

  std::unique_ptr<TempDir> dir_;
  std::string directory_url_;
  std::string ca_bundle_;
  std::string key_path_;
  std::string config_path_;
  int listen_port_ = 0;
  int management_port_ = 0;
  int dns_port_ = 0;
  std::unique_ptr<Subprocess> dns_;  // destroyed (killed) after pebble_
  std::unique_ptr<Subprocess> pebble_;
};

}  // namespace gravity::test
