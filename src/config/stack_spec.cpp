// stack.yml: the environment template. Sections are parsed one function each, recording
// the positions the checks across sections (stack_checks.h) report at.

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "common/fs.h"
#include "config/canary_spec.h"
#include "config/checker.h"
#include "config/config.h"
#include "config/document.h"
#include "config/fields.h"
#include "config/stack_checks.h"
#include "config/values.h"

namespace gravity::config {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kMaxInstances = 100;

// ------------------------------------------------------------ environments

void ReadBranch(Checker& c, const Entry& e, const std::string& f, EnvironmentSpec& env) {
  std::string b;
  if (!ReadString(c, e, f, b)) return;
  if (auto why = CheckBranch(b); !why.empty()) {
    c.Error(e.value.Mark(), f, Quote(b) + " " + why);
  } else {
    env.branch = b;
  }
}

void ReadRouteHost(Checker& c, const Entry& e, const std::string& f, EnvironmentSpec& env,
                   EnvMarks& marks) {
  std::string h;
  if (!ReadString(c, e, f, h)) return;
  for (auto& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (auto why = CheckRouteHost(h); !why.empty()) {
    c.Error(e.value.Mark(), f, Quote(h) + ": " + why);
    return;
  }
  env.host = h;
  marks.host = e.value.Mark();
  marks.host_given = true;
}

void ReadStrategy(Checker& c, const Entry& e, const std::string& f, EnvironmentSpec& env,
                  EnvMarks& marks) {
  std::string s;
  marks.strategy = e.value.Mark();
  if (!ReadString(c, e, f, s)) return;
  if (s == "red_black") {
    env.strategy = Strategy::kRedBlack;
  } else if (s == "canary") {
    env.strategy = Strategy::kCanary;
  } else {
    std::string msg = "unknown strategy " + Quote(s);
    if (auto best = Suggest(s, {"red_black", "canary"}); !best.empty()) {
      msg += "; did you mean " + Quote(best) + "?";
    } else {
      msg += " (expected red_black or canary)";
    }
    c.Error(e.value.Mark(), f, msg);
  }
}

// env: a mapping of variable names to strings; PORT and GRAVITY_* are Gravity's.
void ReadEnvVars(Checker& c, const Entry& e, const std::string& f, EnvironmentSpec& env) {
  if (!IsMapOrNull(c, e, f) || !e.value.IsMap()) return;
  for (const auto& v : c.Entries(e.value, f, {})) {
    std::string vf = Join(f, v.key);
    if (!ValidEnvVarName(v.key)) {
      c.Error(v.key_node.Mark(), vf,
              "not a valid environment variable name (letters, digits and '_', not "
              "starting with a digit)");
      continue;
    }
    if (v.key == "PORT" || v.key.rfind("GRAVITY_", 0) == 0) {
      c.Error(v.key_node.Mark(), vf, "is set by Gravity and cannot be overridden");
      continue;
    }
    std::string value;
    if (ReadString(c, v, vf, value, /*allow_empty=*/true)) env.env[v.key] = value;
  }
}

// limits / build_limits: { memory, cpu, pids, open_files, tmp }; unset fields keep their
// defaults.
void ReadLimits(Checker& c, const Entry& e, const std::string& f, ResourceLimits& out) {
  if (!IsMapOrNull(c, e, f) || !e.value.IsMap()) return;
  for (const auto& l : c.Entries(e.value, f, {"memory", "cpu", "pids", "open_files", "tmp"})) {
    std::string lf = Join(f, l.key);
    if (l.key == "pids") {
      ReadInt(c, l, lf, 16, 1 << 22, out.pids);
    } else if (l.key == "open_files") {
      ReadInt(c, l, lf, 64, 1 << 20, out.open_files);
    } else if (l.key == "cpu") {
      std::string s;
      if (!ReadString(c, l, lf, s)) continue;
      char* end = nullptr;
      double v = std::strtod(s.c_str(), &end);
      if (end == s.c_str() || *end != '\0' || !(v >= 0.01 && v <= 1024)) {
        c.Error(l.value.Mark(), lf,
                Quote(s) +
                    " is not a CPU share; write a number of CPUs from 0.01 to 1024 "
                    "(e.g. 1.5)");
      } else {
        out.cpu = v;
      }
    } else {  // memory, tmp
      std::string s;
      if (!ReadString(c, l, lf, s)) continue;
      auto bytes = ParseByteSize(s);
      std::int64_t min = l.key == "memory" ? (16LL << 20) : (1LL << 20);
      if (!bytes.ok()) {
        c.Error(l.value.Mark(), lf, bytes.error());
      } else if (*bytes < min) {
        c.Error(l.value.Mark(), lf,
                Quote(s) + " is too small (at least " + FormatByteSize(min) + ")");
      } else {
        (l.key == "memory" ? out.memory : out.tmp) = *bytes;
      }
    }
  }
}

void ReadSandbox(Checker& c, const Entry& e, const std::string& f, SandboxMode& out) {
  std::string s;
  if (!ReadString(c, e, f, s)) return;
  if (s == "strict") {
    out = SandboxMode::kStrict;
  } else if (s == "off") {
    out = SandboxMode::kOff;
  } else {
    c.Error(e.value.Mark(), f,
            "unknown sandbox " + Quote(s) + " (expected strict, the default, or off)");
  }
}

// data: a list of directory names (letters, digits, '-', '_', '.'; not "." or "..").
void ReadDataDirs(Checker& c, const Entry& e, const std::string& f, std::vector<std::string>& out) {
  auto add = [&](const YAML::Node& n, const std::string& where) {
    std::string name = n.IsScalar() ? n.Scalar() : "";
    bool ok = !name.empty() && name.size() <= 64 && name != "." && name != "..";
    for (char ch : name) {
      ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
                  ch == '.');
    }
    if (!ok) {
      c.Error(n.IsNull() ? e.key_node.Mark() : n.Mark(), where,
              "expected a directory name such as uploads (letters, digits, '-', '_', '.')");
      return;
    }
    for (const auto& d : out) {
      if (d == name) {
        std::string what = "data directory ";
        what.append(Quote(name)).append(" is listed twice");
        c.Error(n.Mark(), where, what);
        return;
      }
    }
    out.push_back(name);
  };
  if (!e.value.IsSequence()) return add(e.value, f);
  for (size_t i = 0; i < e.value.size(); ++i) {
    std::string where = f;
    where.append("[").append(std::to_string(i)).append("]");
    add(e.value[i], where);
  }
}

// A field naming a file, resolved against the stack file: its absolute path and content,
// or nullopt with the error reported (the value is not a string, or the file unreadable).
std::optional<std::string> ReadFileField(Checker& c, const Entry& e, const std::string& f,
                                         const std::string& base_dir, std::string* abs) {
  std::string p;
  if (!ReadString(c, e, f, p)) return std::nullopt;
  *abs = Resolve(base_dir, p);
  auto content = ReadFile(*abs);
  if (!content.ok()) {
    c.Error(e.value.Mark(), f, "cannot read " + Quote(*abs) + ": " + content.error());
    return std::nullopt;
  }
  return std::move(*content);
}

// A PEM file the proxy will load: it must be readable and look like PEM of `kind`
// ("CERTIFICATE", "PRIVATE KEY"). The proxy checks the rest (the key matches, the chain).
void ReadPemFile(Checker& c, const Entry& e, const std::string& f, const std::string& base_dir,
                 const char* kind, std::string& out) {
  std::string abs;
  auto content = ReadFileField(c, e, f, base_dir, &abs);
  if (!content) return;
  if (content->find("-----BEGIN ") == std::string::npos ||
      content->find(std::string(kind) + "-----") == std::string::npos) {
    c.Error(e.value.Mark(), f, Quote(abs) + " is not a PEM " + kind + " file");
    return;
  }
  out = abs;
}

// tls: off | auto | { certificate: FILE, key: FILE }
void ReadTls(Checker& c, const Entry& e, const std::string& f, const std::string& base_dir,
             EnvironmentSpec& env, EnvMarks& marks) {
  marks.tls = e.value.Mark();
  if (e.value.IsScalar()) {
    std::string s;
    if (!ReadString(c, e, f, s)) return;
    if (s == "off" || s == "false") {
      env.tls = TlsSpec{};
    } else if (s == "auto") {
      env.tls.mode = TlsMode::kAuto;
    } else {
      c.Error(e.value.Mark(), f,
              "expected off, auto (ACME) or { certificate: FILE, key: FILE }, got " + Quote(s));
    }
    return;
  }
  if (!IsMapOrNull(c, e, f) || !e.value.IsMap()) return;
  TlsSpec tls;
  tls.mode = TlsMode::kFiles;
  for (const auto& k : c.Entries(e.value, f, {"certificate", "key"})) {
    std::string kf = Join(f, k.key);
    if (k.key == "certificate") {
      ReadPemFile(c, k, kf, base_dir, "CERTIFICATE", tls.certificate);
    } else {
      ReadPemFile(c, k, kf, base_dir, "PRIVATE KEY", tls.key);
    }
  }
  if (tls.certificate.empty() || tls.key.empty()) {
    if (!e.value["certificate"] || !e.value["key"]) {
      c.Error(MarkOf(e), f, "needs both certificate: and key: (PEM files)");
    }
    return;
  }
  env.tls = tls;
}

// Exactly one of branch / promote_from; canary settings only with the canary strategy.
void CheckEnvironmentShape(Checker& c, const Entry& section, const std::string& w, bool have_branch,
                           bool have_promote, const EnvironmentSpec& env, const EnvMarks& marks) {
  if (have_branch && have_promote) {
    c.Error(MarkOf(section), w,
            "has both 'branch' and 'promote_from'; an environment either follows a branch or "
            "receives promoted releases");
  } else if (!have_branch && !have_promote) {
    c.Error(MarkOf(section), w,
            "needs 'branch' (the branch it deploys) or 'promote_from' (the environment it "
            "receives releases from)");
  }
  if (marks.canary_given && env.strategy != Strategy::kCanary) {
    c.Error(marks.canary, Join(w, "canary"), "is only used with strategy: canary");
  }
}

void ParseEnvironment(Checker& c, const Entry& section, const std::string& w,
                      const std::string& base_dir, EnvironmentSpec& env, EnvMarks& marks) {
  bool have_branch = false, have_promote = false;
  if (section.value.IsMap()) {
    for (const auto& e :
         c.Entries(section.value, w,
                   {"branch", "promote_from", "host", "instances", "strategy", "canary",
                    "drain_timeout", "keep_previous", "watch", "env", "limits", "sandbox", "data", "tls",
                    "hsts"})) {
      std::string f = Join(w, e.key);
      if (e.key == "branch") {
        have_branch = true;
        ReadBranch(c, e, f, env);
      } else if (e.key == "promote_from") {
        have_promote = true;
        marks.promote_from = e.value.Mark();
        ReadString(c, e, f, env.promote_from);
      } else if (e.key == "host") {
        ReadRouteHost(c, e, f, env, marks);
      } else if (e.key == "instances") {
        ReadInt(c, e, f, 1, kMaxInstances, env.instances);
      } else if (e.key == "strategy") {
        ReadStrategy(c, e, f, env, marks);
      } else if (e.key == "canary") {
        marks.canary_given = true;
        marks.canary = e.key_node.Mark();
        if (IsMapOrNull(c, e, f)) ParseCanary(c, e, f, env.canary);
      } else if (e.key == "drain_timeout") {
        ReadDuration(c, e, f, milliseconds(0), hours(1), env.drain_timeout);
      } else if (e.key == "keep_previous") {
        ReadDuration(c, e, f, milliseconds(0), hours(24 * 7), env.keep_previous);
      } else if (e.key == "watch") {
        ReadDuration(c, e, f, milliseconds(0), hours(24), env.watch);
      } else if (e.key == "env") {
        ReadEnvVars(c, e, f, env);
      } else if (e.key == "limits") {
        ReadLimits(c, e, f, env.limits);
      } else if (e.key == "sandbox") {
        ReadSandbox(c, e, f, env.sandbox);
      } else if (e.key == "data") {
        ReadDataDirs(c, e, f, env.data);
      } else if (e.key == "tls") {
        ReadTls(c, e, f, base_dir, env, marks);
      } else if (e.key == "hsts") {
        marks.hsts = e.value.Mark();
        ReadDuration(c, e, f, milliseconds(0), hours(24 * 365 * 2), env.hsts);
      }
    }
  }
  CheckEnvironmentShape(c, section, w, have_branch, have_promote, env, marks);
}

// ------------------------------------------------------------ apps

// webhook_secret_file: resolved against the stack file; must exist and not be blank.
void ReadWebhookSecret(Checker& c, const Entry& e, const std::string& f,
                       const std::string& base_dir, StackApp& app) {
  std::string abs;
  auto content = ReadFileField(c, e, f, base_dir, &abs);
  if (!content) return;
  std::string s = std::move(*content);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) {
    c.Error(e.value.Mark(), f, Quote(abs) + " is empty; put the webhook secret in it");
    return;
  }
  app.webhook_secret_file = abs;
}

