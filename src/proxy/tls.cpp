#include "proxy/tls.h"

#include <dirent.h>
#include <sys/stat.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "common/fs.h"

namespace gravity::proxy {

namespace {

using nlohmann::json;

// TLS 1.2 suites: forward secret AEADs only (TLS 1.3 keeps OpenSSL's defaults).
constexpr const char* kCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr unsigned char kSessionContext[] = "gravity";
// A ticket key issues tickets this long, then decrypts only, for two more periods.
constexpr auto kTicketRotation = std::chrono::hours(12);
constexpr std::size_t kTicketKeys = 3;
constexpr long kTicketLifetimeSeconds = 24 * 3600;

std::string OpenSslError(const char* what) {
  std::string out = what;
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

// The ex_data slot every context of a store points back to it with (ticket keys).
int StoreIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool Offers(const unsigned char* list, unsigned len, std::string_view proto) {
  for (unsigned i = 0; i < len;) {
    unsigned n = list[i];
    if (i + 1 + n > len) return false;
    if (std::string_view(reinterpret_cast<const char*>(list + i + 1), n) == proto) return true;
    i += 1 + n;
  }
  return false;
}

// Ordinary hosts speak HTTP/2 when the client offers it (the server's preference decides,
// whatever the client's order), else HTTP/1.1 (or no ALPN). A client that asks only for
// acme-tls/1 here (no challenge pending for its name) is refused, as RFC 8737 requires.
int SelectHttp(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  if (Offers(in, inlen, "h2")) {
    static constexpr unsigned char kH2[] = "h2";
    *out = kH2;
    *outlen = 2;
    return SSL_TLSEXT_ERR_OK;
  }
  if (Offers(in, inlen, "http/1.1")) {
    static constexpr unsigned char kHttp11[] = "http/1.1";
    *out = kHttp11;
    *outlen = 8;
    return SSL_TLSEXT_ERR_OK;
  }
  if (Offers(in, inlen, "acme-tls/1")) return SSL_TLSEXT_ERR_ALERT_FATAL;
  return SSL_TLSEXT_ERR_NOACK;
}

int SelectAcme(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static constexpr unsigned char kAcme[] = "acme-tls/1";
  if (!Offers(in, inlen, "acme-tls/1")) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = kAcme;
  *outlen = 10;
  return SSL_TLSEXT_ERR_OK;
}

std::shared_ptr<SSL_CTX> NewContext(bool acme) {
  SSL_CTX* c = SSL_CTX_new(TLS_server_method());
  if (!c) return nullptr;
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_cipher_list(c, kCiphers12);
  SSL_CTX_set1_groups_list(c, kGroups);
  // Idle connections hold no record buffers; writes may be retried from a moved buffer.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);  // tickets only: no shared cache
  SSL_CTX_set_timeout(c, kTicketLifetimeSeconds);
  SSL_CTX_set_alpn_select_cb(c, acme ? SelectAcme : SelectHttp, nullptr);
  return std::shared_ptr<SSL_CTX>(c, SSL_CTX_free);
}

std::string NameText(X509_NAME* name) {
  if (!name) return "";
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx >= 0) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n >= 0) {
      std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
      OPENSSL_free(utf8);
      return out;
    }
  }
  char buf[512];
  X509_NAME_oneline(name, buf, sizeof(buf));
  return buf;
}

std::int64_t UnixTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::vector<std::string> DnsNames(X509* cert) {
  std::vector<std::string> out;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!sans) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != GEN_DNS) continue;
    const ASN1_STRING* s = g->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(sans);
  return out;
}

