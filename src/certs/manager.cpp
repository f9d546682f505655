#include "certs/manager.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <random>
#include <set>

#include "acme/cert_info.h"
#include "acme/renewal.h"
#include "acme/tls_alpn.h"
#include "common/fs.h"
#include "proxy/control_client.h"

namespace gravity::certs {

namespace {

using std::chrono::system_clock;

std::int64_t UnixSeconds(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Answers the CA's challenges through the proxy's control API.
class ProxySolver : public acme::ChallengeSolver {
 public:
  explicit ProxySolver(proxy::ControlClient& proxy) : proxy_(proxy) {}
  Status Present(acme::ChallengeType type, const std::string& domain, const std::string& token,
                 const std::string& key_authorization) override {
    if (type == acme::ChallengeType::kHttp01) return proxy_.PutHttpChallenge(token, key_authorization);
    auto cert = acme::MakeTlsAlpnCertificate(domain, key_authorization);
    if (!cert.ok()) return cert.status();
    return proxy_.PutAlpnChallenge(domain, cert->certificate_pem, cert->key_pem);
  }
  void CleanUp(acme::ChallengeType type, const std::string& domain,
               const std::string& token) override {
    Status st = type == acme::ChallengeType::kHttp01 ? proxy_.RemoveHttpChallenge(token)
                                                      : proxy_.RemoveAlpnChallenge(domain);
    if (!st.ok()) spdlog::warn("certs: {}: removing the challenge: {}", domain, st.message());
  }

 private:
  proxy::ControlClient& proxy_;
};

// (mtime in ns, size) of a file: what tells a changed certificate file.
std::pair<std::int64_t, std::int64_t> Stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {-1, -1};
  return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_size)};
}

}  // namespace

struct CertManager::State {
  HostStatus status;
  std::string chain_pem;  // the certificate in use, if any
  std::string key_pem;
  std::pair<std::int64_t, std::int64_t> cert_stamp{-2, -2}, key_stamp{-2, -2};  // files
  bool stored_loaded = false;  // acme: state_dir/certs read once
};

std::vector<WantedHost> HostsOf(const config::StackSpec& stack) {
  std::vector<WantedHost> out;
  for (const auto& app : stack.apps) {
    for (const auto& env : app.environments) {
      if (env.tls.mode == config::TlsMode::kOff) continue;
      out.push_back({env.host, app.name, env.name, env.tls});
    }
  }
  return out;
}

CertManager::CertManager(ManagerOptions options, std::vector<WantedHost> hosts)
    : options_(std::move(options)) {
  for (auto& h : hosts) {
    auto s = std::make_unique<State>();
    s->status.source = h.tls.mode == config::TlsMode::kAuto ? "acme" : "file";
    s->status.wanted = std::move(h);
    states_.push_back(std::move(s));
  }
  if (options_.acme) {
    acme::ClientOptions o;
    o.directory_url = options_.acme->directory;
    o.email = options_.acme->email;
    o.ca_bundle = options_.acme->ca_bundle;
    o.account_key_path = options_.account_key_path;
    acme_ = std::make_unique<acme::Client>(o, options_.sleep);
  }
}

CertManager::~CertManager() { Stop(); }