void ParseEnvironments(Checker& c, const Entry& e, const std::string& f,
                       const std::string& base_dir, StackApp& app,
                       std::vector<EnvMarks>& env_marks) {
  if (!IsMapOrNull(c, e, f)) return;
  if (!e.value.IsMap() || e.value.size() == 0) {
    c.Error(MarkOf(e), f, "no environments defined; add one, e.g. staging: { branch: staging }");
    return;
  }
  for (const auto& env_entry : c.Entries(e.value, f, {})) {
    std::string ew = Join(f, env_entry.key);
    if (!ValidName(env_entry.key)) {
      c.Error(env_entry.key_node.Mark(), ew, "invalid environment name; " + NameRule());
      continue;
    }
    if (!IsMapOrNull(c, env_entry, ew)) continue;
    EnvironmentSpec env;
    env.name = env_entry.key;
    EnvMarks marks;
    marks.name = env_entry.key_node.Mark();
    ParseEnvironment(c, env_entry, ew, base_dir, env, marks);
    app.environments.push_back(std::move(env));
    env_marks.push_back(marks);
  }
}

void ParseApp(Checker& c, const Entry& section, const std::string& base_dir, StackApp& app,
              std::vector<EnvMarks>& env_marks) {
  const std::string w = "apps." + app.name;
  bool have_repo = false, have_envs = false;
  if (section.value.IsMap()) {
    for (const auto& e : c.Entries(section.value, w,
                                   {"repo", "poll_interval", "webhook_secret_file", "keep_releases",
                                    "build_limits", "build_sandbox", "environments"})) {
      std::string f = Join(w, e.key);
      if (e.key == "repo") {
        have_repo = true;
        std::string r;
        if (ReadString(c, e, f, r)) app.repo = IsRemoteUrl(r) ? r : Resolve(base_dir, r);
      } else if (e.key == "poll_interval") {
        ReadDuration(c, e, f, milliseconds(100), hours(24), app.poll_interval);
      } else if (e.key == "webhook_secret_file") {
        ReadWebhookSecret(c, e, f, base_dir, app);
      } else if (e.key == "keep_releases") {
        ReadInt(c, e, f, 1, 1000, app.keep_releases);
      } else if (e.key == "build_limits") {
        ReadLimits(c, e, f, app.build_limits);
      } else if (e.key == "build_sandbox") {
        ReadSandbox(c, e, f, app.build_sandbox);
      } else if (e.key == "environments") {
        have_envs = true;
        ParseEnvironments(c, e, f, base_dir, app, env_marks);
      }
    }
  }
  if (!have_repo) {
    c.Error(MarkOf(section), w, "missing required key 'repo' (a path or URL git can fetch)");
  }
  if (!have_envs) {
    c.Error(MarkOf(section), w,
            "missing required key 'environments' (e.g. staging: { branch: staging })");
  }
}