// Reads the chain into the context: the leaf as its certificate, the rest as its chain.
Status UseChain(SSL_CTX* c, const std::string& chain_pem, CertificateSummary* summary) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())), BIO_free);
  X509* leaf = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!leaf) return Status::Error(OpenSslError("certificate: no PEM certificate"));
  std::unique_ptr<X509, decltype(&X509_free)> leaf_owner(leaf, X509_free);
  if (SSL_CTX_use_certificate(c, leaf) != 1) return Status::Error(OpenSslError("certificate"));
  summary->names = DnsNames(leaf);
  summary->issuer = NameText(X509_get_issuer_name(leaf));
  summary->not_before = UnixTime(X509_get0_notBefore(leaf));
  summary->not_after = UnixTime(X509_get0_notAfter(leaf));
  if (summary->names.empty()) summary->names.push_back(NameText(X509_get_subject_name(leaf)));
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(c, extra) != 1) {
      X509_free(extra);
      return Status::Error(OpenSslError("certificate chain"));
    }
  }
  ERR_clear_error();  // the end of the PEM list reads as an error
  return Status::Ok();
}

std::string FileNameFor(const std::string& host) {
  // Host names are validated (letters, digits, '-', '_', '.'): '*' becomes '@', which no
  // host name contains, so two hosts never share a file.
  std::string out = host;
  if (out.rfind("*.", 0) == 0) out[0] = '@';
  return out + ".json";
}

}  // namespace

// ---- the snapshot ----------------------------------------------------------------------

struct TlsStore::Snapshot {
  struct Entry {
    std::shared_ptr<SSL_CTX> ctx;
    CertificateSummary summary;
    std::string chain_pem;  // kept for saving
    std::string key_pem;
  };
  std::map<std::string, std::shared_ptr<const Entry>> hosts;  // exact and "*.domain"
  std::string default_host;
  std::unordered_map<std::string, std::shared_ptr<SSL_CTX>> alpn;  // domain -> challenge
  std::unordered_map<std::string, std::string> http;  // token -> key authorization

  // Every name a handshake may ask for -> the entry serving it: the hosts the certificates
  // were put for, then the DNS names they carry (a host's own entry wins).
  std::unordered_map<std::string, const Entry*> names;

  void Index() {
    names.clear();
    for (const auto& [host, e] : hosts) names[host] = e.get();
    for (const auto& [host, e] : hosts) {
      for (const std::string& n : e->summary.names) {
        std::string norm;
        if (NormalizeHostName(n, true, &norm)) names.emplace(norm, e.get());
      }
    }
  }
  const Entry* Exact(const std::string& name) const {
    auto it = names.find(name);
    return it == names.end() ? nullptr : it->second;
  }
  // Exact, then one label deep under a wildcard.
  const Entry* Match(const std::string& name) const {
    if (const Entry* e = Exact(name)) return e;
    std::size_t dot = name.find('.');
    if (dot == std::string::npos || dot == 0) return nullptr;
    std::string wildcard(1, '*');  // (not "*" + substr: GCC 12 -O3 warns falsely on it)
    wildcard.append(name, dot, std::string::npos);
    return Exact(wildcard);
  }
  const Entry* Default() const {
    auto it = hosts.find(default_host);
    return it == hosts.end() ? nullptr : it->second.get();
  }
};

bool NormalizeHostName(std::string_view in, bool wildcard, std::string* out) {
  out->clear();
  if (wildcard && in.size() > 2 && in.substr(0, 2) == "*.") {
    out->append("*.");
    in.remove_prefix(2);
  }
  if (in.empty() || in.size() > 253) return false;
  if (!in.empty() && in.back() == '.') in.remove_suffix(1);  // the root label
  std::size_t label = 0;
  for (char ch : in) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (std::isalnum(c) || c == '-' || c == '_') {
      if (++label > 63) return false;
    } else {
      return false;
    }
    out->push_back(static_cast<char>(std::tolower(c)));
  }
  return label > 0;
}

Result<LoadedCertificate> LoadCertificate(const std::string& chain_pem, const std::string& key_pem) {
  LoadedCertificate out;
  out.ctx = NewContext(false);
  if (!out.ctx) return Status::Error(OpenSslError("SSL_CTX_new"));
  Status chain = UseChain(out.ctx.get(), chain_pem, &out.summary);
  if (!chain.ok()) return chain;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!key) return Status::Error(OpenSslError("key: no PEM private key"));
  const int used = SSL_CTX_use_PrivateKey(out.ctx.get(), key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(out.ctx.get()) != 1) {
    return Status::Error(OpenSslError("key: does not match the certificate"));
  }
  return out;
}

