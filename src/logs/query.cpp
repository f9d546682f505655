#include "logs/query.h"

#include <regex.h>

#include <algorithm>

#include "common/duration.h"

namespace gravity::logs {

Result<std::int64_t> ParseTimeArg(std::string_view what, const std::string& text,
                                  std::int64_t now_ns) {
  if (auto d = ParseDuration(text); d.ok()) {
    return now_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(*d).count();
  }
  std::int64_t ns = 0;
  if (ParseRfc3339(text, &ns) || ParseRfc3339(text + "Z", &ns)) return ns;
  return Status::InvalidArgument(std::string(what) + " '" + text +
                                 "': expected a duration (10m, 2h) or an RFC 3339 time "
                                 "(2026-01-31T12:00:00Z)");
}

struct Pattern::Impl {
  regex_t re;
};

Result<std::shared_ptr<const Pattern>> Pattern::Compile(const std::string& text) {
  std::shared_ptr<Pattern> p(new Pattern());
  p->impl_ = std::make_unique<Impl>();
  int rc = ::regcomp(&p->impl_->re, text.c_str(), REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char msg[256];
    ::regerror(rc, &p->impl_->re, msg, sizeof msg);
    p->impl_.reset();
    return Status::InvalidArgument("grep '" + text + "': not a regular expression: " + msg);
  }
  return std::shared_ptr<const Pattern>(std::move(p));
}

Pattern::~Pattern() {
  if (impl_) ::regfree(&impl_->re);
}

bool Pattern::Matches(const std::string& text) const {
  return ::regexec(&impl_->re, text.c_str(), 0, nullptr, 0) == 0;
}

namespace {

bool IsRegex(const std::string& s) {
  return s.find_first_of(".^$|()[]{}*+?\\") != std::string::npos;
}

Status AddField(Filter* f, const std::string& spec) {
  std::size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Status::InvalidArgument("field '" + spec + "': expected NAME=VALUE (user.id=42)");
  }
  std::string name = spec.substr(0, eq);
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return Status::InvalidArgument("field '" + spec +
                                     "': a name has letters, digits, '_', '-' and '.'");
    }
  }
  f->fields.emplace_back(name, spec.substr(eq + 1));
  return Status::Ok();
}

}  // namespace

Result<Query> ParseQuery(const std::map<std::string, std::string>& p, std::int64_t now_ns) {
  static const char* const kKnown[] = {"app",   "env",     "release", "instance", "source",
                                       "since", "until",   "grep",    "request",  "n",
                                       "after", "token"};
  Query q;
  Filter& f = q.filter;
  for (const auto& [k, v] : p) {
    bool known = std::find(std::begin(kKnown), std::end(kKnown), k) != std::end(kKnown) ||
                 k.rfind("field", 0) == 0;
    if (!known) return Status::InvalidArgument("unknown parameter '" + k + "'");
  }
  auto get = [&](const char* k) {
    auto it = p.find(k);
    return it == p.end() ? std::string() : it->second;
  };
  f.app = get("app");
  if (f.app.empty()) return Status::InvalidArgument("app is required");
  f.env = get("env");
  f.release = get("release");
  f.instance = get("instance");
  f.source = get("source");
  if (!f.source.empty() && !IsSource(f.source)) {
    return Status::InvalidArgument("source '" + f.source +
                                   "': expected app, proxy, build, test or deploy");
  }
  if (std::string s = get("since"); !s.empty()) {
    ASSIGN_OR_RETURN(f.since_ns, ParseTimeArg("since", s, now_ns));
  }
  if (std::string s = get("until"); !s.empty()) {
    ASSIGN_OR_RETURN(f.until_ns, ParseTimeArg("until", s, now_ns));
  }
  f.request_id = get("request");
  for (const auto& [k, v] : p) {
    if (k.rfind("field", 0) != 0) continue;
    std::size_t start = 0;
    while (start <= v.size()) {
      std::size_t amp = v.find('&', start);
      std::string one = v.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      if (!one.empty()) RETURN_IF_ERROR(AddField(&f, one));
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  auto number = [&](const char* k, std::int64_t* out) -> Status {
    std::string s = get(k);
    if (s.empty()) return Status::Ok();
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (!end || *end != '\0' || v < 0) {
      return Status::InvalidArgument(std::string(k) + " '" + s + "': expected a number >= 0");
    }
    *out = v;
    return Status::Ok();
  };
  std::int64_t n = 0;
  RETURN_IF_ERROR(number("n", &n));
  RETURN_IF_ERROR(number("after", &f.after_id));
  f.limit = static_cast<std::size_t>(std::min<std::int64_t>(n, kMaxQueryLines));
  std::string grep = get("grep");
  if (!grep.empty()) {
    if (!IsRegex(grep)) {
      f.contains = grep;
    } else {
      ASSIGN_OR_RETURN(q.grep, Pattern::Compile(grep));
    }
  }
  return q;
}

Result<std::vector<Entry>> RunQuery(LogStore& store, const Query& q) {
  if (!q.grep) return store.Query(q.filter);
  Filter f = q.filter;
  f.limit = 0;  // the newest N of those that match
  ASSIGN_OR_RETURN(std::vector<Entry> all, store.Query(f));
  std::vector<Entry> out;
  for (auto& e : all) {
    if (q.grep->Matches(e.text)) out.push_back(std::move(e));
  }
  if (q.filter.limit && out.size() > q.filter.limit) {
    out.erase(out.begin(), out.end() - static_cast<long>(q.filter.limit));
  }
  return out;
}

nlohmann::json EntryJson(const Entry& e) {
  nlohmann::json j = {{"id", e.id},
                      {"time", FormatRfc3339Ms(e.time_ns)},
                      {"time_ns", e.time_ns},
                      {"app", e.app},
                      {"env", e.env},
                      {"release", e.release},
                      {"instance", e.instance},
                      {"source", e.source},
                      {"stream", e.stream},
                      {"text", e.text}};
  if (!e.request_id.empty()) j["request_id"] = e.request_id;
  if (e.source == kSourceProxy) {
    j["method"] = e.method;
    j["path"] = e.path;
    j["status"] = e.status;
    j["duration_ms"] = static_cast<double>(e.duration_us) / 1000.0;
  }
  return j;
}

}  // namespace gravity::logs
