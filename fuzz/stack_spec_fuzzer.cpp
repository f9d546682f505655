// stack.yml on arbitrary text: ParseStackSpec must return a stack or errors in their
// documented form, never throw, crash or hang. The stack "lives" in a directory that does
// not exist, so webhook secret files are looked up and never found. Accepted stacks keep
// the invariants the daemon relies on, and the listen addresses print back to themselves.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "config/config.h"
#include "config_errors.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  namespace config = gravity::config;
  static const std::string kPath = "/nonexistent/gravity-fuzz/stack.yml";
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  auto stack = config::ParseStackSpec(text, kPath);
  if (!stack.ok()) {
    CheckConfigErrors(stack.error(), kPath);
    return 0;
  }
  FUZZ_CHECK(!stack->state_dir.empty() && stack->state_dir[0] == '/');
  FUZZ_CHECK(stack->instance_ports.first <= stack->instance_ports.last);
  for (const config::ListenAddress& a : {stack->proxy_listen, stack->admin_listen}) {
    auto again = config::ParseListenAddress(a.ToString());
    FUZZ_CHECK(again.ok() && *again == a);
  }
  std::set<std::string> apps;
  for (const auto& app : stack->apps) {
    FUZZ_CHECK(!app.name.empty() && apps.insert(app.name).second);
    FUZZ_CHECK(!app.repo.empty() && !app.environments.empty());
    std::set<std::string> envs;
    for (const auto& env : app.environments) {
      FUZZ_CHECK(envs.insert(env.name).second);
      FUZZ_CHECK(env.branch.empty() != env.promote_from.empty());
      FUZZ_CHECK(env.instances >= 1);
      if (!env.promote_from.empty()) FUZZ_CHECK(app.FindEnvironment(env.promote_from));
    }
  }
  return 0;
}
