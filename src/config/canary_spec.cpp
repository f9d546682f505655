// The canary: section of stack.yml: each field read by its own function, then the checks
// between fields, which report at the positions recorded while reading.

#include "config/canary_spec.h"

#include <cstdlib>
#include <utility>
#include <vector>

#include "config/canary_metrics.h"
#include "config/fields.h"
#include "config/values.h"

namespace gravity::config {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

// What the checks between fields need from reading them: whether the shorthand was used,
// and where steps: and metrics: were written.
struct CanaryMarks {
  bool shorthand = false;
  YAML::Mark steps;
  YAML::Mark metrics;
};

// A share such as "20%" or "0.5%" into `out` (0..1).
void ReadShare(Checker& c, const Entry& e, const std::string& f, double& out) {
  std::string s;
  if (!ReadString(c, e, f, s)) return;
  auto r = ParseRate(s);
  if (r.ok()) {
    out = *r;
  } else {
    c.Error(e.value.Mark(), f, r.error());
  }
}

// true | false.
bool ReadTrueFalse(Checker& c, const Entry& e, const std::string& f, bool& out) {
  std::string s;
  if (!ReadString(c, e, f, s)) return false;
  if (s != "true" && s != "false") {
    c.Error(e.value.Mark(), f, Quote(s) + ": expected true or false");
    return false;
  }
  out = s == "true";
  return true;
}

// canary.steps: [{weight, duration}, ...], weights rising.
void ReadCanarySteps(Checker& c, const Entry& section, const std::string& f,
                     std::vector<CanaryStep>& out) {
  if (!section.value.IsSequence() || section.value.size() == 0) {
    c.Error(MarkOf(section), f, "expected a list of {weight, duration} steps");
    return;
  }
  std::vector<CanaryStep> steps;
  for (size_t i = 0; i < section.value.size(); ++i) {
    std::string w = f + "[" + std::to_string(i) + "]";
    const YAML::Node& n = section.value[i];
    if (!n.IsMap()) {
      c.Error(n.Mark(), w,
              std::string("expected a mapping {weight, duration}, got ") + KindName(n));
      return;
    }
    CanaryStep step;
    bool have_weight = false;
    for (const auto& e : c.Entries(n, w, {"weight", "duration"})) {
      std::string g = Join(w, e.key);
      if (e.key == "weight") {
        have_weight = ReadInt(c, e, g, 1, 99, step.weight);
      } else if (e.key == "duration") {
        ReadDuration(c, e, g, seconds(1), hours(24), step.duration);
      }
    }
    if (!have_weight) {
      c.Error(n.Mark(), w, "needs a weight");
      return;
    }
    if (!steps.empty() && step.weight < steps.back().weight) {
      c.Error(n.Mark(), Join(w, "weight"),
              "must not be below the step before (" + std::to_string(steps.back().weight) + ")");
      return;
    }
    steps.push_back(step);
  }
  out = std::move(steps);
}

// canary.max_latency_increase: a percentage. A rate is at most 100%; a latency may double
// or more.
void ReadLatencyIncrease(Checker& c, const Entry& e, const std::string& f, double& out) {
  std::string s;
  if (!ReadString(c, e, f, s)) return;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.size() < 2 || s.back() != '%' || end != s.c_str() + s.size() - 1 || !(v >= 0) || v > 1000) {
    c.Error(e.value.Mark(), f, Quote(s) + ": expected a percentage such as 20% (0% to 1000%)");
    return;
  }
  out = v / 100.0;
}

// canary.confidence: a number in [0.5, 1).
void ReadConfidence(Checker& c, const Entry& e, const std::string& f, double& out) {
  std::string s;
  if (!ReadString(c, e, f, s)) return;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(v >= 0.5 && v < 1)) {
    c.Error(e.value.Mark(), f, Quote(s) + ": expected a number from 0.5 to below 1, such as 0.98");
    return;
  }
  out = v;
}

// canary.no_traffic: pass | fail | extend.
void ReadNoTraffic(Checker& c, const Entry& e, const std::string& f, NoTraffic& out) {
  std::string s;
  if (!ReadString(c, e, f, s)) return;
  if (s == "pass") {
    out = NoTraffic::kPass;
  } else if (s == "fail") {
    out = NoTraffic::kFail;
  } else if (s == "extend") {
    out = NoTraffic::kExtend;
  } else {
    c.Error(e.value.Mark(), f, Quote(s) + ": expected pass, fail or extend");
  }
}