void ParseApps(Checker& c, const Entry& e, const std::string& base_dir, StackSpec& stack,
               StackMarks& marks) {
  if (!IsMapOrNull(c, e, "apps")) return;
  if (!e.value.IsMap() || e.value.size() == 0) {
    c.Error(MarkOf(e), "apps", "no apps defined");
    return;
  }
  for (const auto& a : c.Entries(e.value, "apps", {})) {
    std::string w = "apps." + a.key;
    if (!ValidName(a.key)) {
      c.Error(a.key_node.Mark(), w, "invalid app name; " + NameRule());
      continue;
    }
    if (!IsMapOrNull(c, a, w)) continue;
    StackApp app;
    app.name = a.key;
    std::vector<EnvMarks> env_marks;
    ParseApp(c, a, base_dir, app, env_marks);
    stack.apps.push_back(std::move(app));
    marks.envs.push_back(std::move(env_marks));
  }
}

// ------------------------------------------------------------ listeners and ports

void ParseListenSection(Checker& c, const Entry& section, const std::string& w,
                        std::vector<std::string_view> keys, ListenAddress* listen,
                        std::optional<ListenAddress>* metrics,
                        std::map<std::string, YAML::Mark>& marks,
                        const std::function<void(const Entry&)>& https = {}) {
  if (!IsMapOrNull(c, section, w) || !section.value.IsMap()) return;
  for (const auto& e : c.Entries(section.value, w, keys)) {
    std::string f = Join(w, e.key);
    if (e.key == "https") {  // a section of its own (ParseHttps)
      if (https) https(e);
      continue;
    }
    std::string s;
    if (!ReadString(c, e, f, s)) continue;
    auto addr = ParseListenAddress(s);
    if (!addr.ok()) {
      c.Error(e.value.Mark(), f, addr.error());
      continue;
    }
    marks[f] = e.value.Mark();
    if (e.key == "listen") {
      *listen = *addr;
    } else if (e.key == "metrics" && metrics) {
      *metrics = *addr;
    }
  }
}

