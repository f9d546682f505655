#include "proxy/control_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <boost/asio/use_future.hpp>
#include <future>

#include "common/fs.h"
#include "support/temp_dir.h"

namespace gravity::proxy {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

// A ControlApi over a real ServiceTable (no workers, a state file in a temp dir), driven
// one request at a time on its own io_context. Deploys that pass their health gate are
// covered by tests/proxy; here only gates that wait (a target that never answers).
class ControlApiTest : public ::testing::Test {
 protected:
  ApiResponse Call(const std::string& method, const std::string& path,
                   const std::string& body = "") {
    auto f = asio::co_spawn(io_, api_.Handle(method, path, body), asio::use_future);
    io_.restart();
    io_.run();
    return f.get();
  }
  json Body(const ApiResponse& r) { return json::parse(r.body); }
  // Starts a call that waits (a deploy's health gate) and runs the loop until it has.
  std::future<ApiResponse> Begin(const std::string& method, const std::string& path,
                                 const std::string& body) {
    auto f = asio::co_spawn(io_, api_.Handle(method, path, body), asio::use_future);
    io_.restart();
    io_.poll();
    return f;
  }
  // Runs the loop only until this call answers (a pending gate goes on waiting).
  ApiResponse CallBeside(const std::string& method, const std::string& path,
                         const std::string& body = "") {
    auto f = asio::co_spawn(io_, api_.Handle(method, path, body), asio::use_future);
    io_.restart();
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) io_.run_one();
    return f.get();
  }

  test::TempDir dir_{"control-api"};
  FakeClock clock_;
  asio::io_context io_;
  std::vector<std::unique_ptr<Worker>> workers_;
  ServiceTable table_{io_, clock_, workers_, dir_.Join("routes.json")};
  ControlApi api_{table_, clock_};
};

TEST_F(ControlApiTest, ListIsEmptyAtFirst) {
  ApiResponse r = Call("GET", "/v1/services?x=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["services"], json::array());
  EXPECT_EQ(Call("POST", "/v1/services").status, 405);
}

TEST_F(ControlApiTest, UnknownPathsAndServicesAre404WithTheReason) {
  ApiResponse r = Call("GET", "/v2/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(Body(r)["error"].get<std::string>(), HasSubstr("/v2/nothing"));
  r = Call("GET", "/v1/services/site");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Body(r)["error"], "no service named 'site'");
  EXPECT_EQ(Call("DELETE", "/v1/services/site").status, 404);
  EXPECT_EQ(Call("PUT", "/v1/services/site/canary", "{}").status, 404);
  EXPECT_EQ(Call("POST", "/v1/services/site/canary/promote").status, 404);
}

TEST_F(ControlApiTest, ErrorsQuotingBytesThatAreNotUtf8AreStillJson) {
  // The byte 0xFF in a service name is replaced (U+FFFD) in the quoted error, rather than
  // making the JSON serialization throw.
  ApiResponse r = Call("GET", "/v1/services/bad\xff");
  EXPECT_EQ(r.status, 400);
  json j = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.body;
  EXPECT_THAT(j["error"].get<std::string>(), HasSubstr("service name 'bad\xEF\xBF\xBD'"));
}

TEST_F(ControlApiTest, HostileInputIs400BeforeAnythingChanges) {
  EXPECT_EQ(Call("PUT", "/v1/services/bad name", "{}").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/services/-dash", "{}").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/services/" + std::string(100, 'a'), "{}").status, 400);
  ApiResponse r = Call("PUT", "/v1/services/site", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r)["error"], "request body is not valid JSON");
  r = Call("PUT", "/v1/services/site", R"({"targets": ["127.0.0.1:99999"]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Body(r)["error"].get<std::string>(), HasSubstr("bad port"));
  r = Call("PUT", "/v1/services/site", R"({"targets": "127.0.0.1:1"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Call("PATCH", "/v1/services/site").status, 405);
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_NE(::access(dir_.Join("routes.json").c_str(), F_OK), 0);  // nothing saved
}

TEST_F(ControlApiTest, OneDeployPerServiceAtATimeAndTheListSaysWhichRun) {
  // A first deploy to a target that never answers: its gate waits (the deploy timeout is
  // never reached, the fake clock does not move).
  const std::string gated =
      R"({"targets": ["127.0.0.1:1"], "deploy_timeout_ms": 60000, "health": {"interval_ms": 1000}})";
  auto pending = Begin("PUT", "/v1/services/site", gated);
  ASSERT_NE(pending.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  ApiResponse list = CallBeside("GET", "/v1/services");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(Body(list)["deploying"], json::array({"site"}));
  EXPECT_EQ(Body(list)["services"], json::array());  // nothing switched yet
  ApiResponse second = CallBeside("PUT", "/v1/services/site", R"({"targets": ["127.0.0.1:2"]})");
  EXPECT_EQ(second.status, 409);
  EXPECT_EQ(Body(second)["error"], "a deploy of 'site' is already in progress");
  // Another service is not held up.
  auto other = Begin("PUT", "/v1/services/other", gated);
  EXPECT_EQ(Body(CallBeside("GET", "/v1/services"))["deploying"], json::array({"other", "site"}));
  EXPECT_EQ(table_.size(), 0u);
  // A stopping proxy gives up both gates: refused, nothing switched, the list empty again.
  table_.Stop();
  while (pending.wait_for(std::chrono::seconds(0)) != std::future_status::ready ||
         other.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io_.run_one();
  }
  EXPECT_EQ(pending.get().status, 422);
  EXPECT_EQ(other.get().status, 422);
  EXPECT_EQ(Body(CallBeside("GET", "/v1/services"))["deploying"], json::array());
  EXPECT_EQ(table_.size(), 0u);
}

}  // namespace
}  // namespace gravity::proxy