// One field of canary: (`e`, at `f`) into `out`.
void ReadCanaryField(Checker& c, const Entry& e, const std::string& f, CanarySpec& out,
                     CanaryMarks& marks) {
  if (e.key == "weight") {
    marks.shorthand = true;
    ReadInt(c, e, f, 1, 99, out.weight);
  } else if (e.key == "duration") {
    marks.shorthand = true;
    ReadDuration(c, e, f, seconds(1), hours(24), out.duration);
  } else if (e.key == "steps") {
    marks.steps = e.key_node.Mark();
    ReadCanarySteps(c, e, f, out.steps);
  } else if (e.key == "min_requests") {
    ReadInt(c, e, f, 1, 1000000, out.min_requests);
  } else if (e.key == "max_error_rate") {
    ReadShare(c, e, f, out.max_error_rate);
  } else if (e.key == "latency_noise") {
    ReadDuration(c, e, f, milliseconds(0), seconds(60), out.latency_noise);
  } else if (e.key == "max_error_increase") {
    ReadShare(c, e, f, out.max_error_increase);
  } else if (e.key == "max_latency_increase") {
    ReadLatencyIncrease(c, e, f, out.max_latency_increase);
  } else if (e.key == "confidence") {
    ReadConfidence(c, e, f, out.confidence);
  } else if (e.key == "judge_4xx") {
    ReadTrueFalse(c, e, f, out.judge_4xx);
  } else if (e.key == "baseline") {
    ReadTrueFalse(c, e, f, out.baseline);
  } else if (e.key == "pass_score") {
    ReadInt(c, e, f, 1, 100, out.pass_score);
  } else if (e.key == "marginal_score") {
    ReadInt(c, e, f, 0, 100, out.marginal_score);
  } else if (e.key == "prometheus") {
    ReadPrometheusUrl(c, e, f, out.prometheus);
  } else if (e.key == "metrics") {
    marks.metrics = e.key_node.Mark();
    ReadCanaryMetrics(c, e, f, out.metrics);
  } else if (e.key == "no_traffic") {
    ReadNoTraffic(c, e, f, out.no_traffic);
  }
}

// The checks between the fields of canary:, once all are read.
void CheckCanary(Checker& c, const Entry& section, const std::string& w, const CanarySpec& out,
                 const CanaryMarks& marks) {
  if (marks.shorthand && !out.steps.empty()) {
    c.Error(marks.steps, Join(w, "steps"),
            "cannot be given with weight/duration (they are the one-step shorthand)");
  }
  if (out.baseline) {
    // The baseline pool gets the canary's share again.
    for (const auto& step : out.Steps()) {
      if (step.weight <= 50) continue;
      c.Error(section.key_node.Mark(), Join(w, "baseline"),
              "needs every step's weight at most 50 (the baseline gets the same share as the "
              "canary), got " +
                  std::to_string(step.weight));
      break;
    }
  }
  if (!out.metrics.empty() && out.prometheus.empty()) {
    c.Error(marks.metrics, Join(w, "metrics"),
            "needs canary.prometheus, the Prometheus server's base URL (such as "
            "http://127.0.0.1:9090)");
  }
  if (out.marginal_score > out.pass_score) {
    c.Error(section.key_node.Mark(), Join(w, "marginal_score"),
            "must not be above pass_score (" + std::to_string(out.pass_score) + ")");
  }
}

}  // namespace

void ParseCanary(Checker& c, const Entry& section, const std::string& w, CanarySpec& out) {
  if (!section.value.IsMap()) return;
  CanaryMarks marks;
  for (const auto& e : c.Entries(
           section.value, w,
           {"weight", "duration", "steps", "max_error_rate", "min_requests", "confidence",
            "max_latency_increase", "latency_noise", "max_error_increase", "judge_4xx",
            "pass_score", "marginal_score", "no_traffic", "baseline", "prometheus", "metrics"})) {
    ReadCanaryField(c, e, Join(w, e.key), out, marks);
  }
  CheckCanary(c, section, w, out, marks);
}

}  // namespace gravity::config
