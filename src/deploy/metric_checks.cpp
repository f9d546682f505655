#include "deploy/metric_checks.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include <nlohmann/json.hpp>

#include "acme/https_client.h"
#include "common/http1.h"

namespace gravity::deploy {

namespace {

using nlohmann::json;

// "250", "0.993", "+Inf": a check's value as messages show it.
std::string Value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{:.6g}", v);
}

// One line of printable ASCII: control bytes become spaces, and any other byte outside
// ASCII a '?' (a cut can split a UTF-8 character, and an error page need not be UTF-8 at
// all; the text goes into the deployment's JSON).
std::string OneLineOf(std::string s) {
  for (char& ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) {
      ch = ' ';
    } else if (u >= 0x80) {
      ch = '?';
    }
  }
  return s;
}

// The string at `key` of an object, or `fallback` when it is missing or not a string.
std::string StringAt(const json& j, const char* key, const std::string& fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// The sample's value: Prometheus sends [time, "value"] with the value as a string
// ("NaN", "+Inf" and "-Inf" included).
Result<double> SampleValue(const json& sample) {
  if (!sample.is_array() || sample.size() != 2 || !sample[1].is_string()) {
    return Status::Error("the answer's sample is not [time, \"value\"]: " +
                         OneLineOf(sample.dump(-1, ' ', false, json::error_handler_t::replace))
                             .substr(0, 200));
  }
  const std::string s = sample[1].get<std::string>();
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) {
    return Status::Error("the answer's value '" + OneLineOf(s.substr(0, 64)) + "' is not a number");
  }
  if (std::isnan(v)) return Status::NotFound("the query's value is NaN");
  return v;
}

}  // namespace

