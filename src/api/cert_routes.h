#pragma once

#include "api/router.h"
#include "certs/manager.h"

namespace gravity::api {

// GET /v1/certs: every host with `tls:` in the stack — its certificate's names, issuer,
// expiry and source (acme | file), whether the proxy serves it, the last renewal attempt
// and error. `manager` is null when the stack has no proxy.https (an empty list).
void AddCertRoutes(Router& router, const certs::CertManager* manager);

nlohmann::json CertificatesJson(const std::vector<certs::HostStatus>& hosts);

}  // namespace gravity::api