// ---- the store ---------------------------------------------------------------------------

TlsStore::TlsStore(Clock& clock) : clock_(clock), base_(NewContext(false)) {
  auto empty = std::make_shared<const Snapshot>();
  snap_ = empty;
  current_.store(empty);
  SSL_CTX_set_client_hello_cb(base_.get(), &TlsStore::OnClientHello, this);
  SSL_CTX_set_ex_data(base_.get(), StoreIndex(), this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(base_.get(), &TlsStore::OnTicketKey);
}

TlsStore::~TlsStore() = default;

std::shared_ptr<const TlsStore::Snapshot> TlsStore::Current() const { return current_.load(); }

void TlsStore::Publish(std::shared_ptr<Snapshot> next) {
  next->Index();
  snap_ = next;
  current_.store(std::move(next));
}

Status TlsStore::Put(const std::string& host_in, const std::string& chain_pem,
                     const std::string& key_pem, const std::string& source, bool is_default) {
  std::string host;
  if (!NormalizeHostName(host_in, true, &host)) {
    return Status::Error("'" + host_in + "' is not a host name (exact or *.domain)");
  }
  if (source.size() > 32 || !std::all_of(source.begin(), source.end(), [](char c) {
        return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      })) {
    return Status::Error("source '" + source + "': at most 32 of a-z, 0-9, '-', '_'");
  }
  auto loaded = LoadCertificate(chain_pem, key_pem);
  if (!loaded.ok()) return Status::Error(host + ": " + loaded.error());
  auto entry = std::make_shared<Snapshot::Entry>();
  entry->ctx = loaded->ctx;
  entry->summary = loaded->summary;
  entry->summary.host = host;
  entry->summary.source = source;
  entry->summary.is_default = is_default;
  entry->chain_pem = chain_pem;
  entry->key_pem = key_pem;
  SSL_CTX_set_ex_data(entry->ctx.get(), StoreIndex(), this);
  // A session resumes only under the host's own certificate: a ticket issued for A is
  // not accepted on a connection that asked for B (OpenSSL compares this context).
  SSL_CTX_set_session_id_context(entry->ctx.get(), reinterpret_cast<const unsigned char*>(host.data()),
                                 static_cast<unsigned>(std::min<std::size_t>(host.size(), SSL_MAX_SID_CTX_LENGTH)));
  MutexLock lock(mu_);
  auto next = std::make_shared<Snapshot>(*snap_);
  next->hosts[host] = entry;
  // The default stays the default when its certificate is replaced (a renewal does not
  // say "default"); it ends when the host is removed or another one is made the default.
  if (is_default) next->default_host = host;
  Save(*next, host);
  Publish(std::move(next));
  return Status::Ok();
}

bool TlsStore::Remove(const std::string& host_in) {
  std::string host;
  if (!NormalizeHostName(host_in, true, &host)) return false;
  MutexLock lock(mu_);
  if (!snap_->hosts.count(host)) return false;
  auto next = std::make_shared<Snapshot>(*snap_);
  next->hosts.erase(host);
  if (next->default_host == host) next->default_host.clear();
  RemoveSaved(host);
  Publish(std::move(next));
  return true;
}

std::vector<CertificateSummary> TlsStore::List() const {
  auto snap = Current();
  std::vector<CertificateSummary> out;
  for (const auto& [host, e] : snap->hosts) {
    out.push_back(e->summary);
    out.back().is_default = host == snap->default_host;
  }
  return out;
}

bool TlsStore::Covers(std::string_view host_in) const {
  std::string host;
  if (!NormalizeHostName(host_in, false, &host)) return false;
  return Current()->Match(host) != nullptr;
}

Status TlsStore::PutAlpnChallenge(const std::string& domain_in, const std::string& cert_pem,
                                  const std::string& key_pem) {
  std::string domain;
  if (!NormalizeHostName(domain_in, false, &domain)) {
    return Status::Error("'" + domain_in + "' is not a host name");
  }
  auto ctx = NewContext(true);
  CertificateSummary ignored;
  Status st = UseChain(ctx.get(), cert_pem, &ignored);
  if (!st.ok()) return Status::Error(domain + ": challenge " + st.message());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  const int used = key ? SSL_CTX_use_PrivateKey(ctx.get(), key) : 0;
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Status::Error(OpenSslError((domain + ": challenge key").c_str()));
  }
  SSL_CTX_set_ex_data(ctx.get(), StoreIndex(), this);
  MutexLock lock(mu_);
  auto next = std::make_shared<Snapshot>(*snap_);
  next->alpn[domain] = std::move(ctx);
  Publish(std::move(next));
  return Status::Ok();
}

