// The pure parts of the canary's metric checks: placeholders, URL encoding, Prometheus's
// answers (canned bodies of /api/v1/query), the verdicts and their place in the score.
#include "deploy/metric_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/http1.h"

#include <cmath>

namespace gravity::deploy {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

TEST(MetricChecks, FillsEveryPlaceholder) {
  MetricContext ctx{"3f2a9c1e", "site", "production", std::chrono::seconds(30)};
  EXPECT_EQ(FillPlaceholders("rate(errors{release=\"{{release}}\",app=\"{{app}}\",env=\"{{env}}\"}"
                             "[{{window}}]) / {{window}}",
                             ctx),
            "rate(errors{release=\"3f2a9c1e\",app=\"site\",env=\"production\"}[30s]) / 30s");
  EXPECT_EQ(FillPlaceholders("up{a=\"{{nothing}}\"} {{", ctx), "up{a=\"{{nothing}}\"} {{");
}

TEST(MetricChecks, WindowIsAPromQLDuration) {
  EXPECT_EQ(PromDuration(milliseconds(30000)), "30s");
  EXPECT_EQ(PromDuration(milliseconds(120000)), "2m");
  EXPECT_EQ(PromDuration(milliseconds(90000)), "90s");
  EXPECT_EQ(PromDuration(milliseconds(3600000)), "1h");
  EXPECT_EQ(PromDuration(milliseconds(1500)), "1500ms");
}

TEST(MetricChecks, UrlEncodesAllButUnreserved) {
  EXPECT_EQ(http1::PercentEncode("sum(rate(x{a=\"b c\"}[1m])) > 0.5 & y+1/2"),
            "sum%28rate%28x%7Ba%3D%22b%20c%22%7D%5B1m%5D%29%29%20%3E%200.5%20%26%20y%2B1%2F2");
  EXPECT_EQ(http1::PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(http1::PercentEncode("\xc3\xa9"), "%C3%A9");
}

TEST(MetricChecks, ReadsOneSeriesOfAVector) {
  auto v = ParseQueryResponse(200, R"({"status":"success","data":{"resultType":"vector",
      "result":[{"metric":{"job":"app"},"value":[1700000000.5,"250"]}]}})");
  ASSERT_TRUE(v.ok()) << v.error();
  EXPECT_EQ(*v, 250);
}

TEST(MetricChecks, ReadsAScalar) {
  auto v = ParseQueryResponse(
      200, R"({"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.995"]}})");
  ASSERT_TRUE(v.ok()) << v.error();
  EXPECT_DOUBLE_EQ(*v, 0.995);
}

TEST(MetricChecks, InfinityIsAValueNaNIsNoData) {
  auto inf = ParseQueryResponse(
      200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}})");
  ASSERT_TRUE(inf.ok());
  EXPECT_TRUE(std::isinf(*inf) && *inf > 0);
  auto minus = ParseQueryResponse(
      200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"-Inf"]}]}})");
  ASSERT_TRUE(minus.ok());
  EXPECT_TRUE(std::isinf(*minus) && *minus < 0);
  auto nan = ParseQueryResponse(
      200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}})");
  ASSERT_FALSE(nan.ok());
  EXPECT_TRUE(nan.status().IsNotFound());
  EXPECT_THAT(nan.error(), HasSubstr("NaN"));
}

TEST(MetricChecks, EmptyVectorIsNoData) {
  auto v = ParseQueryResponse(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(v.status().IsNotFound());
  EXPECT_THAT(v.error(), HasSubstr("no series"));
}

TEST(MetricChecks, SeveralSeriesIsAnErrorNamingTheCount) {
  auto v = ParseQueryResponse(200, R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"i":"1"},"value":[1,"1"]},{"metric":{"i":"2"},"value":[1,"2"]},
      {"metric":{"i":"3"},"value":[1,"3"]}]}})");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.error(), HasSubstr("returned 3 series; a check needs one"));
}

