#include "config/spec.h"

#include "common/duration.h"
#include "common/strings.h"

namespace gravity::config {

const char* StrategyName(Strategy s) { return s == Strategy::kCanary ? "canary" : "red_black"; }

const char* TlsModeName(TlsMode m) {
  return m == TlsMode::kAuto ? "auto" : m == TlsMode::kFiles ? "files" : "off";
}

std::string ListenAddress::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

const EnvironmentSpec* StackApp::FindEnvironment(const std::string& env_name) const {
  for (const auto& e : environments) {
    if (e.name == env_name) return &e;
  }
  return nullptr;
}

const StackApp* StackSpec::FindApp(const std::string& app_name) const {
  for (const auto& a : apps) {
    if (a.name == app_name) return &a;
  }
  return nullptr;
}

namespace {

std::vector<std::string> EnvironmentFields(const EnvironmentSpec& a, const EnvironmentSpec& b) {
  std::vector<std::string> f;
  if (a.branch != b.branch) f.push_back("branch");
  if (a.promote_from != b.promote_from) f.push_back("promote_from");
  if (a.host != b.host) f.push_back("host");
  if (a.instances != b.instances) f.push_back("instances");
  if (a.strategy != b.strategy) f.push_back("strategy");
  if (!(a.canary == b.canary)) f.push_back("canary");
  if (a.drain_timeout != b.drain_timeout) f.push_back("drain_timeout");
  if (a.keep_previous != b.keep_previous) f.push_back("keep_previous");
  if (a.env != b.env) f.push_back("env");
  if (!(a.limits == b.limits)) f.push_back("limits");
  if (a.sandbox != b.sandbox) f.push_back("sandbox");
  if (!(a.tls == b.tls)) f.push_back("tls");
  if (a.hsts != b.hsts) f.push_back("hsts");
  return f;
}

AppChange CompareApps(const StackApp& a, const StackApp& b) {
  AppChange c;
  c.name = b.name;
  if (a.repo != b.repo) c.fields.push_back("repo");
  if (a.poll_interval != b.poll_interval) c.fields.push_back("poll_interval");
  if (a.webhook_secret_file != b.webhook_secret_file) c.fields.push_back("webhook_secret_file");
  if (a.keep_releases != b.keep_releases) c.fields.push_back("keep_releases");
  if (!(a.build_limits == b.build_limits)) c.fields.push_back("build_limits");
  if (a.build_sandbox != b.build_sandbox) c.fields.push_back("build_sandbox");
  for (const auto& env : b.environments) {
    const EnvironmentSpec* old = a.FindEnvironment(env.name);
    if (!old) {
      c.environments_added.push_back(env.name);
    } else if (auto fields = EnvironmentFields(*old, env); !fields.empty()) {
      c.environments_changed.push_back({env.name, std::move(fields)});
    }
  }
  for (const auto& env : a.environments) {
    if (!b.FindEnvironment(env.name)) c.environments_removed.push_back(env.name);
  }
  return c;
}

}  // namespace

StackDiff Diff(const StackSpec& before, const StackSpec& after) {
  StackDiff d;
  if (before.state_dir != after.state_dir) d.fields.push_back("state_dir");
  if (!(before.proxy_listen == after.proxy_listen)) d.fields.push_back("proxy.listen");
  if (before.proxy_metrics != after.proxy_metrics) d.fields.push_back("proxy.metrics");
  if (before.proxy_https != after.proxy_https) d.fields.push_back("proxy.https");
  if (!(before.admin_listen == after.admin_listen)) d.fields.push_back("admin.listen");
  if (!(before.instance_ports == after.instance_ports)) d.fields.push_back("instance_ports");
  if (!(before.logs == after.logs)) d.fields.push_back("logs");
  for (const auto& app : after.apps) {
    const StackApp* old = before.FindApp(app.name);
    if (!old) {
      d.apps_added.push_back(app.name);
      continue;
    }
    AppChange c = CompareApps(*old, app);
    if (!c.fields.empty() || !c.environments_added.empty() || !c.environments_removed.empty() ||
        !c.environments_changed.empty()) {
      d.apps_changed.push_back(std::move(c));
    }
  }
  for (const auto& app : before.apps) {
    if (!after.FindApp(app.name)) d.apps_removed.push_back(app.name);
  }
  return d;
}

std::vector<std::string> StackDiff::Describe() const {
  std::vector<std::string> out;
  if (!fields.empty()) out.push_back("stack changed: " + gravity::Join(fields, ", "));
  for (const auto& a : apps_added) out.push_back("app " + a + " added");
  for (const auto& a : apps_removed) out.push_back("app " + a + " removed");
  for (const auto& c : apps_changed) {
    if (!c.fields.empty()) {
      out.push_back("app " + c.name + " changed: " + gravity::Join(c.fields, ", "));
    }
    for (const auto& e : c.environments_added) {
      out.push_back("app " + c.name + ": environment " + e + " added");
    }
    for (const auto& e : c.environments_removed) {
      out.push_back("app " + c.name + ": environment " + e + " removed");
    }
    for (const auto& e : c.environments_changed) {
      out.push_back("app " + c.name + ": environment " + e.name +
                    " changed: " + gravity::Join(e.fields, ", "));
    }
  }
  return out;
}

}  // namespace gravity::config
