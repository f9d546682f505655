// gravity.yml: the app spec, versioned with the app's code. One function per section.

#include <algorithm>
#include <filesystem>

#include "common/fs.h"
#include "config/checker.h"
#include "config/config.h"
#include "config/document.h"
#include "config/fields.h"

namespace gravity::config {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kMaxWorkers = 64;
constexpr int kMaxThreshold = 100;

bool SafeRelativeGlob(const std::string& g) {
  if (g.empty() || g[0] == '/') return false;
  std::filesystem::path p(g);
  for (const auto& part : p) {
    if (part == "..") return false;
  }
  return true;
}

void ParseBuild(Checker& c, const Entry& section, AppSpec& app) {
  BuildSpec b;
  bool have_command = false;
  if (section.value.IsMap()) {
    for (const auto& e : c.Entries(section.value, "build", {"command", "timeout"})) {
      if (e.key == "command") {
        ReadString(c, e, "build.command", b.command);
        have_command = true;
      } else if (e.key == "timeout") {
        ReadDuration(c, e, "build.timeout", seconds(1), hours(24), b.timeout);
      }
    }
  }
  if (!have_command) c.Error(MarkOf(section), "build", "missing required key 'command'");
  app.build = b;
}

// test.files: one glob or a list of globs, each relative and without "..".
void ReadGlobs(Checker& c, const Entry& e, std::vector<std::string>& files) {
  auto add = [&](const YAML::Node& n, const std::string& where) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      c.Error(n.IsNull() ? e.key_node.Mark() : n.Mark(), where,
              "expected a glob such as tests/*_test.sh");
      return;
    }
    if (!SafeRelativeGlob(n.Scalar())) {
      c.Error(n.Mark(), where,
              "glob " + Quote(n.Scalar()) +
                  " must be relative to the repository and must not contain '..'");
      return;
    }
    files.push_back(n.Scalar());
  };
  if (!e.value.IsSequence()) return add(e.value, "test.files");
  if (e.value.size() == 0) c.Error(e.value.Mark(), "test.files", "the list is empty");
  for (size_t i = 0; i < e.value.size(); ++i) {
    add(e.value[i], "test.files[" + std::to_string(i) + "]");
  }
}

void ParseTest(Checker& c, const Entry& section, AppSpec& app) {
  TestSpec t;
  bool have_command = false, have_files = false;
  if (section.value.IsMap()) {
    for (const auto& e :
         c.Entries(section.value, "test", {"command", "files", "workers", "timeout"})) {
      if (e.key == "command") {
        ReadString(c, e, "test.command", t.command);
        have_command = true;
      } else if (e.key == "files") {
        have_files = true;
        ReadGlobs(c, e, t.files);
      } else if (e.key == "workers") {
        ReadInt(c, e, "test.workers", 1, kMaxWorkers, t.workers);
      } else if (e.key == "timeout") {
        ReadDuration(c, e, "test.timeout", seconds(1), hours(24), t.timeout);
      }
    }
  }
  if (!have_command) c.Error(MarkOf(section), "test", "missing required key 'command'");
  if (!have_files) {
    c.Error(MarkOf(section), "test",
            "missing required key 'files' (a glob such as tests/*_test.sh, or a list of globs)");
  }
  app.test = t;
}

void ParseVerify(Checker& c, const Entry& section, AppSpec& app) {
  VerifySpec v;
  bool have_command = false;
  if (section.value.IsMap()) {
    for (const auto& e : c.Entries(section.value, "verify", {"command", "timeout"})) {
      if (e.key == "command") {
        have_command = ReadString(c, e, "verify.command", v.command);
      } else if (e.key == "timeout") {
        ReadDuration(c, e, "verify.timeout", seconds(1), hours(1), v.timeout);
      }
    }
  }
  if (!have_command) c.Error(MarkOf(section), "verify", "missing required key 'command'");
  app.verify = v;
}

void ParseRun(Checker& c, const Entry& section, AppSpec& app) {
  bool have_command = false;
  if (section.value.IsMap()) {
    for (const auto& e : c.Entries(section.value, "run", {"command"})) {
      if (e.key == "command") {
        ReadString(c, e, "run.command", app.run.command);
        have_command = true;
      }
    }
  }
  if (!have_command) {
    c.Error(MarkOf(section), "run",
            "missing required key 'command' (the command that starts the app on $PORT)");
  }
}

