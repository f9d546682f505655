#pragma once

// A query of the log store from name=value parameters: the API's query string and the
// CLI's flags speak the same names (docs/logs.md).

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "logs/store.h"

namespace gravity::logs {

// A compiled POSIX extended regular expression (regcomp; std::regex trips GCC 12's
// -Wmaybe-uninitialized at -O1). Matching is thread-safe.
class Pattern {
 public:
  static Result<std::shared_ptr<const Pattern>> Compile(const std::string& re);
  ~Pattern();
  bool Matches(const std::string& text) const;

 private:
  Pattern() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct Query {
  Filter filter;
  std::shared_ptr<const Pattern> grep;  // set when `grep` is a regular expression
};

// "10m", "2h" (that long before now), or an RFC 3339 time (a time without a zone is UTC).
// Errors name `what` ("since") and say what is expected.
Result<std::int64_t> ParseTimeArg(std::string_view what, const std::string& text,
                                  std::int64_t now_ns);

// app (required), env, release, instance, source, since, until, grep, request,
// field (NAME=VALUE, several joined by '&' or given as field, field2, ...), n, after.
// A `grep` without regular-expression characters is a plain substring; otherwise a POSIX
// extended regular expression.
Result<Query> ParseQuery(const std::map<std::string, std::string>& params, std::int64_t now_ns);

// Runs `q` (the regular expression applied here, then the limit).
Result<std::vector<Entry>> RunQuery(LogStore& store, const Query& q);

nlohmann::json EntryJson(const Entry& e);

}  // namespace gravity::logs
