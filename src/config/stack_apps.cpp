// stack.yml's apps: section — each app (repo, poll interval, webhook secret, build
// limits and sandbox) and its environments (branch or promote_from, host, strategy,
// instances, limits, data directories, TLS), recording the positions the checks across
// sections (stack_checks.h) report at.

#include "config/stack_apps.h"

#include <cctype>
#include <set>

#include "common/resource_limits.h"
#include "config/canary_spec.h"
#include "config/fields.h"
#include "config/values.h"

namespace gravity::config {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

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
      ok = ok &&
           (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.');
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
    for (const auto& e : c.Entries(
             section.value, w,
             {"branch", "promote_from", "host", "instances", "strategy", "canary", "drain_timeout",
              "keep_previous", "watch", "env", "limits", "sandbox", "data", "tls", "hsts"})) {
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

}  // namespace

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

}  // namespace gravity::config