void TlsStore::RemoveAlpnChallenge(const std::string& domain_in) {
  std::string domain;
  if (!NormalizeHostName(domain_in, false, &domain)) return;
  MutexLock lock(mu_);
  auto next = std::make_shared<Snapshot>(*snap_);
  next->alpn.erase(domain);
  Publish(std::move(next));
}

void TlsStore::PutHttpChallenge(const std::string& token, const std::string& key_authorization) {
  MutexLock lock(mu_);
  auto next = std::make_shared<Snapshot>(*snap_);
  next->http[token] = key_authorization;
  Publish(std::move(next));
}

void TlsStore::RemoveHttpChallenge(const std::string& token) {
  MutexLock lock(mu_);
  auto next = std::make_shared<Snapshot>(*snap_);
  next->http.erase(token);
  Publish(std::move(next));
}

std::optional<std::string> TlsStore::HttpChallenge(std::string_view token) const {
  auto snap = Current();
  auto it = snap->http.find(std::string(token));
  if (it == snap->http.end()) return std::nullopt;
  return it->second;
}

// ---- the handshake -----------------------------------------------------------------------

int TlsStore::OnClientHello(SSL* ssl, int* alert, void* arg) {
  return static_cast<const TlsStore*>(arg)->PickContext(ssl, alert);
}

// Reads the host_name entry of a server_name extension (RFC 6066 3).
static bool ParseServerName(const unsigned char* p, std::size_t len, std::string* name) {
  if (len < 2) return false;
  const std::size_t list = (std::size_t{p[0]} << 8) | p[1];
  if (list + 2 != len || list < 3) return false;
  p += 2;
  if (p[0] != 0) return false;  // host_name is the only name type
  const std::size_t n = (std::size_t{p[1]} << 8) | p[2];
  if (n + 3 > list) return false;
  return NormalizeHostName(std::string_view(reinterpret_cast<const char*>(p + 3), n), false, name);
}

int TlsStore::PickContext(SSL* ssl, int* alert) const {
  auto snap = Current();
  std::string name;
  const unsigned char* ext = nullptr;
  std::size_t ext_len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &ext_len) == 1 &&
      !ParseServerName(ext, ext_len, &name)) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;  // bytes that are no host name
    return SSL_CLIENT_HELLO_ERROR;
  }
  const unsigned char* alpn = nullptr;
  std::size_t alpn_len = 0;
  if (!name.empty() && !snap->alpn.empty() &&
      SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &alpn,
                                &alpn_len) == 1 &&
      alpn_len > 2 && Offers(alpn + 2, static_cast<unsigned>(alpn_len - 2), "acme-tls/1")) {
    if (auto it = snap->alpn.find(name); it != snap->alpn.end()) {
      SSL_set_SSL_CTX(ssl, it->second.get());
      return SSL_CLIENT_HELLO_SUCCESS;
    }
  }
  const Snapshot::Entry* e = name.empty() ? nullptr : snap->Match(name);
  if (!e) e = snap->Default();
  if (!e) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  SSL_set_SSL_CTX(ssl, e->ctx.get());
  return SSL_CLIENT_HELLO_SUCCESS;
}

