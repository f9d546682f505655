#include "config/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <tuple>

#include "common/duration.h"
#include "common/fs.h"

namespace gravity::config {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int kMaxInstances = 100;
constexpr int kMaxWorkers = 64;
constexpr int kMaxThreshold = 100;

// One key/value pair of a mapping, with the key's position.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// User text quoted for a message: at most 80 characters.
std::string Quote(std::string_view s) {
  if (s.size() > 80) return "'" + std::string(s.substr(0, 77)) + "...'";
  return "'" + std::string(s) + "'";
}

// One error is one line: control characters from the file are shown escaped.
std::string OneLine(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

enum class FileKind { kApp, kStack };

// Where a key that is unknown at one place belongs instead, or "" when it is unknown
// everywhere.
std::string Misplaced(FileKind kind, const std::string& key) {
  static const std::set<std::string> kEnvKeys = {"branch",        "promote_from",  "host",
                                                 "instances",     "strategy",      "canary",
                                                 "drain_timeout", "keep_previous", "env"};
  static const std::set<std::string> kAppKeys = {"repo", "poll_interval", "webhook_secret_file",
                                                 "keep_releases", "environments"};
  static const std::set<std::string> kStackTop = {"state_dir", "proxy", "admin", "instance_ports",
                                                  "apps"};
  static const std::set<std::string> kHealthKeys = {"path",
                                                    "status",
                                                    "body_contains",
                                                    "interval",
                                                    "healthy_threshold",
                                                    "unhealthy_threshold",
                                                    "deploy_timeout"};
  static const std::set<std::string> kAppSpecTop = {"build", "test", "run", "health"};
  if (kind == FileKind::kStack) {
    if (kEnvKeys.count(key))
      return "it belongs to an environment (apps.APP.environments.ENV." + key + ")";
    if (kAppKeys.count(key)) return "it belongs to an app (apps.APP." + key + ")";
    if (kStackTop.count(key)) return "it belongs at the top level of the stack file";
    if (key == "listen" || key == "metrics") return "it belongs under proxy: or admin:";
    if (kAppSpecTop.count(key) || kHealthKeys.count(key) || key == "command") {
      return "it belongs in gravity.yml, at the root of the app's repository";
    }
    return "";
  }
  if (kHealthKeys.count(key)) return "it belongs under health:";
  if (key == "command") return "it belongs under build:, test: or run:";
  if (key == "files" || key == "workers") return "it belongs under test:";
  if (key == "timeout") return "it belongs under build:, test: or health:";
  if (kAppSpecTop.count(key)) return "it belongs at the top level of gravity.yml";
  if (kStackTop.count(key) || kAppKeys.count(key) || kEnvKeys.count(key)) {
    return "it belongs in stack.yml, which describes environments";
  }
  return "";
}

// Collects errors with their positions. Not thread-safe; one per parse.
class Checker {
 public:
  Checker(std::string file, FileKind kind) : file_(std::move(file)), kind_(kind) {}

  void Error(const YAML::Mark& mark, const std::string& where, const std::string& what) {
    if (static_cast<int>(errors_.size()) >= kMaxErrors) {
      truncated_ = true;
      return;
    }
    std::string line = file_;
    if (!mark.is_null()) {
      line += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    line += ": ";
    if (!where.empty()) line += where + ": ";
    line += what;
    errors_.push_back(
        {mark.is_null() ? -1 : mark.line, mark.is_null() ? -1 : mark.column, OneLine(line)});
  }

  bool ok() const { return errors_.empty(); }

  // All errors, in the order of their position in the file.
  Status ToStatus() const {
    if (errors_.empty()) return Status::Ok();
    auto sorted = errors_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::string all;
    for (const auto& e : sorted) {
      if (!all.empty()) all += '\n';
      all += e.text;
    }
    if (truncated_) all += "\n" + file_ + ": (more errors not shown)";
    return Status::Error(all);
  }

  // The entries of a mapping, in file order. Reports keys that are not scalars, keys not
  // in `allowed` (with a suggestion when one is close; skipped when `allowed` is empty),
  // and duplicate keys (the first one wins).
  std::vector<Entry> Entries(const YAML::Node& map, const std::string& where,
                             const std::vector<std::string_view>& allowed) {
    std::vector<Entry> out;
    std::map<std::string, int> seen_line;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: the iterator yields a temporary pair
      if (!k.IsScalar()) {
        Error(k.Mark(), where, "keys must be plain names");
        continue;
      }
      std::string key = k.Scalar();
      std::string key_where = where.empty() ? key : where + "." + key;
      if (auto s = seen_line.find(key); s != seen_line.end()) {
        Error(k.Mark(), key_where,
              "duplicate key (first given on line " + std::to_string(s->second) + ")");
        continue;
      }
      seen_line[key] = k.Mark().line + 1;
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string msg = "unknown key " + Quote(key);
        if (auto hint = Misplaced(kind_, key); !hint.empty()) {
          msg += " here; " + hint;
        } else if (auto best = Suggest(key, allowed); !best.empty()) {
          msg += "; did you mean " + Quote(best) + "?";
        } else {
          msg += " (known keys: ";
          for (size_t i = 0; i < allowed.size(); ++i) {
            msg += (i ? ", " : "") + std::string(allowed[i]);
          }
          msg += ")";
        }
        Error(k.Mark(), where, msg);
        continue;
      }
      out.push_back(Entry{key, k, it->second});
    }
    return out;
  }

  static std::string Suggest(std::string_view key, const std::vector<std::string_view>& allowed) {
    std::string lower(key);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    int best_distance = 1 << 30;
    std::string best;
    for (auto candidate : allowed) {
      int d = EditDistance(lower, candidate);
      if (d < best_distance) {
        best_distance = d;
        best = std::string(candidate);
      }
    }
    int limit = key.size() <= 4 ? 1 : key.size() <= 8 ? 2 : 3;
    return best_distance <= limit ? best : "";
  }

 private:
  struct Problem {
    int line;
    int column;
    std::string text;
  };
  std::string file_;
  FileKind kind_;
  std::vector<Problem> errors_;
  bool truncated_ = false;
};

const char* KindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "an undefined value";
  }
}

