#include "config/stack_checks.h"

#include <set>

namespace gravity::config {

namespace {

// "no environment 'stagin' in app 'site'; did you mean 'staging'?"
std::string UnknownSourceMessage(const StackApp& app, const EnvironmentSpec& env) {
  std::vector<std::string_view> others;
  for (const auto& other : app.environments) {
    if (other.name != env.name) others.push_back(other.name);
  }
  std::string msg = "no environment " + Quote(env.promote_from) + " in app " + Quote(app.name);
  if (auto best = Suggest(env.promote_from, others); !best.empty()) {
    msg += "; did you mean " + Quote(best) + "?";
  }
  return msg;
}

// Every promote_from names another environment, and its chain reaches a branch.
void CheckPromotions(Checker& c, const StackApp& app, const std::vector<EnvMarks>& marks) {
  for (size_t i = 0; i < app.environments.size(); ++i) {
    const auto& env = app.environments[i];
    if (env.promote_from.empty()) continue;
    std::string where = "apps." + app.name + ".environments." + env.name + ".promote_from";
    if (env.promote_from == env.name) {
      c.Error(marks[i].promote_from, where, "an environment cannot promote from itself");
      continue;
    }
    const EnvironmentSpec* cur = app.FindEnvironment(env.promote_from);
    if (!cur) {
      c.Error(marks[i].promote_from, where, UnknownSourceMessage(app, env));
      continue;
    }
    std::set<std::string> visited{env.name};
    while (cur && !cur->promote_from.empty()) {
      if (!visited.insert(cur->name).second) {
        c.Error(marks[i].promote_from, where,
                "promotions form a cycle through " + Quote(cur->name) +
                    "; one environment of the chain must follow a branch");
        break;
      }
      cur = app.FindEnvironment(cur->promote_from);
    }
  }
}

// Each host routes to one environment, across all apps.
void CheckHostsUnique(Checker& c, const StackSpec& stack, const StackMarks& marks) {
  std::map<std::string, std::string> host_owner;
  for (size_t i = 0; i < stack.apps.size(); ++i) {
    const auto& app = stack.apps[i];
    for (size_t j = 0; j < app.environments.size(); ++j) {
      const auto& env = app.environments[j];
      auto [it, inserted] = host_owner.emplace(env.host, app.name + "/" + env.name);
      if (inserted) continue;
      const EnvMarks& m = marks.envs[i][j];
      std::string msg = "host " + Quote(env.host) + " is already routed to " + it->second;
      if (!m.host_given) msg += " (\"*\" is the default; give this environment a host:)";
      c.Error(m.host_given ? m.host : m.name,
              "apps." + app.name + ".environments." + env.name + ".host", msg);
    }
  }
}

bool Collide(const ListenAddress& a, const ListenAddress& b) {
  return a.port == b.port && (a.host == b.host || a.host == "0.0.0.0" || b.host == "0.0.0.0" ||
                              a.host == "::" || b.host == "::");
}

// The proxy, admin and metrics listeners differ, and instance ports avoid them.
void CheckAddresses(Checker& c, const StackSpec& stack, const StackMarks& marks) {
  auto mark_of = [&](const std::string& key) {
    auto it = marks.listen.find(key);
    return it == marks.listen.end() ? YAML::Mark() : it->second;
  };
  if (Collide(stack.proxy_listen, stack.admin_listen)) {
    c.Error(mark_of("admin.listen"), "admin.listen",
            "same address as proxy.listen (" + stack.proxy_listen.ToString() + ")");
  }
  if (stack.proxy_metrics && (Collide(*stack.proxy_metrics, stack.proxy_listen) ||
                              Collide(*stack.proxy_metrics, stack.admin_listen))) {
    c.Error(mark_of("proxy.metrics"), "proxy.metrics",
            "must differ from proxy.listen and admin.listen");
  }
  if (stack.proxy_https) {
    const ListenAddress& h = stack.proxy_https->listen;
    if (Collide(h, stack.proxy_listen) || Collide(h, stack.admin_listen) ||
        (stack.proxy_metrics && Collide(h, *stack.proxy_metrics))) {
      c.Error(mark_of("proxy.https.listen"), "proxy.https.listen",
              "must differ from proxy.listen, proxy.metrics and admin.listen");
    }
  }
  if (stack.webhooks && stack.webhooks->listen.port != 0) {
    const ListenAddress& hooks = stack.webhooks->listen;
    if (Collide(hooks, stack.proxy_listen) || Collide(hooks, stack.admin_listen) ||
        (stack.proxy_metrics && Collide(hooks, *stack.proxy_metrics))) {
      c.Error(mark_of("webhooks.listen"), "webhooks.listen",
              "must differ from proxy.listen, proxy.metrics and admin.listen");
    }
  }
  const PortRange& ports = stack.instance_ports;
  std::vector<const ListenAddress*> fixed = {&stack.proxy_listen, &stack.admin_listen};
  if (stack.proxy_https) fixed.push_back(&stack.proxy_https->listen);
  for (const auto* a : fixed) {
    if (a->port < ports.first || a->port > ports.last) continue;
    c.Error(marks.have_ports ? marks.ports : YAML::Mark(), "instance_ports",
            std::to_string(ports.first) + "-" + std::to_string(ports.last) + " contains port " +
                std::to_string(a->port) + " of " + a->ToString());
  }
}

// tls: needs proxy.https (and auto its acme:), and a host a certificate can name; hsts:
// only where there is TLS.
void CheckTls(Checker& c, const StackSpec& stack, const StackMarks& marks) {
  for (size_t i = 0; i < stack.apps.size(); ++i) {
    const StackApp& app = stack.apps[i];
    for (size_t j = 0; j < app.environments.size(); ++j) {
      const EnvironmentSpec& env = app.environments[j];
      const EnvMarks& m = marks.envs[i][j];
      const std::string w = "apps." + app.name + ".environments." + env.name;
      if (env.hsts.count() > 0 && env.tls.mode == TlsMode::kOff) {
        c.Error(m.hsts, w + ".hsts", "needs tls: (HSTS is sent over HTTPS only)");
      }
      if (env.tls.mode == TlsMode::kOff) continue;
      if (!stack.proxy_https) {
        c.Error(m.tls, w + ".tls", "needs proxy.https: { listen: ADDR } (the HTTPS listener)");
      } else if (env.tls.mode == TlsMode::kAuto && !stack.proxy_https->acme) {
        c.Error(m.tls, w + ".tls",
                "auto needs proxy.https.acme: { directory: URL } (the CA to order from)");
      }
      if (env.host == "*") {
        c.Error(m.tls, w + ".tls", "needs a host: (a certificate is for a name, not \"*\")");
      } else if (env.tls.mode == TlsMode::kAuto && env.host.find('*') != std::string::npos) {
        c.Error(m.tls, w + ".tls",
                "auto cannot get a wildcard certificate (" + env.host +
                    " needs DNS-01); give a certificate: and key: instead");
      }
    }
  }
}

}  // namespace

void CheckStack(Checker& c, const StackSpec& stack, const StackMarks& marks) {
  for (size_t i = 0; i < stack.apps.size(); ++i) CheckPromotions(c, stack.apps[i], marks.envs[i]);
  CheckHostsUnique(c, stack, marks);
  CheckAddresses(c, stack, marks);
  CheckTls(c, stack, marks);
}

}  // namespace gravity::config
