#pragma once

// The control API's TLS paths (JSON over the control socket), beside the services':
//
//   GET    /v1/tls/certificates              every certificate served, with its summary
//   PUT    /v1/tls/certificates/HOST         {"certificate": PEM chain, "key": PEM,
//                                             "source": "file"|"acme"|..., "default": bool}
//   DELETE /v1/tls/certificates/HOST
//   PUT    /v1/tls/challenges/http/TOKEN     {"key_authorization": "..."}   (ACME HTTP-01)
//   DELETE /v1/tls/challenges/http/TOKEN
//   PUT    /v1/tls/challenges/alpn/DOMAIN    {"certificate": PEM, "key": PEM} (TLS-ALPN-01)
//   DELETE /v1/tls/challenges/alpn/DOMAIN
//
// Thread-safety: runs on the control thread; the store is safe from any thread.

#include <nlohmann/json.hpp>
#include <string>

#include "proxy/control_api.h"
#include "proxy/tls.h"

namespace gravity::proxy {

// `path` starts with /v1/tls/. A proxy without an HTTPS listener answers 409.
ApiResponse HandleTlsApi(TlsStore* store, const std::string& method, const std::string& path,
                         const nlohmann::json& body);

nlohmann::json CertificateJson(const CertificateSummary& c);

// Prometheus lines for every certificate: its expiry time and the days left.
std::string RenderTlsMetrics(const TlsStore& store, std::int64_t now_unix);

}  // namespace gravity::proxy