// Field readers. Each reports its own errors and leaves `out` unchanged on error.
// `where` is the dotted path of the field ("health.interval").

bool ReadString(Checker& c, const Entry& e, const std::string& where, std::string& out,
                bool allow_empty = false) {
  if (!e.value.IsScalar()) {
    c.Error(e.value.IsNull() ? e.key_node.Mark() : e.value.Mark(), where,
            std::string("expected a string, got ") + KindName(e.value));
    return false;
  }
  if (!allow_empty && e.value.Scalar().empty()) {
    c.Error(e.value.Mark(), where, "must not be empty");
    return false;
  }
  out = e.value.Scalar();
  return true;
}

bool ReadInt(Checker& c, const Entry& e, const std::string& where, int min, int max, int& out) {
  if (!e.value.IsScalar()) {
    c.Error(e.value.IsNull() ? e.key_node.Mark() : e.value.Mark(), where,
            std::string("expected a whole number, got ") + KindName(e.value));
    return false;
  }
  const std::string& s = e.value.Scalar();
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
    c.Error(e.value.Mark(), where, "expected a whole number, got " + Quote(s));
    return false;
  }
  if (v < min || v > max) {
    c.Error(
        e.value.Mark(), where,
        "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool ReadDuration(Checker& c, const Entry& e, const std::string& where, milliseconds min,
                  milliseconds max, milliseconds& out) {
  if (!e.value.IsScalar()) {
    c.Error(e.value.IsNull() ? e.key_node.Mark() : e.value.Mark(), where,
            std::string("expected a duration such as 2s, got ") + KindName(e.value));
    return false;
  }
  auto d = ParseDuration(e.value.Scalar());
  if (!d.ok()) {
    c.Error(e.value.Mark(), where, d.error());
    return false;
  }
  if (*d < min || *d > max) {
    std::string range = min.count() == 0
                            ? "at most " + FormatDuration(max)
                            : "between " + FormatDuration(min) + " and " + FormatDuration(max);
    c.Error(e.value.Mark(), where, "must be " + range + ", got " + e.value.Scalar());
    return false;
  }
  out = *d;
  return true;
}

// A section that must be a mapping. `null` (an empty section) is treated as an empty
// mapping so that its required fields are reported.
bool IsMapOrNull(Checker& c, const Entry& e, const std::string& where) {
  if (e.value.IsMap() || e.value.IsNull()) return true;
  c.Error(e.value.Mark(), where, std::string("expected a mapping, got ") + KindName(e.value));
  return false;
}

YAML::Mark MarkOf(const Entry& e) { return e.value.IsNull() ? e.key_node.Mark() : e.value.Mark(); }

std::string Join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

// ---------------------------------------------------------------- gravity.yml

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
          t.files.push_back(n.Scalar());
        };
        if (e.value.IsSequence()) {
          if (e.value.size() == 0) c.Error(e.value.Mark(), "test.files", "the list is empty");
          for (size_t i = 0; i < e.value.size(); ++i) {
            add(e.value[i], "test.files[" + std::to_string(i) + "]");
          }
        } else {
          add(e.value, "test.files");
        }
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

