#include "config/canary_metrics.h"

#include <cmath>
#include <cstdlib>
#include <set>

#include "config/fields.h"

namespace gravity::config {

namespace {

// "{{nam}}" in a query: what is wrong with its placeholders, or "".
std::string CheckPlaceholders(const std::string& query) {
  std::vector<std::string_view> known(std::begin(kMetricPlaceholders),
                                      std::end(kMetricPlaceholders));
  for (std::size_t at = query.find("{{"); at != std::string::npos;
       at = query.find("{{", at + 2)) {
    std::size_t end = query.find("}}", at + 2);
    if (end == std::string::npos) return "an unclosed '{{' (placeholders are written {{release}})";
    std::string name = query.substr(at + 2, end - at - 2);
    bool found = false;
    for (auto k : known) found |= name == k;
    if (found) continue;
    std::string msg = "unknown placeholder " + Quote("{{" + name + "}}");
    if (auto best = Suggest(name, known); !best.empty()) {
      msg += " (did you mean {{" + best + "}}?)";
    } else {
      msg += " (expected {{release}}, {{app}}, {{env}} or {{window}})";
    }
    return msg;
  }
  return "";
}

// A finite number ("100", "0.99", "1e3") into `out`.
bool ReadNumber(Checker& c, const Entry& e, const std::string& f, double& out) {
  if (!e.value.IsScalar()) {
    c.Error(MarkOf(e), f, std::string("expected a number, got ") + KindName(e.value));
    return false;
  }
  const std::string& s = e.value.Scalar();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v)) {
    c.Error(e.value.Mark(), f, Quote(s) + ": expected a number, such as 100 or 0.99");
    return false;
  }
  out = v;
  return true;
}

// One entry of canary.metrics; false when it is not usable.
bool ReadCheck(Checker& c, const YAML::Node& n, const std::string& w, CanaryMetricCheck& out) {
  if (!n.IsMap()) {
    c.Error(n.Mark(), w,
            std::string("expected a mapping {name, query, max | min}, got ") + KindName(n));
    return false;
  }
  bool ok = true;
  for (const auto& e : c.Entries(n, w, {"name", "query", "max", "min"})) {
    std::string f = Join(w, e.key);
    double v = 0;
    if (e.key == "name") {
      ok &= ReadString(c, e, f, out.name);
    } else if (e.key == "query") {
      if (!ReadString(c, e, f, out.query)) {
        ok = false;
      } else if (std::string why = CheckPlaceholders(out.query); !why.empty()) {
        c.Error(e.value.Mark(), f, why);
        ok = false;
      }
    } else if (e.key == "max") {
      if (ReadNumber(c, e, f, v)) out.max = v; else ok = false;
    } else if (e.key == "min") {
      if (ReadNumber(c, e, f, v)) out.min = v; else ok = false;
    }
  }
  if (!ok) return false;
  if (out.name.empty()) {
    c.Error(n.Mark(), w, "needs a name");
    return false;
  }
  if (out.query.empty()) {
    c.Error(n.Mark(), w, "needs a query (PromQL)");
    return false;
  }
  if (out.max && out.min) {
    c.Error(n.Mark(), w, "has both max and min: give exactly one (a separate check for the other)");
    return false;
  }
  if (!out.max && !out.min) {
    c.Error(n.Mark(), w, "needs max or min (the limit the query's value is held to)");
    return false;
  }
  return true;
}

}  // namespace

void ReadPrometheusUrl(Checker& c, const Entry& e, const std::string& where, std::string& out) {
  std::string s;
  if (!ReadString(c, e, where, s)) return;
  std::string rest;
  if (s.rfind("http://", 0) == 0) {
    rest = s.substr(7);
  } else if (s.rfind("https://", 0) == 0) {
    rest = s.substr(8);
  } else {
    c.Error(e.value.Mark(), where,
            Quote(s) + ": expected the server's base URL, such as http://127.0.0.1:9090");
    return;
  }
  std::string host = rest.substr(0, rest.find('/'));
  if (host.empty() || s.find_first_of(" ?#") != std::string::npos) {
    c.Error(e.value.Mark(), where,
            Quote(s) + ": expected the server's base URL, such as http://127.0.0.1:9090");
    return;
  }
  while (!s.empty() && s.back() == '/') s.pop_back();
  out = s;
}

void ReadCanaryMetrics(Checker& c, const Entry& e, const std::string& where,
                       std::vector<CanaryMetricCheck>& out) {
  if (!e.value.IsSequence() || e.value.size() == 0) {
    c.Error(MarkOf(e), where, "expected a list of {name, query, max | min} checks");
    return;
  }
  std::vector<CanaryMetricCheck> checks;
  std::set<std::string> names;
  bool ok = true;
  for (std::size_t i = 0; i < e.value.size(); ++i) {
    const YAML::Node& n = e.value[i];
    std::string w = where + "[" + std::to_string(i) + "]";
    CanaryMetricCheck check;
    if (!ReadCheck(c, n, w, check)) {
      ok = false;
      continue;
    }
    if (!names.insert(check.name).second) {
      c.Error(n["name"].Mark(), Join(w, "name"),
              Quote(check.name) + " is already the name of another check");
      ok = false;
      continue;
    }
    checks.push_back(std::move(check));
  }
  if (ok) out = std::move(checks);
}

}  // namespace gravity::config
