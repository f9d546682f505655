// The proxy control API's request bodies and the routing state file, both JSON.
//
// The control plane parses a body with nlohmann::json (no exceptions) and hands it to
// DeployRequestFromJson (PUT /v1/services/NAME) or CanaryRequestFromJson (PUT
// .../canary); the state file goes through ParseState. Properties: none of them throws or
// crashes on any JSON; an accepted spec survives the state file's round trip unchanged
// (ServiceToJson then ServiceFromJson); every error message can be sent back as JSON.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.h"
#include "proxy/config.h"
#include "proxy/state.h"

namespace proxy = gravity::proxy;
using nlohmann::json;

namespace {

void CheckError(const gravity::Status& st) {
  FUZZ_CHECK(!st.ok() && !st.message().empty());
  // The control plane answers {"ok": false, "error": message}; dump() throws on text
  // that is not UTF-8.
  std::string out = json{{"ok", false}, {"error", st.message()}}.dump(
      -1, ' ', false, json::error_handler_t::strict);
  FUZZ_CHECK(!out.empty());
}

void CheckRoundTrip(const proxy::ServiceSpec& spec) {
  json once = proxy::ServiceToJson(spec);
  auto again = proxy::ServiceFromJson(once);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(proxy::ServiceToJson(*again) == once);
  FUZZ_CHECK(!spec.main.targets.empty() && !spec.hosts.empty());
  for (const auto& t : spec.main.targets) FUZZ_CHECK(proxy::ParseAddress(t).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(bytes), size);
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    auto deploy = proxy::DeployRequestFromJson("site", j);
    if (deploy.ok()) {
      CheckRoundTrip(*deploy);
    } else {
      CheckError(deploy.status());
    }
    auto canary = proxy::CanaryRequestFromJson(j);
    if (canary.ok()) {
      FUZZ_CHECK(canary->weight >= 0 && canary->weight <= 100);
      FUZZ_CHECK(!canary->pool.targets.empty());
    } else {
      CheckError(canary.status());
    }
    auto service = proxy::ServiceFromJson(j);
    if (service.ok()) {
      CheckRoundTrip(*service);
    } else {
      CheckError(service.status());
    }
  }
  auto state = proxy::ParseState(body);
  if (state.ok()) {
    for (const auto& s : *state) CheckRoundTrip(s);
  } else {
    CheckError(state.status());
  }
  return 0;
}