// proxy.https.acme: { directory: URL, email: ADDR, ca_bundle: FILE } (directory required).
void ParseAcme(Checker& c, const Entry& section, const std::string& base_dir, HttpsSpec& https) {
  const std::string w = "proxy.https.acme";
  if (!IsMapOrNull(c, section, w) || !section.value.IsMap()) {
    if (section.value.IsNull()) c.Error(section.key_node.Mark(), w, "needs a directory: (URL)");
    return;
  }
  AcmeSpec acme;
  for (const auto& e :
       c.Entries(section.value, w, {"directory", "email", "ca_bundle", "challenge"})) {
    std::string f = Join(w, e.key);
    std::string s;
    if (!ReadString(c, e, f, s)) continue;
    if (e.key == "directory") {
      if (s.rfind("https://", 0) != 0 || s.size() <= 8) {
        c.Error(e.value.Mark(), f, "must be the CA's https:// directory URL, got " + Quote(s));
        continue;
      }
      acme.directory = s;
    } else if (e.key == "email") {
      if (s.find('@') == std::string::npos || s.find_first_of(" \t\r\n<>") != std::string::npos) {
        c.Error(e.value.Mark(), f, Quote(s) + " is not an email address");
        continue;
      }
      acme.email = s;
    } else if (e.key == "challenge") {
      if (s != "http-01" && s != "tls-alpn-01") {
        c.Error(e.value.Mark(), f, "expected http-01 or tls-alpn-01, got " + Quote(s));
        continue;
      }
      acme.challenge = s;
    } else {
      ReadPemFile(c, e, f, base_dir, "CERTIFICATE", acme.ca_bundle);
    }
  }
  if (acme.directory.empty()) {
    if (!section.value["directory"]) c.Error(section.key_node.Mark(), w, "needs a directory: (URL)");
    return;
  }
  https.acme = acme;
}