void ParseHealth(Checker& c, const Entry& section, AppSpec& app) {
  HealthSpec& h = app.health;
  if (!section.value.IsMap()) return;
  const std::string w = "health";
  for (const auto& e : c.Entries(section.value, w,
                                 {"path", "status", "body_contains", "interval", "timeout",
                                  "healthy_threshold", "unhealthy_threshold", "deploy_timeout"})) {
    std::string f = Join(w, e.key);
    if (e.key == "path") {
      std::string p;
      if (ReadString(c, e, f, p)) {
        bool bad_char = std::any_of(p.begin(), p.end(), [](char ch) {
          return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f;
        });
        if (p[0] != '/') {
          c.Error(e.value.Mark(), f, "must start with '/', got " + Quote(p));
        } else if (bad_char) {
          c.Error(e.value.Mark(), f, "must not contain spaces or control characters");
        } else {
          h.path = p;
        }
      }
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

// Sees where each document starts, and nothing else.
class DocumentProbe : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark start = YAML::Mark::null_mark();
};

// Parses YAML text into a root node, reporting syntax errors. Returns false on error.
bool LoadRoot(Checker& c, std::string_view text, YAML::Node& root) {
  if (text.size() > kMaxFileBytes) {
    c.Error(YAML::Mark::null_mark(), "",
            "file is larger than " + std::to_string(kMaxFileBytes) + " bytes");
    return false;
  }
  try {
    // Count the documents first, with a bounded number of steps: yaml-cpp 0.7 never gets
    // past a stray ',' at the top level (YAML::LoadAll loops forever on "{a: b},"), which
    // shows as a document that starts where the previous one did.
    std::string copy(text);
    std::istringstream in(copy);
    YAML::Parser parser(in);
    int documents = 0;
    YAML::Mark previous = YAML::Mark::null_mark();
    for (int i = 0; i < 3; ++i) {
      DocumentProbe probe;
      if (!parser.HandleNextDocument(probe)) break;
      if (documents > 0 && probe.start.pos == previous.pos) {
        char ch = probe.start.pos >= 0 && static_cast<size_t>(probe.start.pos) < text.size()
                      ? text[static_cast<size_t>(probe.start.pos)]
                      : '?';
        c.Error(probe.start, "", std::string("invalid YAML: unexpected '") + ch + "'");
        return false;
      }
      previous = probe.start;
      ++documents;
    }
    if (documents > 1) {
      c.Error(YAML::Mark::null_mark(), "", "holds more than one YAML document ('---')");
      return false;
    }
    root = documents == 0 ? YAML::Node() : YAML::Load(copy);
  } catch (const YAML::ParserException& e) {
    std::string msg = e.msg;
    if (msg.find("alias") != std::string::npos || msg.find("anchor") != std::string::npos) {
      msg += " (a value starting with '*' or '&' must be quoted, e.g. host: \"*\")";
    }
    c.Error(e.mark, "", "invalid YAML: " + msg);
    return false;
  } catch (const YAML::Exception& e) {
    c.Error(e.mark, "", std::string("invalid YAML: ") + e.msg);
    return false;
  }
  if (!root.IsMap()) {
    c.Error(root.IsNull() ? YAML::Mark() : root.Mark(), "",
            root.IsNull() ? "the file is empty"
                          : std::string("expected a mapping at the top, got ") + KindName(root));
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- stack.yml

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  if (!std::islower(static_cast<unsigned char>(s[0])) &&
      !std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::islower(static_cast<unsigned char>(ch)) ||
           std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
}

std::string NameRule() {
  return "use lowercase letters, digits, '-' and '_', starting with a letter or digit, at most "
         "63 characters";
}

bool ValidHostLabel(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-';
  });
}

bool ValidHostName(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = h.find('.', start);
    std::string_view label = h.substr(start, dot == std::string_view::npos ? h.npos : dot - start);
    if (!ValidHostLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Route host: "*", "*.example.com" or an exact name.
std::string CheckRouteHost(const std::string& h) {
  if (h == "*") return "";
  if (h.find(':') != std::string::npos) return "a host is a name without a port";
  std::string_view name = h;
  if (name.rfind("*.", 0) == 0) name.remove_prefix(2);
  if (!ValidHostName(name)) {
    return "expected \"*\", \"*.example.com\" or a host name such as www.example.com";
  }
  return "";
}

std::string CheckBranch(const std::string& b) {
  if (b.empty()) return "must not be empty";
  if (b[0] == '-' || b[0] == '/' || b.back() == '/' || b.back() == '.')
    return "is not a valid branch name";
  if (b.size() >= 5 && b.compare(b.size() - 5, 5, ".lock") == 0)
    return "is not a valid branch name";
  if (b.find("..") != std::string::npos || b.find("//") != std::string::npos ||
      b.find("@{") != std::string::npos || b == "@")
    return "is not a valid branch name";
  for (char ch : b) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f || ch == '~' || ch == '^' ||
        ch == ':' || ch == '?' || ch == '*' || ch == '[' || ch == '\\')
      return "is not a valid branch name";
  }
  return "";
}

bool ValidEnvVarName(const std::string& s) {
  if (s.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  });
}

bool IsRemoteUrl(const std::string& repo) {
  if (repo.find("://") != std::string::npos) return true;
  // scp-like: user@host:path
  size_t at = repo.find('@');
  size_t colon = repo.find(':');
  size_t slash = repo.find('/');
  return at != std::string::npos && colon != std::string::npos && at < colon &&
         (slash == std::string::npos || colon < slash);
}

std::string Resolve(const std::string& base_dir, const std::string& p) {
  std::filesystem::path path(p);
  if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
  std::string s = path.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<double> ParseRate(const std::string& s) {
  std::string num = s;
  bool percent = !num.empty() && num.back() == '%';
  if (percent) num.pop_back();
  double v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (num.empty() || ec != std::errc() || p != num.data() + num.size()) {
    return Status::Error("expected a rate such as 1% or 0.01, got " + Quote(s));
  }
  if (percent) v /= 100.0;
  if (v < 0 || v > 1) return Status::Error("must be between 0% and 100%, got " + s);
  return v;
}

struct EnvMarks {
  YAML::Mark name;
  YAML::Mark host;
  YAML::Mark promote_from;
  YAML::Mark strategy;
  bool host_given = false;
  bool canary_given = false;
  YAML::Mark canary;
};

void ParseCanary(Checker& c, const Entry& section, const std::string& w, CanarySpec& out) {
  if (!section.value.IsMap()) return;
  for (const auto& e :
       c.Entries(section.value, w, {"weight", "duration", "max_error_rate", "min_requests"})) {
    std::string f = Join(w, e.key);
    if (e.key == "weight") {
      ReadInt(c, e, f, 1, 99, out.weight);
    } else if (e.key == "duration") {
      ReadDuration(c, e, f, seconds(1), hours(24), out.duration);
    } else if (e.key == "min_requests") {
      ReadInt(c, e, f, 1, 1000000, out.min_requests);
    } else if (e.key == "max_error_rate") {
      std::string s;
      if (ReadString(c, e, f, s)) {
        auto r = ParseRate(s);
        if (r.ok()) {
          out.max_error_rate = *r;
        } else {
          c.Error(e.value.Mark(), f, r.error());
        }
      }
    }
  }
}

void ParseEnvironment(Checker& c, const Entry& section, const std::string& w, EnvironmentSpec& env,
                      EnvMarks& marks) {
  bool have_branch = false, have_promote = false;
  if (section.value.IsMap()) {
    for (const auto& e : c.Entries(section.value, w,
                                   {"branch", "promote_from", "host", "instances", "strategy",
                                    "canary", "drain_timeout", "keep_previous", "env"})) {
      std::string f = Join(w, e.key);
      if (e.key == "branch") {
        have_branch = true;
        std::string b;
        if (ReadString(c, e, f, b)) {
          if (auto why = CheckBranch(b); !why.empty()) {
            c.Error(e.value.Mark(), f, Quote(b) + " " + why);
          } else {
            env.branch = b;
          }
        }
      } else if (e.key == "promote_from") {
        have_promote = true;
        marks.promote_from = e.value.Mark();
        ReadString(c, e, f, env.promote_from);
      } else if (e.key == "host") {
        std::string h;
        if (ReadString(c, e, f, h)) {
          for (auto& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          if (auto why = CheckRouteHost(h); !why.empty()) {
            c.Error(e.value.Mark(), f, Quote(h) + ": " + why);
          } else {
            env.host = h;
            marks.host = e.value.Mark();
            marks.host_given = true;
          }
        }
      } else if (e.key == "instances") {
        ReadInt(c, e, f, 1, kMaxInstances, env.instances);
      } else if (e.key == "strategy") {
        std::string s;
        marks.strategy = e.value.Mark();
        if (ReadString(c, e, f, s)) {
          if (s == "red_black") {
            env.strategy = Strategy::kRedBlack;
          } else if (s == "canary") {
            env.strategy = Strategy::kCanary;
          } else {
            std::string msg = "unknown strategy " + Quote(s);
            if (auto best = Checker::Suggest(s, {"red_black", "canary"}); !best.empty()) {
              msg += "; did you mean " + Quote(best) + "?";
            } else {
              msg += " (expected red_black or canary)";
            }
            c.Error(e.value.Mark(), f, msg);
          }
        }
      } else if (e.key == "canary") {
        marks.canary_given = true;
        marks.canary = e.key_node.Mark();
        if (IsMapOrNull(c, e, f)) ParseCanary(c, e, f, env.canary);
      } else if (e.key == "drain_timeout") {
        ReadDuration(c, e, f, milliseconds(0), hours(1), env.drain_timeout);
      } else if (e.key == "keep_previous") {
        ReadDuration(c, e, f, milliseconds(0), hours(24 * 7), env.keep_previous);
      } else if (e.key == "env") {
        if (!IsMapOrNull(c, e, f) || !e.value.IsMap()) continue;
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
    }
  }
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

void ParseApp(Checker& c, const Entry& section, const std::string& base_dir, StackApp& app,
              std::vector<EnvMarks>& env_marks) {
  const std::string w = "apps." + app.name;
  bool have_repo = false, have_envs = false;
  if (section.value.IsMap()) {
    for (const auto& e : c.Entries(
             section.value, w,
             {"repo", "poll_interval", "webhook_secret_file", "keep_releases", "environments"})) {
      std::string f = Join(w, e.key);
      if (e.key == "repo") {
        have_repo = true;
        std::string r;
        if (ReadString(c, e, f, r)) app.repo = IsRemoteUrl(r) ? r : Resolve(base_dir, r);
      } else if (e.key == "poll_interval") {
        ReadDuration(c, e, f, milliseconds(100), hours(24), app.poll_interval);
      } else if (e.key == "webhook_secret_file") {
        std::string p;
        if (!ReadString(c, e, f, p)) continue;
        std::string abs = Resolve(base_dir, p);
        auto content = ReadFile(abs);
        if (!content.ok()) {
          c.Error(e.value.Mark(), f, "cannot read " + Quote(abs) + ": " + content.error());
          continue;
        }
        std::string s = *content;
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
        if (s.empty()) {
          c.Error(e.value.Mark(), f, Quote(abs) + " is empty; put the webhook secret in it");
          continue;
        }
        app.webhook_secret_file = abs;
      } else if (e.key == "keep_releases") {
        ReadInt(c, e, f, 1, 1000, app.keep_releases);
      } else if (e.key == "environments") {
        have_envs = true;
        if (!IsMapOrNull(c, e, f)) continue;
        if (!e.value.IsMap() || e.value.size() == 0) {
          c.Error(MarkOf(e), f,
                  "no environments defined; add one, e.g. staging: { branch: staging }");
          continue;
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
          ParseEnvironment(c, env_entry, ew, env, marks);
          app.environments.push_back(std::move(env));
          env_marks.push_back(marks);
        }
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

void CheckPromotions(Checker& c, const StackApp& app, const std::vector<EnvMarks>& marks) {
  for (size_t i = 0; i < app.environments.size(); ++i) {
    const auto& env = app.environments[i];
    if (env.promote_from.empty()) continue;
    std::string where = "apps." + app.name + ".environments." + env.name + ".promote_from";
    if (env.promote_from == env.name) {
      c.Error(marks[i].promote_from, where, "an environment cannot promote from itself");
      continue;
    }
    const EnvironmentSpec* from = app.FindEnvironment(env.promote_from);
    if (!from) {
      std::vector<std::string> names;
      std::vector<std::string_view> views;
      for (const auto& other : app.environments) {
        if (other.name != env.name) names.push_back(other.name);
      }
      for (const auto& n : names) views.push_back(n);
      std::string msg = "no environment " + Quote(env.promote_from) + " in app " + Quote(app.name);
      if (auto best = Checker::Suggest(env.promote_from, views); !best.empty()) {
        msg += "; did you mean " + Quote(best) + "?";
      }
      c.Error(marks[i].promote_from, where, msg);
      continue;
    }
    // Follow the chain; it must reach an environment with a branch.
    std::set<std::string> visited{env.name};
    const EnvironmentSpec* cur = from;
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

bool ValidIp(const std::string& h, bool v6) {
  unsigned char buf[16];
  return inet_pton(v6 ? AF_INET6 : AF_INET, h.c_str(), buf) == 1;
}

void ParseListenSection(Checker& c, const Entry& section, const std::string& w,
                        std::vector<std::string_view> keys, ListenAddress* listen,
                        std::optional<ListenAddress>* metrics,
                        std::map<std::string, YAML::Mark>& marks) {
  if (!IsMapOrNull(c, section, w) || !section.value.IsMap()) return;
  for (const auto& e : c.Entries(section.value, w, keys)) {
    std::string f = Join(w, e.key);
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

}  // namespace

// ---------------------------------------------------------------- public

int EditDistance(std::string_view a, std::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  std::string t(text);
  auto bad = [&](const std::string& why) {
    return Status::Error("invalid listen address " + Quote(t) + ": " + why +
                         " (write e.g. 127.0.0.1:8080 or [::1]:8080)");
  };
  ListenAddress out;
  std::string port_text;
  if (!t.empty() && t[0] == '[') {
    size_t close = t.find(']');
    if (close == std::string::npos) return bad("missing ']'");
    out.host = t.substr(1, close - 1);
    if (!ValidIp(out.host, true)) return bad(Quote(out.host) + " is not an IPv6 address");
    if (close + 1 >= t.size() || t[close + 1] != ':') return bad("missing ':PORT'");
    port_text = t.substr(close + 2);
  } else {
    size_t colon = t.rfind(':');
    if (colon == std::string::npos) return bad("missing ':PORT'");
    out.host = t.substr(0, colon);
    port_text = t.substr(colon + 1);
    if (out.host.empty()) return bad("missing host");
    if (out.host.find(':') != std::string::npos) return bad("put an IPv6 address in brackets");
    bool dotted = std::all_of(out.host.begin(), out.host.end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch)) || ch == '.';
    });
    if (dotted ? !ValidIp(out.host, false) : !ValidHostName(out.host)) {
      return bad(Quote(out.host) + " is not an IP address or host name");
    }
  }
  int port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || p != port_text.data() + port_text.size()) {
    return bad("port " + Quote(port_text) + " is not a number");
  }
  if (port < 1 || port > 65535) return bad("port must be between 1 and 65535");
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

Result<AppSpec> ParseAppSpec(std::string_view yaml, const std::string& display_name) {
  Checker c(display_name, FileKind::kApp);
  YAML::Node root;
  if (!LoadRoot(c, yaml, root)) return c.ToStatus();
  AppSpec app;
  bool have_run = false;
  try {
    for (const auto& e : c.Entries(root, "", {"build", "test", "run", "health"})) {
      if (!IsMapOrNull(c, e, e.key)) {
        if (e.key == "run") have_run = true;
        continue;
      }
      if (e.key == "build") {
        ParseBuild(c, e, app);
      } else if (e.key == "test") {
        ParseTest(c, e, app);
      } else if (e.key == "run") {
        have_run = true;
        ParseRun(c, e, app);
      } else if (e.key == "health") {
        ParseHealth(c, e, app);
      }
    }
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

  std::map<std::string, YAML::Mark> listen_marks;
  std::vector<std::vector<EnvMarks>> env_marks;
  YAML::Mark ports_mark;
  bool have_apps = false, have_ports = false;
  try {
    for (const auto& e :
         c.Entries(root, "", {"state_dir", "proxy", "admin", "instance_ports", "apps"})) {
      if (e.key == "state_dir") {
        std::string s;
        if (ReadString(c, e, e.key, s)) stack.state_dir = Resolve(base_dir, s);
      } else if (e.key == "proxy") {
        ParseListenSection(c, e, "proxy", {"listen", "metrics"}, &stack.proxy_listen,
                           &stack.proxy_metrics, listen_marks);
      } else if (e.key == "admin") {
        ParseListenSection(c, e, "admin", {"listen"}, &stack.admin_listen, nullptr, listen_marks);
      } else if (e.key == "instance_ports") {
        // "20000-29999"
        std::string s;
        if (!ReadString(c, e, e.key, s)) continue;
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
          c.Error(e.value.Mark(), e.key,
                  "expected a port range such as 20000-29999, got " + Quote(s));
        } else if (first < 1024 || last > 65535 || first > last) {
          c.Error(e.value.Mark(), e.key,
                  "must be FIRST-LAST with 1024 <= FIRST <= LAST <= 65535, got " + s);
        } else {
          stack.instance_ports = {static_cast<std::uint16_t>(first),
                                  static_cast<std::uint16_t>(last)};
          have_ports = true;
          ports_mark = e.value.Mark();
        }
      } else if (e.key == "apps") {
        have_apps = true;
        if (!IsMapOrNull(c, e, "apps")) continue;
        if (!e.value.IsMap() || e.value.size() == 0) {
          c.Error(MarkOf(e), "apps", "no apps defined");
          continue;
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
          std::vector<EnvMarks> marks;
          ParseApp(c, a, base_dir, app, marks);
          stack.apps.push_back(std::move(app));
          env_marks.push_back(std::move(marks));
        }
      }
    }
  } catch (const YAML::Exception& e) {
    c.Error(e.mark, "", std::string("invalid YAML: ") + e.msg);
  }
  if (!have_apps) {
    c.Error(root.Mark(), "", "missing required section 'apps'");
  }

  // Cross-field checks.
  for (size_t i = 0; i < stack.apps.size(); ++i) CheckPromotions(c, stack.apps[i], env_marks[i]);

  // Each host routes to one environment.
  std::map<std::string, std::string> host_owner;
  for (size_t i = 0; i < stack.apps.size(); ++i) {
    const auto& app = stack.apps[i];
    for (size_t j = 0; j < app.environments.size(); ++j) {
      const auto& env = app.environments[j];
      std::string who = app.name + "/" + env.name;
      auto [it, inserted] = host_owner.emplace(env.host, who);
      if (!inserted) {
        const EnvMarks& m = env_marks[i][j];
        std::string msg = "host " + Quote(env.host) + " is already routed to " + it->second;
        if (!m.host_given) msg += " (\"*\" is the default; give this environment a host:)";
        c.Error(m.host_given ? m.host : m.name,
                "apps." + app.name + ".environments." + env.name + ".host", msg);
      }
    }
  }

  // Addresses must not collide.
  auto collide = [&](const ListenAddress& a, const ListenAddress& b) {
    return a.port == b.port && (a.host == b.host || a.host == "0.0.0.0" || b.host == "0.0.0.0" ||
                                a.host == "::" || b.host == "::");
  };
  auto mark_of = [&](const std::string& key) {
    auto it = listen_marks.find(key);
    return it == listen_marks.end() ? YAML::Mark() : it->second;
  };
  if (collide(stack.proxy_listen, stack.admin_listen)) {
    c.Error(mark_of("admin.listen"), "admin.listen",
            "same address as proxy.listen (" + stack.proxy_listen.ToString() + ")");
  }
  if (stack.proxy_metrics) {
    if (collide(*stack.proxy_metrics, stack.proxy_listen) ||
        collide(*stack.proxy_metrics, stack.admin_listen)) {
      c.Error(mark_of("proxy.metrics"), "proxy.metrics",
              "must differ from proxy.listen and admin.listen");
    }
  }
  for (const auto* a : {&stack.proxy_listen, &stack.admin_listen}) {
    if (a->port >= stack.instance_ports.first && a->port <= stack.instance_ports.last) {
      c.Error(have_ports ? ports_mark : YAML::Mark(), "instance_ports",
              std::to_string(stack.instance_ports.first) + "-" +
                  std::to_string(stack.instance_ports.last) + " contains port " +
                  std::to_string(a->port) + " of " + a->ToString());
    }
  }

  if (!c.ok()) return c.ToStatus();
  return stack;
}

Result<StackSpec> LoadStackSpec(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return Status::Error(path + ": " + text.error());
  return ParseStackSpec(*text, path);
}

}  // namespace gravity::config
