#include "deploy/proxy_control.h"

namespace gravity::deploy {

Result<ProxyDeployOutcome> ProxyControl::DeployCanary(const ProxyRoute&, int) {
  return Status::Error("this proxy control has no canary support");
}
Status ProxyControl::PromoteCanary(const std::string&) {
  return Status::Error("this proxy control has no canary support");
}
Status ProxyControl::DropCanary(const std::string&) { return Status::Ok(); }
Result<std::optional<ProxyService>> ProxyControl::Service(const std::string&) {
  return Status::Error("this proxy control has no canary support");
}

}  // namespace gravity::deploy