// proxy.https: { listen: ADDR, redirect_http: BOOL, acme: {...} }
void ParseHttps(Checker& c, const Entry& section, const std::string& base_dir, StackSpec& stack,
                std::map<std::string, YAML::Mark>& marks) {
  const std::string w = "proxy.https";
  HttpsSpec https;
  if (!IsMapOrNull(c, section, w)) return;
  marks[w] = section.key_node.Mark();
  if (section.value.IsMap()) {
    for (const auto& e : c.Entries(section.value, w, {"listen", "redirect_http", "acme"})) {
      std::string f = Join(w, e.key);
      if (e.key == "acme") {
        ParseAcme(c, e, base_dir, https);
        continue;
      }
      std::string s;
      if (!ReadString(c, e, f, s)) continue;
      if (e.key == "redirect_http") {
        if (s != "true" && s != "false") {
          c.Error(e.value.Mark(), f, "expected true or false, got " + Quote(s));
        }
        https.redirect_http = s == "true";
        continue;
      }
      auto addr = ParseListenAddress(s);
      if (!addr.ok()) {
        c.Error(e.value.Mark(), f, addr.error());
        continue;
      }
      https.listen = *addr;
      marks[f] = e.value.Mark();
    }
  }
  stack.proxy_https = https;
}

// webhooks: { host: ci.example.com, listen: 127.0.0.1:7071 } (host required).
void ParseWebhooks(Checker& c, const Entry& section, StackSpec& stack,
                   std::map<std::string, YAML::Mark>& marks) {
  if (!IsMapOrNull(c, section, "webhooks") || !section.value.IsMap()) {
    if (section.value.IsNull()) c.Error(section.key_node.Mark(), "webhooks", "needs a host:");
    return;
  }
  WebhookRoute hooks;
  bool have_host = false, host_given = false;
  for (const auto& e : c.Entries(section.value, "webhooks", {"host", "listen"})) {
    std::string f = Join("webhooks", e.key);
    std::string s;
    if (!ReadString(c, e, f, s)) continue;
    if (e.key == "host") {
      host_given = true;
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string why = CheckRouteHost(s);
      if (why.empty() && s.find('*') != std::string::npos) {
        why = "the webhook host is one name, not a wildcard";
      }
      if (!why.empty()) {
        c.Error(e.value.Mark(), f, Quote(s) + ": " + why);
        continue;
      }
      hooks.host = s;
      have_host = true;
    } else {
      auto addr = ParseListenAddress(s);
      if (!addr.ok()) {
        c.Error(e.value.Mark(), f, addr.error());
        continue;
      }
      hooks.listen = *addr;
      marks[f] = e.value.Mark();
    }
  }
  if (!have_host) {
    if (!host_given) {
      c.Error(section.key_node.Mark(), "webhooks", "needs a host: (the public name webhooks use)");
    }
    return;
  }
  stack.webhooks = hooks;
}