TEST(MetricChecks, MatrixIsRefused) {
  auto v = ParseQueryResponse(200, R"({"status":"success","data":{"resultType":"matrix","result":[]}})");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.error(), HasSubstr("returned a matrix"));
}

TEST(MetricChecks, PromQLErrorTextIsShown) {
  auto v = ParseQueryResponse(400, R"({"status":"error","errorType":"bad_data",
      "error":"invalid parameter \"query\": 1:5: parse error: unexpected \")\""})");
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(v.status().IsInvalidArgument());
  EXPECT_EQ(v.error(), "Prometheus refused the query (bad_data): invalid parameter \"query\": "
                       "1:5: parse error: unexpected \")\"");
  auto busy = ParseQueryResponse(503, R"({"status":"error","errorType":"unavailable","error":"x"})");
  EXPECT_TRUE(busy.status().IsUnavailable());
  // An execution error (too many samples for this window) may pass: not a wrong query.
  auto heavy = ParseQueryResponse(
      422, R"({"status":"error","errorType":"execution","error":"query processing would load too many samples"})");
  EXPECT_TRUE(heavy.status().IsUnavailable()) << heavy.error();
  auto limited = ParseQueryResponse(429, R"({"status":"error","errorType":"too_many_requests","error":"x"})");
  EXPECT_TRUE(limited.status().IsUnavailable());
}

TEST(MetricChecks, NonPrometheusAnswerNamesTheHttpStatus) {
  auto v = ParseQueryResponse(404, "404 page not found\n");
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(v.status().IsUnavailable());
  EXPECT_EQ(v.error(), "HTTP 404 without a Prometheus answer: 404 page not found ");
  auto bad_value = ParseQueryResponse(
      200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"many"]}})");
  EXPECT_THAT(bad_value.error(), HasSubstr("is not a number"));
}

config::CanaryMetricCheck Max(double max) { return {"queue_depth", "q", max, std::nullopt}; }
config::CanaryMetricCheck Min(double min) { return {"success", "s", std::nullopt, min}; }

TEST(MetricChecks, MaxAndMinVerdicts) {
  EXPECT_EQ(EvaluateCheck(Max(100), 250.0).verdict, MetricVerdict::kHigh);
  EXPECT_EQ(EvaluateCheck(Max(100), 250.0).detail,
            "queue_depth high: 250 above its max 100 (Prometheus)");
  EXPECT_EQ(EvaluateCheck(Max(100), 100.0).verdict, MetricVerdict::kPass);  // at max: fine
  EXPECT_EQ(EvaluateCheck(Min(0.99), 0.95).verdict, MetricVerdict::kLow);
  EXPECT_TRUE(EvaluateCheck(Min(0.99), 0.95).low_fails);
  EXPECT_EQ(EvaluateCheck(Min(0.99), 0.999).verdict, MetricVerdict::kPass);
  EXPECT_EQ(EvaluateCheck(Max(100), std::numeric_limits<double>::infinity()).verdict,
            MetricVerdict::kHigh);
  MetricResult none = EvaluateCheck(Max(100), Status::NotFound("the query returned no series"));
  EXPECT_EQ(none.verdict, MetricVerdict::kNoData);
  EXPECT_EQ(none.detail, "queue_depth: no data: the query returned no series");
}

// A step judged on the proxy's metrics alone: its 5xx rate with `errors`, its latency
// passing.
StepAnalysis ProxyStep(const config::CanarySpec& spec, MetricVerdict errors) {
  StepAnalysis a;
  MetricResult e;
  e.name = "5xx rate";
  e.verdict = errors;
  e.detail = errors == MetricVerdict::kHigh ? "5xx rate high" : "";
  MetricResult latency;
  latency.name = "latency";
  latency.verdict = MetricVerdict::kPass;
  a.metrics = {e, latency};
  DecideStep(spec, a);
  return a;
}

// A step whose proxy metrics passed (5xx rate and latency).
StepAnalysis PassingStep(const config::CanarySpec& spec) {
  return ProxyStep(spec, MetricVerdict::kPass);
}

