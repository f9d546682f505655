#include "config/checker.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "config/config.h"

namespace gravity::config {

std::string Quote(std::string_view s) {
  // Built with append: GCC 12 at -O3 reports a false -Wrestrict on "'" + std::string(s).
  std::string out;
  out.push_back('\'');
  out.append(s.size() > 80 ? s.substr(0, 77) : s);
  out.append(s.size() > 80 ? "...'" : "'");
  return out;
}

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

namespace {

const std::set<std::string> kEnvKeys = {
    "branch",        "promote_from",  "host", "instances", "strategy", "canary",
    "drain_timeout", "keep_previous", "env",  "limits",    "sandbox", "data"};
const std::set<std::string> kAppKeys = {"repo",          "poll_interval", "webhook_secret_file",
                                        "keep_releases", "build_limits",  "build_sandbox",
                                        "environments"};
const std::set<std::string> kStackTop = {"state_dir",      "proxy", "admin", "webhooks",
                                         "instance_ports", "logs",  "apps"};
const std::set<std::string> kHealthKeys = {"path",
                                           "status",
                                           "body_contains",
                                           "interval",
                                           "healthy_threshold",
                                           "unhealthy_threshold",
                                           "deploy_timeout"};
const std::set<std::string> kAppSpecTop = {"build", "test", "run", "health"};

// A key of gravity.yml (or stack.yml) written in stack.yml: where it belongs instead.
std::string MisplacedInStack(const std::string& key) {
  if (kEnvKeys.count(key))
    return "it belongs to an environment (apps.APP.environments.ENV." + key + ")";
  if (kAppKeys.count(key)) return "it belongs to an app (apps.APP." + key + ")";
  if (kStackTop.count(key)) return "it belongs at the top level of the stack file";
  if (key == "listen") return "it belongs under proxy: or admin:";
  if (key == "metrics") return "it belongs under proxy:";
  if (kAppSpecTop.count(key) || kHealthKeys.count(key) || key == "command") {
    return "it belongs in gravity.yml, at the root of the app's repository";
  }
  return "";
}

// A key of stack.yml (or gravity.yml) written in gravity.yml: where it belongs instead.
std::string MisplacedInApp(const std::string& key) {
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

}  // namespace

std::string Misplaced(FileKind kind, const std::string& key) {
  return kind == FileKind::kStack ? MisplacedInStack(key) : MisplacedInApp(key);
}

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

std::string Suggest(std::string_view key, const std::vector<std::string_view>& allowed) {
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

void Checker::Error(const YAML::Mark& mark, const std::string& where, const std::string& what) {
  if (static_cast<int>(errors_.size()) >= kMaxErrors) {
    truncated_ = true;
    return;
  }
  std::string line = file_;
  if (!mark.is_null()) {
    line.append(":").append(std::to_string(mark.line + 1));
    line.append(":").append(std::to_string(mark.column + 1));
  }
  line += ": ";
  if (!where.empty()) line.append(where).append(": ");
  line += what;
  errors_.push_back(
      {mark.is_null() ? -1 : mark.line, mark.is_null() ? -1 : mark.column, OneLine(line)});
}

Status Checker::ToStatus() const {
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

std::string Checker::UnknownKeyMessage(const std::string& key,
                                       const std::vector<std::string_view>& allowed) const {
  std::string msg = "unknown key " + Quote(key);
  if (auto hint = Misplaced(kind_, key); !hint.empty()) return msg + " here; " + hint;
  if (auto best = Suggest(key, allowed); !best.empty()) {
    return msg + "; did you mean " + Quote(best) + "?";
  }
  msg += " (known keys: ";
  for (size_t i = 0; i < allowed.size(); ++i) msg += (i ? ", " : "") + std::string(allowed[i]);
  return msg + ")";
}

std::vector<Entry> Checker::Entries(const YAML::Node& map, const std::string& where,
                                    const std::vector<std::string_view>& allowed) {
  std::vector<Entry> out;
  std::map<std::string, int> seen_line;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // A copy: the iterator yields a temporary pair, so `const YAML::Node& k = it->first`
    // would dangle (AddressSanitizer: stack-use-after-scope on every parse).
    const YAML::Node k = it->first;
    if (!k.IsScalar()) {
      Error(k.Mark(), where, "keys must be plain names");
      continue;
    }
    std::string key = k.Scalar();
    if (auto s = seen_line.find(key); s != seen_line.end()) {
      Error(k.Mark(), where.empty() ? key : where + "." + key,
            "duplicate key (first given on line " + std::to_string(s->second) + ")");
      continue;
    }
    seen_line[key] = k.Mark().line + 1;
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      Error(k.Mark(), where, UnknownKeyMessage(key, allowed));
      continue;
    }
    out.push_back(Entry{key, k, it->second});
  }
  return out;
}

}  // namespace gravity::config