// logs: { retention: { max_bytes: 1GiB, max_age: 14d } } — each app's share of the store.
// host:port of a forward URL after its scheme; false (and `why`) when it is not one.
bool ForwardHostPort(const std::string& rest, std::uint16_t default_port, std::string* host,
                     std::uint16_t* port, std::string* path, std::string* why) {
  std::size_t slash = rest.find('/');
  std::string hp = rest.substr(0, slash);
  *path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path->empty() && path->back() == '/') path->pop_back();
  std::size_t colon = hp.rfind(':');
  std::string p;
  if (!hp.empty() && hp.front() == '[') {
    std::size_t close = hp.find(']');
    if (close == std::string::npos) {
      *why = "an IPv6 address needs its ']'";
      return false;
    }
    *host = hp.substr(1, close - 1);
    if (close + 1 < hp.size() && hp[close + 1] == ':') p = hp.substr(close + 2);
  } else {
    *host = colon == std::string::npos ? hp : hp.substr(0, colon);
    if (colon != std::string::npos) p = hp.substr(colon + 1);
  }
  if (host->empty()) {
    *why = "needs a host";
    return false;
  }
  *port = default_port;
  if (!p.empty()) {
    int v = 0;
    auto r = std::from_chars(p.data(), p.data() + p.size(), v);
    if (r.ec != std::errc() || r.ptr != p.data() + p.size() || v < 1 || v > 65535) {
      *why = "port must be 1-65535, got '" + p + "'";
      return false;
    }
    *port = static_cast<std::uint16_t>(v);
  }
  return true;
}