TEST(MetricChecks, ACheckOverItsMaxFailsTheStepNamingIt) {
  config::CanarySpec spec;
  StepAnalysis a = PassingStep(spec);
  ASSERT_EQ(a.decision, StepDecision::kPass);
  AddMetricChecks(spec, {EvaluateCheck(Max(100), 250.0)}, a);
  EXPECT_EQ(a.metrics.size(), 3u);
  EXPECT_EQ(a.decision, StepDecision::kFail);  // the checks score 0 of 1: 0 < 75
  EXPECT_EQ(a.score, 0);
  EXPECT_THAT(a.reason, HasSubstr("queue_depth high: 250 above its max 100"));
}

TEST(MetricChecks, ACheckBelowItsMinCountsAgainstTheScore) {
  config::CanarySpec spec;
  StepAnalysis a = PassingStep(spec);
  AddMetricChecks(spec, {EvaluateCheck(Min(0.99), 0.5)}, a);
  EXPECT_EQ(a.decision, StepDecision::kFail);
  EXPECT_THAT(a.reason, HasSubstr("success low: 0.5 below its min 0.99"));
}

TEST(MetricChecks, PassingChecksKeepThePass) {
  config::CanarySpec spec;
  StepAnalysis a = PassingStep(spec);
  AddMetricChecks(spec, {EvaluateCheck(Max(100), 3.0), EvaluateCheck(Min(0.99), 1.0)}, a);
  EXPECT_EQ(a.decision, StepDecision::kPass);
  EXPECT_EQ(a.score, 100);
}

TEST(MetricChecks, ACheckWithoutDataIsNeverAPass) {
  config::CanarySpec spec;  // no_traffic: pass, which passes a step short of traffic
  StepAnalysis a = PassingStep(spec);
  AddMetricChecks(spec,
                  {EvaluateCheck(Max(100), Status::Unavailable("Prometheus at http://p did not "
                                                               "answer: Connection refused"))},
                  a);
  EXPECT_EQ(a.decision, StepDecision::kFail);
  EXPECT_THAT(a.reason, HasSubstr("Prometheus at http://p did not answer: Connection refused"));

  spec.no_traffic = config::NoTraffic::kExtend;  // extended, like a step short of traffic
  StepAnalysis b = PassingStep(spec);
  AddMetricChecks(spec, {EvaluateCheck(Max(100), Status::NotFound("no series"))}, b);
  EXPECT_EQ(b.decision, StepDecision::kInconclusive);
}

TEST(MetricChecks, AnswersOfTheWrongShapeAreErrorsNeverExceptions) {
  // An app's or a gateway's own JSON, and Prometheus-like answers with fields of the wrong
  // type: each is an error naming what is wrong, and the daemon goes on.
  const std::vector<std::string> bodies = {
      R"({"status":404,"error":"Not Found"})",
      R"({"status":"error","errorType":7,"error":{"text":"x"}})",
      R"({"status":"success","data":null})",
      R"({"status":"success","data":{"resultType":5,"result":[]}})",
      R"({"status":"success","data":{"resultType":"vector","result":{"a":1}}})",
      R"({"status":"success","data":{"resultType":"vector","result":[1]}})",
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}})",
      R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}})",
      R"({"status":"success","data":{"resultType":"scalar","result":"1"}})",
      R"([1,2,3])",
      "",
  };
  for (const auto& body : bodies) {
    Result<double> v = Status::Error("unset");
    EXPECT_NO_THROW(v = ParseQueryResponse(200, body)) << body;
    EXPECT_FALSE(v.ok()) << body;
  }
  auto app = ParseQueryResponse(404, R"({"status":404,"error":"Not Found"})");
  EXPECT_THAT(app.error(), HasSubstr("HTTP 404 without a Prometheus answer"));
}