int TlsStore::OnTicketKey(SSL* ssl, unsigned char* name, unsigned char* iv,
                          EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  auto* store = static_cast<TlsStore*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), StoreIndex()));
  if (!store) return enc ? -1 : 0;
  return store->TicketKeyFor(name, iv, cipher, mac, enc);
}

int TlsStore::TicketKeyFor(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                           EVP_MAC_CTX* mac, int enc) {
  TicketKey key;
  {
    MutexLock lock(ticket_mu_);
    const Clock::TimePoint now = clock_.Now();
    if (tickets_.empty() || tickets_.front().made + kTicketRotation <= now) {
      TicketKey fresh{};
      if (RAND_bytes(fresh.name, sizeof(fresh.name)) != 1 ||
          RAND_bytes(fresh.aes, sizeof(fresh.aes)) != 1 ||
          RAND_bytes(fresh.hmac, sizeof(fresh.hmac)) != 1) {
        return enc ? -1 : 0;
      }
      fresh.made = now;
      tickets_.insert(tickets_.begin(), fresh);
      if (tickets_.size() > kTicketKeys) tickets_.resize(kTicketKeys);
    }
    if (enc) {
      key = tickets_.front();
    } else {
      auto it = std::find_if(tickets_.begin(), tickets_.end(), [&](const TicketKey& k) {
        return std::memcmp(k.name, name, sizeof(k.name)) == 0;
      });
      if (it == tickets_.end()) return 0;  // unknown or expired: a full handshake
      key = *it;
    }
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof(key.hmac)),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  if (enc) {
    std::memcpy(name, key.name, sizeof(key.name));
    if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv) != 1) return -1;
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    return 1;
  }
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return 0;
  if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv) != 1) return 0;
  // 2: issue a fresh ticket. TLS 1.3 clients use a ticket once, and a resumed connection
  // gets none otherwise; under TLS 1.2 it moves clients onto the current key.
  return 2;
}

// ---- persistence -------------------------------------------------------------------------

void TlsStore::SetStateDir(std::string dir) {
  MutexLock lock(mu_);
  state_dir_ = std::move(dir);
}

void TlsStore::Save(const Snapshot& snap, const std::string& host) const {
  if (state_dir_.empty()) return;
  const auto& e = snap.hosts.at(host);
  json j = {{"host", host},
            {"source", e->summary.source},
            {"default", snap.default_host == host},
            {"certificate", e->chain_pem},
            {"key", e->key_pem}};
  Status st = MakeDirs(state_dir_, 0700);
  if (st.ok()) ::chmod(state_dir_.c_str(), 0700);  // keys inside: the proxy's user only
  if (st.ok()) st = WriteFileAtomic(state_dir_ + "/" + FileNameFor(host), j.dump() + "\n", 0600);
  if (!st.ok()) spdlog::warn("proxy: tls: cannot save the certificate of {}: {}", host, st.message());
}

void TlsStore::RemoveSaved(const std::string& host) const {
  if (state_dir_.empty()) return;
  ::unlink((state_dir_ + "/" + FileNameFor(host)).c_str());
}

void TlsStore::Restore() {
  std::string dir;
  {
    MutexLock lock(mu_);
    dir = state_dir_;
  }
  if (dir.empty()) return;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> files;
  while (dirent* ent = ::readdir(d)) {
    std::string n = ent->d_name;
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) files.push_back(n);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    auto text = ReadFile(dir + "/" + f);
    json j = text.ok() ? json::parse(*text, nullptr, false) : json();
    Status st = Status::Error("not a saved certificate");
    if (j.is_object() && j.value("host", "").size() > 0) {
      st = Put(j.value("host", ""), j.value("certificate", ""), j.value("key", ""),
               j.value("source", ""), j.value("default", false));
    }
    if (!st.ok()) spdlog::warn("proxy: tls: {}/{} not restored: {}", dir, f, st.message());
  }
}

}  // namespace gravity::proxy