// health.path: an absolute request path without spaces or control characters.
void ReadHealthPath(Checker& c, const Entry& e, const std::string& where, std::string& out) {
  std::string p;
  if (!ReadString(c, e, where, p)) return;
  bool bad_char = std::any_of(p.begin(), p.end(), [](char ch) {
    return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f;
  });
  if (p[0] != '/') {
    c.Error(e.value.Mark(), where, "must start with '/', got " + Quote(p));
  } else if (bad_char) {
    c.Error(e.value.Mark(), where, "must not contain spaces or control characters");
  } else {
    out = p;
  }
}

void ParseHealth(Checker& c, const Entry& section, AppSpec& app) {
  HealthSpec& h = app.health;
  if (!section.value.IsMap()) return;
  const std::string w = "health";
  for (const auto& e : c.Entries(section.value, w,
                                 {"path", "status", "body_contains", "interval", "timeout",
                                  "healthy_threshold", "unhealthy_threshold", "deploy_timeout"})) {
    std::string f = Join(w, e.key);
    if (e.key == "path") {
      ReadHealthPath(c, e, f, h.path);
    } else if (e.key == "status") {
      ReadInt(c, e, f, 100, 599, h.status);
    } else if (e.key == "body_contains") {
      ReadString(c, e, f, h.body_contains, /*allow_empty=*/true);
    } else if (e.key == "interval") {
      ReadDuration(c, e, f, milliseconds(10), hours(1), h.interval);
    } else if (e.key == "timeout") {
      ReadDuration(c, e, f, milliseconds(10), hours(1), h.timeout);
    } else if (e.key == "healthy_threshold") {
      ReadInt(c, e, f, 1, kMaxThreshold, h.healthy_threshold);
    } else if (e.key == "unhealthy_threshold") {
      ReadInt(c, e, f, 1, kMaxThreshold, h.unhealthy_threshold);
    } else if (e.key == "deploy_timeout") {
      ReadDuration(c, e, f, milliseconds(100), hours(24), h.deploy_timeout);
    }
  }
}

// The top-level sections. Sets `have_run` when `run` is given (even if malformed), as
// soon as it is seen: a YAML exception later on must not add "missing 'run'".
void ParseSections(Checker& c, const YAML::Node& root, AppSpec& app, bool& have_run) {
  for (const auto& e : c.Entries(root, "", {"build", "test", "verify", "run", "health"})) {
    if (e.key == "run") have_run = true;
    if (!IsMapOrNull(c, e, e.key)) continue;
    if (e.key == "build") {
      ParseBuild(c, e, app);
    } else if (e.key == "test") {
      ParseTest(c, e, app);
    } else if (e.key == "verify") {
      ParseVerify(c, e, app);
    } else if (e.key == "run") {
      ParseRun(c, e, app);
    } else if (e.key == "health") {
      ParseHealth(c, e, app);
    }
  }
}

}  // namespace

Result<AppSpec> ParseAppSpec(std::string_view yaml, const std::string& display_name) {
  Checker c(display_name, FileKind::kApp);
  YAML::Node root;
  if (!LoadRoot(c, yaml, root)) return c.ToStatus();
  AppSpec app;
  bool have_run = false;
  try {
    ParseSections(c, root, app, have_run);
  } catch (const YAML::Exception& e) {
    c.Error(e.mark, "", std::string("invalid YAML: ") + e.msg);
  }
  if (!have_run) {
    c.Error(root.Mark(), "",
            "missing required section 'run' (e.g. run: { command: ./server --port $PORT })");
  }
  if (!c.ok()) return c.ToStatus();
  return app;
}

Result<AppSpec> LoadAppSpec(const std::string& path, const std::string& display_name) {
  const std::string& name = display_name.empty() ? path : display_name;
  auto text = ReadFile(path);
  if (!text.ok()) return Status::Error(name + ": " + text.error());
  return ParseAppSpec(*text, name);
}

}  // namespace gravity::config