TEST(MetricChecks, ServerTextThatIsNotUtf8IsKeptAsAsciiAndTheRecordIsValidJson) {
  // A cut at 200 bytes inside a multi-byte character, and a Latin-1 error page.
  std::string page = std::string(199, 'x') + "\xc3\xa9 and \xe9t\xe9";
  auto v = ParseQueryResponse(502, page);
  ASSERT_FALSE(v.ok());
  for (unsigned char ch : v.error()) EXPECT_LT(ch, 0x80) << v.error();
  config::CanarySpec spec;
  StepAnalysis a = PassingStep(spec);
  AddMetricChecks(spec, {EvaluateCheck(Max(1), v)}, a);
  EXPECT_NO_THROW((void)AnalysisJson(a).dump());
}

TEST(MetricChecks, PassingChecksCannotOutvoteWhatTheProxySaw) {
  // 5xx high, latency fine: dropped without checks (50 < 75); passing app checks must not
  // turn that into a marginal step or a pass, however many there are.
  config::CanarySpec spec;
  ASSERT_EQ(ProxyStep(spec, MetricVerdict::kHigh).decision, StepDecision::kFail);
  for (int n : {2, 19}) {
    StepAnalysis b = ProxyStep(spec, MetricVerdict::kHigh);
    std::vector<MetricResult> checks;
    for (int k = 0; k < n; ++k) checks.push_back(EvaluateCheck(Max(100), 3.0));
    AddMetricChecks(spec, checks, b);
    EXPECT_EQ(b.decision, StepDecision::kFail) << n << " checks: " << b.reason;
    EXPECT_EQ(b.score, 50) << n << " checks";
    EXPECT_THAT(b.reason, HasSubstr("5xx rate high"));
  }
}

TEST(MetricChecks, ChecksWithoutDataAreLeftOutOfTheFailingScore) {
  config::CanarySpec spec;
  StepAnalysis a = ProxyStep(spec, MetricVerdict::kHigh);
  AddMetricChecks(spec, {EvaluateCheck(Max(100), Status::Unavailable("down"))}, a);
  EXPECT_EQ(a.decision, StepDecision::kFail);
  EXPECT_EQ(a.score, 50) << a.reason;  // the proxy's 1 of 2, not 0 for the silent check
}

TEST(MetricChecks, ACheckThatCanNeverAnswerFailsAtOnceEvenWhenExtending) {
  config::CanarySpec spec;
  spec.no_traffic = config::NoTraffic::kExtend;
  StepAnalysis a = PassingStep(spec);
  AddMetricChecks(spec,
                  {EvaluateCheck(Max(100), Status::InvalidArgument(
                                               "Prometheus refused the query (bad_data): x"))},
                  a);
  EXPECT_EQ(a.decision, StepDecision::kFail);
  EXPECT_THAT(a.reason, HasSubstr("metric checks that cannot be made: queue_depth: no data: "
                                  "Prometheus refused the query (bad_data)"));
}

TEST(MetricChecks, RecordedWithTheirQuery) {
  config::CanarySpec spec;
  StepAnalysis a = PassingStep(spec);
  AddMetricChecks(spec, {EvaluateCheck(Max(100), 250.0)}, a);
  nlohmann::json j = AnalysisJson(a);
  ASSERT_EQ(j["metrics"].size(), 3u);
  EXPECT_EQ(j["metrics"][2]["name"], "queue_depth");
  EXPECT_EQ(j["metrics"][2]["verdict"], "high");
  EXPECT_EQ(j["metrics"][2]["source"], "prometheus");
  EXPECT_EQ(j["metrics"][2]["query"], "q");
  EXPECT_EQ(j["metrics"][2]["canary"], 250.0);
  EXPECT_EQ(j["metrics"][2]["baseline"], 100.0);
  EXPECT_FALSE(j["metrics"][0].contains("source"));
}

TEST(MetricChecks, UnreachableServerIsUnavailableWithTheReason) {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  PrometheusClient client("http://127.0.0.1:1", std::chrono::seconds(2));
  auto v = client.Query("up", 1700000000000);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(v.status().IsUnavailable());
  EXPECT_THAT(v.error(), HasSubstr("Prometheus at http://127.0.0.1:1 did not answer: "));
}

}  // namespace
}  // namespace gravity::deploy