std::string PromDuration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms > 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms > 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string FillPlaceholders(const std::string& query, const MetricContext& ctx) {
  const std::pair<std::string_view, std::string> values[] = {{"{{release}}", ctx.release},
                                                             {"{{app}}", ctx.app},
                                                             {"{{env}}", ctx.env},
                                                             {"{{window}}", PromDuration(ctx.window)}};
  std::string out;
  std::size_t i = 0;
  while (i < query.size()) {
    bool replaced = false;
    for (const auto& [name, value] : values) {
      if (query.compare(i, name.size(), name) == 0) {
        out += value;
        i += name.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += query[i++];
  }
  return out;
}

Result<double> ParseQueryResponse(long http_status, const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("status") || !j["status"].is_string()) {
    // Not Prometheus's API answering (a proxy in between, a wrong URL, an app's own
    // {"status": 404} error).
    std::string what = body.substr(0, 200);
    return Status::Unavailable(fmt::format("HTTP {} without a Prometheus answer{}", http_status,
                                           what.empty() ? "" : ": " + OneLineOf(what)));
  }
  if (j["status"] != "success") {
    // 400 bad_data (a PromQL syntax error), 422 execution, 503 unavailable, ...
    std::string type = OneLineOf(StringAt(j, "errorType", ""));
    std::string error = StringAt(j, "error", "no error text");
    std::string text = "Prometheus refused the query" + (type.empty() ? "" : " (" + type + ")") +
                       ": " + OneLineOf(error);
    // Only a query Prometheus cannot parse is wrong as written; an execution error (422:
    // too many samples, a timeout), a limit or an auth proxy's 4xx may pass.
    const bool bad_query = type == "bad_data" || http_status == 400;
    return bad_query ? Status::InvalidArgument(text) : Status::Unavailable(text);
  }
  // Every field read by its type: a wrong shape is an error, never an exception.
  const json data = j.contains("data") && j["data"].is_object() ? j["data"] : json::object();
  const std::string type = OneLineOf(StringAt(data, "resultType", ""));
  const json result = data.contains("result") ? data["result"] : json();
  if (type == "scalar") return SampleValue(result);
  if (type != "vector") {
    return Status::InvalidArgument("the query returned a " + (type.empty() ? "?" : type) +
                                   "; a check needs an instant vector of one series or a "
                                   "scalar");
  }
  if (!result.is_array() || result.empty()) {
    return Status::NotFound("the query returned no series");
  }
  if (result.size() > 1) {
    return Status::InvalidArgument(fmt::format(
        "the query returned {} series; a check needs one (aggregate it, e.g. max(...))",
        result.size()));
  }
  if (!result[0].is_object() || !result[0].contains("value")) {
    return Status::Error("the answer's series has no value: " + OneLineOf(result[0].dump(
                             -1, ' ', false, json::error_handler_t::replace)).substr(0, 200));
  }
  return SampleValue(result[0]["value"]);
}

MetricResult EvaluateCheck(const config::CanaryMetricCheck& check, const Result<double>& value) {
  MetricResult m;
  m.name = check.name;
  m.query = check.query;
  m.low_fails = check.min.has_value();
  const double limit = check.max ? *check.max : *check.min;
  const std::string bound = (check.max ? "max " : "min ") + Value(limit);
  m.baseline_value = limit;
  if (!value.ok()) {
    m.verdict = MetricVerdict::kNoData;
    m.detail = check.name + ": no data: " + value.error();
    m.unanswerable = value.status().IsInvalidArgument();
    return m;
  }
  m.canary_value = *value;
  m.canary_samples = 1;
  m.effect = *value - limit;
  if (check.max && *value > *check.max) {
    m.verdict = MetricVerdict::kHigh;
    m.detail = fmt::format("{} high: {} above its {} (Prometheus)", check.name, Value(*value), bound);
  } else if (check.min && *value < *check.min) {
    m.verdict = MetricVerdict::kLow;
    m.detail = fmt::format("{} low: {} below its {} (Prometheus)", check.name, Value(*value), bound);
  } else {
    m.verdict = MetricVerdict::kPass;
    m.detail = fmt::format("{} pass: {} within its {} (Prometheus)", check.name, Value(*value), bound);
  }
  return m;
}

PrometheusClient::PrometheusClient(std::string base_url, std::chrono::seconds timeout)
    : base_url_(std::move(base_url)), timeout_(timeout) {}

Result<double> PrometheusClient::Query(const std::string& promql, std::int64_t at_ms) const {
  const std::string url = base_url_ + "/api/v1/query?query=" + http1::PercentEncode(promql) +
                          fmt::format("&time={}.{:03}", at_ms / 1000, at_ms % 1000);
  acme::HttpsClient http("", timeout_);
  auto r = http.Get(url);
  if (!r.ok()) {
    // The client names the whole URL; the server's base URL is enough here.
    std::string why = r.error();
    if (why.rfind("GET " + url + ": ", 0) == 0) why = why.substr(url.size() + 6);
    return Status::Unavailable("Prometheus at " + base_url_ + " did not answer: " + why);
  }
  return ParseQueryResponse(r->status, r->body);
}

std::vector<MetricResult> RunMetricChecks(const config::CanarySpec& spec,
                                          const MetricContext& ctx, std::int64_t at_ms) {
  std::vector<MetricResult> out;
  if (spec.metrics.empty()) return out;
  PrometheusClient client(spec.prometheus);
  for (const auto& check : spec.metrics) {
    const std::string query = FillPlaceholders(check.query, ctx);
    MetricResult m = EvaluateCheck(check, client.Query(query, at_ms));
    m.query = query;
    out.push_back(std::move(m));
  }
  return out;
}

void AddMetricChecks(const config::CanarySpec& spec, std::vector<MetricResult> checks,
                     StepAnalysis& a) {
  if (checks.empty()) return;
  std::string unanswered, unanswerable;
  for (auto& m : checks) {
    if (m.verdict == MetricVerdict::kNoData) {
      unanswered += (unanswered.empty() ? "" : "; ") + m.detail;
      if (m.unanswerable) unanswerable += (unanswerable.empty() ? "" : "; ") + m.detail;
    }
    a.metrics.push_back(std::move(m));
  }
  DecideStep(spec, a);
  if (!unanswerable.empty() && a.decision != StepDecision::kFail) {
    // Extending the step cannot make such a query answer.
    a.decision = StepDecision::kFail;
    a.reason = "metric checks that cannot be made: " + unanswerable;
    return;
  }
  if (!unanswered.empty() && a.decision == StepDecision::kInconclusive &&
      spec.no_traffic == config::NoTraffic::kPass) {
    // no_traffic: pass is about too little traffic; a check that could not be made is no
    // evidence the canary is fine.
    a.decision = StepDecision::kFail;
    a.reason = "metric checks without a value, never passed on: " + unanswered + " (" +
               a.reason + ")";
  }
}

}  // namespace gravity::deploy
