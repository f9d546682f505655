#include "proxy/tls_api.h"

#include <fmt/format.h>

namespace gravity::proxy {

namespace {

using nlohmann::json;

ApiResponse Reply(int status, const json& j) {
  return {status, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}
ApiResponse Error(int status, const std::string& message) {
  return Reply(status, json{{"ok", false}, {"error", message}});
}
ApiResponse Ok() { return Reply(200, json{{"ok", true}}); }

std::string StringField(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// ACME tokens are base64url (RFC 8555 8.1): nothing else reaches the table.
bool IsToken(std::string_view t) {
  if (t.empty() || t.size() > 256) return false;
  for (char c : t) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

ApiResponse Certificates(TlsStore& store, const std::string& method, const std::string& host,
                         const json& body) {
  if (host.empty()) {
    if (method != "GET") return Error(405, "use GET");
    json list = json::array();
    for (const auto& c : store.List()) list.push_back(CertificateJson(c));
    return Reply(200, json{{"certificates", list}});
  }
  if (method == "DELETE") {
    return store.Remove(host) ? Ok() : Error(404, "no certificate for '" + host + "'");
  }
  if (method != "PUT") return Error(405, "use PUT or DELETE");
  const std::string cert = StringField(body, "certificate");
  const std::string key = StringField(body, "key");
  if (cert.empty() || key.empty()) return Error(400, "certificate and key (PEM strings) are required");
  auto def = body.find("default");
  if (def != body.end() && !def->is_boolean()) return Error(400, "default must be true or false");
  Status st = store.Put(host, cert, key, StringField(body, "source"),
                        def != body.end() && def->get<bool>());
  return st.ok() ? Ok() : Error(400, st.message());
}

ApiResponse Challenges(TlsStore& store, const std::string& method, const std::string& rest,
                       const json& body) {
  const bool http = rest.rfind("http/", 0) == 0;
  if (!http && rest.rfind("alpn/", 0) != 0) return Error(404, "no such endpoint");
  const std::string name = rest.substr(5);
  if (method != "PUT" && method != "DELETE") return Error(405, "use PUT or DELETE");
  if (http) {
    if (!IsToken(name)) return Error(400, "'" + name + "' is not an ACME token");
    if (method == "DELETE") {
      store.RemoveHttpChallenge(name);
      return Ok();
    }
    const std::string ka = StringField(body, "key_authorization");
    if (ka.empty() || ka.size() > 512 || ka.rfind(name + ".", 0) != 0) {
      return Error(400, "key_authorization must be TOKEN.THUMBPRINT");
    }
    store.PutHttpChallenge(name, ka);
    return Ok();
  }
  if (method == "DELETE") {
    store.RemoveAlpnChallenge(name);
    return Ok();
  }
  Status st =
      store.PutAlpnChallenge(name, StringField(body, "certificate"), StringField(body, "key"));
  return st.ok() ? Ok() : Error(400, st.message());
}

}  // namespace

json CertificateJson(const CertificateSummary& c) {
  return json{{"host", c.host},         {"names", c.names},         {"issuer", c.issuer},
              {"not_before", c.not_before}, {"not_after", c.not_after}, {"source", c.source},
              {"default", c.is_default}};
}

ApiResponse HandleTlsApi(TlsStore* store, const std::string& method, const std::string& path,
                         const json& body) {
  if (!store) return Error(409, "this proxy has no HTTPS listener (--https-listen)");
  const std::string rest = path.substr(std::string_view("/v1/tls/").size());
  static const std::string kCerts = "certificates";
  static const std::string kChallenges = "challenges/";
  if (rest == kCerts || rest == kCerts + "/") return Certificates(*store, method, "", body);
  if (rest.rfind(kCerts + "/", 0) == 0) {
    return Certificates(*store, method, rest.substr(kCerts.size() + 1), body);
  }
  if (rest.rfind(kChallenges, 0) == 0) {
    return Challenges(*store, method, rest.substr(kChallenges.size()), body);
  }
  return Error(404, "no such endpoint: " + path);
}

std::string RenderTlsMetrics(const TlsStore& store, std::int64_t now_unix) {
  auto certs = store.List();
  if (certs.empty()) return "";
  std::string out =
      "# HELP gravity_proxy_tls_certificate_expiry_seconds When the certificate served for a "
      "host expires (Unix time).\n"
      "# TYPE gravity_proxy_tls_certificate_expiry_seconds gauge\n";
  std::string days =
      "# HELP gravity_proxy_tls_certificate_days_left Days until the certificate served for a "
      "host expires.\n"
      "# TYPE gravity_proxy_tls_certificate_days_left gauge\n";
  for (const auto& c : certs) {
    // Host names are validated (letters, digits, '-', '.', '_', '*'): no label escaping.
    out += fmt::format("gravity_proxy_tls_certificate_expiry_seconds{{host=\"{}\",source=\"{}\"}} {}\n",
                       c.host, c.source, c.not_after);
    days += fmt::format("gravity_proxy_tls_certificate_days_left{{host=\"{}\"}} {:.2f}\n", c.host,
                        static_cast<double>(c.not_after - now_unix) / 86400.0);
  }
  return out + days;
}

}  // namespace gravity::proxy