void CertManager::Start() {
  // Even with no tls: host left, the loop removes what the daemon put on the proxy before.
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void CertManager::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CertManager::Loop() {
  for (;;) {
    TickOnce();
    MutexLock lock(mu_);
    if (stop_) return;
    mu_.WaitFor(wake_, options_.interval);
    if (stop_) return;
  }
}

std::vector<HostStatus> CertManager::Hosts() const {
  MutexLock lock(mu_);
  return published_;
}

void CertManager::TickOnce() {
  const std::int64_t now = UnixSeconds(options_.clock->WallNow());
  for (auto& s : states_) {
    if (s->status.wanted.tls.mode == config::TlsMode::kFiles) {
      SyncFile(*s);
    } else {
      SyncAcme(*s, now);
    }
  }
  SyncProxy();
  std::vector<HostStatus> copy;
  for (const auto& s : states_) copy.push_back(s->status);
  MutexLock lock(mu_);
  published_ = std::move(copy);
}

// ---- tls: { certificate, key } -----------------------------------------------------------

void CertManager::SyncFile(State& s) {
  const config::TlsSpec& tls = s.status.wanted.tls;
  auto cert_stamp = Stamp(tls.certificate);
  auto key_stamp = Stamp(tls.key);
  if (cert_stamp == s.cert_stamp && key_stamp == s.key_stamp) return;  // unchanged
  s.cert_stamp = cert_stamp;
  s.key_stamp = key_stamp;
  s.status.last_attempt = UnixSeconds(options_.clock->WallNow());
  const std::string& host = s.status.wanted.host;
  auto fail = [&](const std::string& why) {
    s.status.error = why;
    spdlog::error("certs: {}: {} (the proxy keeps what it serves)", host, why);
  };
  auto chain = ReadFile(tls.certificate);
  if (!chain.ok()) return fail(chain.error());
  auto key = ReadFile(tls.key);
  if (!key.ok()) return fail(key.error());
  auto info = acme::InspectCertificate(*chain);
  if (!info.ok()) return fail(tls.certificate + ": " + info.error());
  if (Status m = acme::KeyMatchesCertificate(*chain, *key); !m.ok()) {
    return fail(tls.key + ": " + m.message());
  }
  s.chain_pem = std::move(*chain);
  s.key_pem = std::move(*key);
  s.status.names = info->dns_names;
  s.status.issuer = info->issuer;
  s.status.not_before = UnixSeconds(info->not_before);
  s.status.not_after = UnixSeconds(info->not_after);
  s.status.last_renewed = s.status.last_attempt;
  s.status.error.clear();
  spdlog::info("certs: {}: {} (expires {})", host, tls.certificate, s.status.not_after);
  if (Status p = Push(s); !p.ok()) s.status.error = p.message();
}

// ---- tls: auto ---------------------------------------------------------------------------

void CertManager::LoadStored(State& s) {
  s.stored_loaded = true;
  const std::string base = options_.certs_dir + "/" + s.status.wanted.host;
  auto chain = ReadFile(base + ".pem");
  auto key = ReadFile(base + ".key");
  if (!chain.ok() || !key.ok()) return;  // none yet
  auto info = acme::InspectCertificate(*chain);
  if (!info.ok() || !acme::KeyMatchesCertificate(*chain, *key).ok()) {
    spdlog::warn("certs: {}: the stored certificate is unusable; ordering a new one",
                 s.status.wanted.host);
    return;
  }
  s.chain_pem = std::move(*chain);
  s.key_pem = std::move(*key);
  s.status.names = info->dns_names;
  s.status.issuer = info->issuer;
  s.status.not_before = UnixSeconds(info->not_before);
  s.status.not_after = UnixSeconds(info->not_after);
  std::random_device rd;
  s.status.renew_at = UnixSeconds(acme::RenewAt(info->not_before, info->not_after,
                                                (std::uint64_t{rd()} << 32) | rd()));
}

void CertManager::SyncAcme(State& s, std::int64_t now) {
  if (!acme_) {
    s.status.error = "no proxy.https.acme in the stack";
    return;
  }
  if (!s.stored_loaded) LoadStored(s);
  const bool have = !s.chain_pem.empty() && now < s.status.not_after;
  if (have && now < s.status.renew_at) return;  // SyncProxy keeps it served
  if (now < s.status.next_attempt) return;      // backing off after a failure
  s.status.last_attempt = now;
  Status st = Order(s);
  if (st.ok()) return;
  ++s.status.failures;
  s.status.error = st.message();
  const auto& failure = acme_->last_failure();
  auto wait = acme::Backoff(s.status.failures,
                            failure ? failure->retry_after : std::nullopt);
  s.status.next_attempt = now + wait.count();
  spdlog::error("certs: {} (retrying in {} s{})", st.message(), wait.count(),
                have ? "; the current certificate stays in use" : "; served on HTTP meanwhile");
}

Status CertManager::Order(State& s) {
  const std::string& host = s.status.wanted.host;
  proxy::ControlClient proxy(options_.proxy_socket, options_.proxy_timeout);
  ProxySolver solver(proxy);
  const auto type = options_.acme->challenge == "tls-alpn-01" ? acme::ChallengeType::kTlsAlpn01
                                                                : acme::ChallengeType::kHttp01;
  spdlog::info("certs: {}: ordering a certificate from {} ({})", host, options_.acme->directory,
               acme::ChallengeTypeName(type));
  ASSIGN_OR_RETURN(acme::IssuedCertificate issued, acme_->Obtain({host}, type, solver));
  ASSIGN_OR_RETURN(acme::CertificateInfo info, acme::InspectCertificate(issued.chain_pem));
  RETURN_IF_ERROR(MakeDirs(options_.certs_dir, 0700));
  ::chmod(options_.certs_dir.c_str(), 0700);
  const std::string base = options_.certs_dir + "/" + host;
  // The key first: a chain without its key is never left behind as the newer pair.
  RETURN_IF_ERROR(WriteFileAtomic(base + ".key", issued.key_pem, 0600));
  RETURN_IF_ERROR(WriteFileAtomic(base + ".pem", issued.chain_pem, 0600));
  s.chain_pem = std::move(issued.chain_pem);
  s.key_pem = std::move(issued.key_pem);
  s.status.names = info.dns_names;
  s.status.issuer = info.issuer;
  s.status.not_before = UnixSeconds(info.not_before);
  s.status.not_after = UnixSeconds(info.not_after);
  std::random_device rd;
  s.status.renew_at = UnixSeconds(
      acme::RenewAt(info.not_before, info.not_after, (std::uint64_t{rd()} << 32) | rd()));
  s.status.last_renewed = s.status.last_attempt;
  s.status.failures = 0;
  s.status.next_attempt = 0;
  s.status.error.clear();
  spdlog::info("certs: {}: issued by {}, expires {}, renewal from {}", host, info.issuer,
               s.status.not_after, s.status.renew_at);
  return Push(s);
}

// ---- the proxy ---------------------------------------------------------------------------

Status CertManager::Push(State& s) {
  proxy::ControlClient proxy(options_.proxy_socket, options_.proxy_timeout);
  Status st = proxy.PutCertificate(s.status.wanted.host, s.chain_pem, s.key_pem, s.status.source);
  s.status.served = st.ok();
  if (!st.ok()) return Status::Error(s.status.wanted.host + ": the proxy refused the certificate: " + st.message());
  return st;
}

// Re-sends what the proxy lost; removes what the stack no longer has.
void CertManager::SyncProxy() {
  proxy::ControlClient proxy(options_.proxy_socket, options_.proxy_timeout);
  auto listed = proxy.Certificates();
  if (!listed.ok()) return;  // the proxy is restarting; the next tick sends
  std::map<std::string, std::int64_t> served;
  std::set<std::string> ours;
  for (const auto& c : listed->value("certificates", nlohmann::json::array())) {
    const std::string host = c.value("host", "");
    served[host] = c.value("not_after", std::int64_t{0});
    const std::string source = c.value("source", "");
    if (source == "file" || source == "acme") ours.insert(host);
  }
  std::set<std::string> wanted;
  for (auto& s : states_) {
    wanted.insert(s->status.wanted.host);
    if (s->chain_pem.empty()) continue;
    auto it = served.find(s->status.wanted.host);
    s->status.served = it != served.end() && it->second == s->status.not_after;
    if (!s->status.served) {
      if (Status st = Push(*s); !st.ok()) s->status.error = st.message();
    }
  }
  for (const std::string& host : ours) {
    if (wanted.count(host)) continue;
    spdlog::info("certs: {}: no longer in the stack; the proxy stops serving its certificate", host);
    if (Status st = proxy.RemoveCertificate(host); !st.ok()) spdlog::warn("certs: {}", st.message());
  }
}

}  // namespace gravity::certs