// logs.forward: [ {syslog: tcp://h:514}, {syslog: udp://h}, {loki: http://h:3100}, {file: F} ]
void ParseForward(Checker& c, const Entry& e, const std::string& base_dir, StackSpec& stack) {
  if (!e.value.IsSequence()) {
    c.Error(MarkOf(e), "logs.forward",
            std::string("expected a list of destinations, got ") + KindName(e.value));
    return;
  }
  for (std::size_t i = 0; i < e.value.size(); ++i) {
    const YAML::Node item = e.value[i];
    std::string where = "logs.forward[" + std::to_string(i) + "]";
    if (!item.IsMap() || item.size() != 1) {
      c.Error(item.Mark(), where, "expected one of {syslog: URL}, {loki: URL}, {file: PATH}");
      continue;
    }
    for (const auto& d : c.Entries(item, where, {"syslog", "loki", "file"})) {
      std::string f = Join(where, d.key);
      std::string s;
      if (!ReadString(c, d, f, s)) continue;
      LogForward out;
      std::string why;
      if (d.key == "file") {
        out.kind = LogForward::Kind::kFile;
        out.path = Resolve(base_dir, s);
      } else if (d.key == "syslog") {
        bool tcp = s.rfind("tcp://", 0) == 0, udp = s.rfind("udp://", 0) == 0;
        std::string path;
        if (!tcp && !udp) {
          why = "expected tcp://HOST[:PORT] or udp://HOST[:PORT]";
        } else if (ForwardHostPort(s.substr(6), 514, &out.host, &out.port, &path, &why) &&
                   !path.empty()) {
          why = "a syslog address has no path";
        }
        out.kind = tcp ? LogForward::Kind::kSyslogTcp : LogForward::Kind::kSyslogUdp;
      } else {
        out.kind = LogForward::Kind::kLoki;
        if (s.rfind("http://", 0) != 0) {
          why = "expected http://HOST[:PORT][/PATH]";
        } else {
          ForwardHostPort(s.substr(7), 3100, &out.host, &out.port, &out.path, &why);
        }
      }
      if (!why.empty()) {
        c.Error(d.value.Mark(), f, Quote(s) + ": " + why);
        continue;
      }
      stack.logs.forward.push_back(out);
    }
  }
}

void ParseLogs(Checker& c, const Entry& section, const std::string& base_dir, StackSpec& stack) {
  if (!IsMapOrNull(c, section, "logs") || !section.value.IsMap()) return;
  for (const auto& e : c.Entries(section.value, "logs", {"retention", "forward"})) {
    if (e.key == "forward") {
      ParseForward(c, e, base_dir, stack);
      continue;
    }
    if (!IsMapOrNull(c, e, "logs.retention") || !e.value.IsMap()) continue;
    for (const auto& r : c.Entries(e.value, "logs.retention", {"max_bytes", "max_age"})) {
      std::string f = Join("logs.retention", r.key);
      if (r.key == "max_age") {
        std::chrono::milliseconds age{};
        if (ReadDuration(c, r, f, std::chrono::minutes(1), std::chrono::hours(24 * 3650), age)) {
          stack.logs.max_age = age;
        }
        continue;
      }
      std::string s;
      if (!ReadString(c, r, f, s)) continue;
      auto bytes = ParseByteSize(s);
      if (!bytes.ok()) {
        c.Error(r.value.Mark(), f, bytes.error());
      } else if (*bytes < (1LL << 20)) {
        c.Error(r.value.Mark(), f, Quote(s) + " is too small (at least 1 MiB)");
      } else {
        stack.logs.max_bytes = *bytes;
      }
    }
  }
}

