#include "support/pebble.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "acme/https_client.h"
#include "support/net.h"
#include "support/wait.h"

namespace gravity::test {

namespace {

// True when UDP `port` on 127.0.0.1 can be bound right now.
bool UdpPortFree(int port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A port free for both TCP and UDP: the DNS server listens on both.
int FreeDnsPort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int port = FreePort();
    if (UdpPortFree(port)) return port;
  }
  return FreePort();
}

std::string Loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

}  // namespace

Result<std::unique_ptr<Pebble>> Pebble::Start(PebbleOptions options) {
  std::unique_ptr<Pebble> p(new Pebble());
  p->dir_ = std::make_unique<TempDir>("gravity-pebble");
  p->listen_port_ = FreePort();
  p->management_port_ = FreePort();
  p->dns_port_ = FreeDnsPort();
  if (options.http_port == 0) options.http_port = FreePort();
  if (options.tls_port == 0) options.tls_port = FreePort();
  p->directory_url_ = "https://" + Loopback(p->listen_port_) + "/dir";
  RETURN_IF_ERROR(p->WriteCertificate());
  RETURN_IF_ERROR(p->WriteConfig(options));
  RETURN_IF_ERROR(p->StartDns());
  RETURN_IF_ERROR(p->StartPebble(options));
  return p;
}

Pebble::~Pebble() {
  pebble_.reset();  // Subprocess kills its process group and reaps it
  dns_.reset();
}

Status Pebble::WriteCertificate() {
  // Self-signed, for the names a client may use to reach pebble on loopback.
  ca_bundle_ = dir_->Join("pebble-wfe.pem");
  key_path_ = dir_->Join("pebble-wfe.key");
  Result<std::string> made = RunOk({"openssl",
                                    "req",
                                    "-x509",
                                    "-newkey",
                                    "ec",
                                    "-pkeyopt",
                                    "ec_paramgen_curve:P-256",
                                    "-nodes",
                                    "-keyout",
                                    key_path_,
                                    "-out",
                                    ca_bundle_,
                                    "-days",
                                    "7",
                                    "-subj",
                                    "/CN=Gravity test pebble",
                                    "-addext",
                                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                                    "-addext",
                                    "basicConstraints=critical,CA:TRUE"});
  return made.ok() ? Status::Ok() : made.status().Prefixed("pebble TLS certificate");
}

Status Pebble::WriteConfig(const PebbleOptions& options) {
  config_path_ = dir_->Join("pebble-config.json");
  std::ofstream out(config_path_);
  out << "{\n  \"pebble\": {\n"
      << "    \"listenAddress\": \"" << Loopback(listen_port_) << "\",\n"
      << "    \"managementListenAddress\": \"" << Loopback(management_port_) << "\",\n"
      << "    \"certificate\": \"" << ca_bundle_ << "\",\n"
      << "    \"privateKey\": \"" << key_path_ << "\",\n"
      << "    \"httpPort\": " << options.http_port << ",\n"
      << "    \"tlsPort\": " << options.tls_port << ",\n"
      << "    \"ocspResponderURL\": \"\",\n"
      << "    \"domainBlocklist\": [";
  for (std::size_t i = 0; i < options.domain_blocklist.size(); ++i)
    out << (i ? ", " : "") << '"' << options.domain_blocklist[i] << '"';
  out << "],\n";
  if (options.certificate_validity.count() > 0) {
    out << "    \"certificateValidityPeriod\": " << options.certificate_validity.count() << ",\n";
  }
  out << "    \"externalAccountBindingRequired\": false\n  }\n}\n";
  out.close();
  return out ? Status::Ok() : Status::Error("cannot write " + config_path_);
}

Status Pebble::StartDns() {
  // Only the DNS server is needed: every other responder off, management on a free port.
  int dns_management = FreePort();
  Result<std::unique_ptr<Subprocess>> dns =
      Subprocess::Start({{"pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                          "-dns01", Loopback(dns_port_), "-http01", "", "-https01", "",
                          "-tlsalpn01", "", "-management", Loopback(dns_management)},
                         {},
                         "",
                         dir_->Join("challtestsrv.log")});
  if (!dns.ok()) return dns.status().Prefixed("pebble-challtestsrv");
  dns_ = std::move(dns).value();
  if (!WaitFor([&] { return PortOpen(dns_management) || !dns_->Running(); },
               std::chrono::seconds(20)) ||
      !dns_->Running())
    return Status::Error("pebble-challtestsrv did not start: " + dns_->Output());
  return Status::Ok();
}

Status Pebble::StartPebble(const PebbleOptions& options) {
  std::map<std::string, std::string> env = {{"PEBBLE_VA_NOSLEEP", "1"}};
  for (const auto& [k, v] : options.env) env[k] = v;
  Result<std::unique_ptr<Subprocess>> pebble =
      Subprocess::Start({{"pebble", "-config", config_path_, "-dnsserver", Loopback(dns_port_)},
                         env,
                         dir_->path(),
                         dir_->Join("pebble.log")});
  if (!pebble.ok()) return pebble.status().Prefixed("pebble");
  pebble_ = std::move(pebble).value();
  acme::HttpsClient http(ca_bundle_, std::chrono::seconds(5));
  bool up = WaitFor(
      [&] {
        if (!pebble_->Running()) return true;
        Result<acme::HttpsResponse> r = http.Get(directory_url_);
        return r.ok() && r->status == 200;
      },
      options.start_timeout, std::chrono::milliseconds(50));
  if (!up || !pebble_->Running())
    return Status::Error("pebble did not serve " + directory_url_ + ": " + Logs());
  return Status::Ok();
}

Result<std::string> Pebble::Management(const std::string& path) const {
  acme::HttpsClient http(ca_bundle_, std::chrono::seconds(10));
  std::string url = "https://" + Loopback(management_port_) + path;
  ASSIGN_OR_RETURN(acme::HttpsResponse r, http.Get(url));
  if (r.status != 200)
    return Status::Error("GET " + url + ": HTTP " + std::to_string(r.status) + ": " + r.body);
  return r.body;
}

Result<std::string> Pebble::RootCertificate(int index) const {
  return Management("/roots/" + std::to_string(index));
}

std::string Pebble::Logs() const {
  std::string out;
  if (pebble_) out += "--- pebble:\n" + pebble_->Output();
  if (dns_) out += "--- pebble-challtestsrv:\n" + dns_->Output();
  return out;
}

}  // namespace gravity::test
