#include "api/cert_routes.h"

namespace gravity::api {

using nlohmann::json;

json CertificatesJson(const std::vector<certs::HostStatus>& hosts) {
  json list = json::array();
  for (const auto& h : hosts) {
    list.push_back(json{{"host", h.wanted.host},
                        {"app", h.wanted.app},
                        {"environment", h.wanted.environment},
                        {"source", h.source},
                        {"names", h.names},
                        {"issuer", h.issuer},
                        {"not_before", h.not_before},
                        {"not_after", h.not_after},
                        {"renew_at", h.renew_at},
                        {"last_attempt", h.last_attempt},
                        {"last_renewed", h.last_renewed},
                        {"next_attempt", h.next_attempt},
                        {"failures", h.failures},
                        {"error", h.error},
                        {"served", h.served}});
  }
  return list;
}

void AddCertRoutes(Router& router, const certs::CertManager* manager) {
  router.Add("GET", "/v1/certs", [manager](const Request&) {
    return Response::Json(
        200, json{{"certificates", manager ? CertificatesJson(manager->Hosts()) : json::array()}});
  });
}

}  // namespace gravity::api