// instance_ports: "20000-29999", unprivileged and in order.
void ReadInstancePorts(Checker& c, const Entry& e, StackSpec& stack, StackMarks& marks) {
  std::string s;
  if (!ReadString(c, e, e.key, s)) return;
  size_t dash = s.find('-');
  int first = 0, last = 0;
  bool parsed = false;
  if (dash != std::string::npos) {
    auto r1 = std::from_chars(s.data(), s.data() + dash, first);
    auto r2 = std::from_chars(s.data() + dash + 1, s.data() + s.size(), last);
    parsed = dash > 0 && r1.ec == std::errc() && r1.ptr == s.data() + dash &&
             r2.ec == std::errc() && r2.ptr == s.data() + s.size();
  }
  if (!parsed) {
    c.Error(e.value.Mark(), e.key, "expected a port range such as 20000-29999, got " + Quote(s));
  } else if (first < 1024 || last > 65535 || first > last) {
    c.Error(e.value.Mark(), e.key,
            "must be FIRST-LAST with 1024 <= FIRST <= LAST <= 65535, got " + s);
  } else {
    stack.instance_ports = {static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)};
    marks.have_ports = true;
    marks.ports = e.value.Mark();
  }
}

// The top-level sections. Sets `have_apps` as soon as `apps` is seen.
void ParseSections(Checker& c, const YAML::Node& root, const std::string& base_dir,
                   StackSpec& stack, StackMarks& marks, bool& have_apps) {
  for (const auto& e :
       c.Entries(root, "", {"state_dir", "proxy", "admin", "webhooks", "instance_ports", "logs",
                            "apps"})) {
    if (e.key == "state_dir") {
      std::string s;
      if (ReadString(c, e, e.key, s)) stack.state_dir = Resolve(base_dir, s);
    } else if (e.key == "proxy") {
      ParseListenSection(c, e, "proxy", {"listen", "metrics", "https"}, &stack.proxy_listen,
                         &stack.proxy_metrics, marks.listen,
                         [&](const Entry& h) { ParseHttps(c, h, base_dir, stack, marks.listen); });
    } else if (e.key == "admin") {
      ParseListenSection(c, e, "admin", {"listen"}, &stack.admin_listen, nullptr, marks.listen);
    } else if (e.key == "webhooks") {
      ParseWebhooks(c, e, stack, marks.listen);
    } else if (e.key == "instance_ports") {
      ReadInstancePorts(c, e, stack, marks);
    } else if (e.key == "logs") {
      ParseLogs(c, e, base_dir, stack);
    } else if (e.key == "apps") {
      have_apps = true;
      ParseApps(c, e, base_dir, stack, marks);
    }
  }
}

}  // namespace

Result<StackSpec> ParseStackSpec(std::string_view yaml, const std::string& stack_path) {
  Checker c(stack_path, FileKind::kStack);
  YAML::Node root;
  if (!LoadRoot(c, yaml, root)) return c.ToStatus();

  StackSpec stack;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(stack_path, ec);
  stack.file = abs.lexically_normal().string();
  std::string base_dir = abs.lexically_normal().parent_path().string();
  stack.state_dir = Resolve(base_dir, ".gravity");

  StackMarks marks;
  bool have_apps = false;
  try {
    ParseSections(c, root, base_dir, stack, marks, have_apps);
  } catch (const YAML::Exception& e) {
    c.Error(e.mark, "", std::string("invalid YAML: ") + e.msg);
  }
  if (!have_apps) c.Error(root.Mark(), "", "missing required section 'apps'");

  CheckStack(c, stack, marks);

  if (!c.ok()) return c.ToStatus();
  return stack;
}

Result<StackSpec> LoadStackSpec(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return Status::Error(path + ": " + text.error());
  return ParseStackSpec(*text, path);
}

}  // namespace gravity::config
