// The client's decisions (rate limits, polling bounds, Retry-After, missing challenge
// types) against a scripted ACME server on loopback (plain HTTP: the protocol logic is
// the same; tests/acme covers HTTPS against a real pebble). The Sleeper records instead of
// sleeping, so no test waits in real time.
#include "acme/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#include "support/raw_target.h"
#include "support/temp_dir.h"

namespace gravity::acme {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Answers the directory, nonces and newAccount itself; everything else goes to `route`,
// which gets the request path and returns the reply bytes.
class FakeAcme {
 public:
  using Route = std::function<std::string(const std::string& path)>;
  explicit FakeAcme(Route route)
      : route_(std::move(route)), target_([this](const std::string& h) { return Answer(h); }) {}
  bool Start() { return target_.Start(); }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(target_.port()) + path;
  }
  std::size_t Received(const std::string& needle) const { return target_.Received(needle); }

  // A JSON reply carrying a fresh nonce, as every ACME response does.
  std::string Json(int status, const std::string& body, const std::string& extra = "") {
    return test::SimpleResponse(status, body,
                                "Content-Type: application/json\r\nReplay-Nonce: n" +
                                    std::to_string(++nonces_) + "\r\n" + extra);
  }

 private:
  test::RawReply Answer(const std::string& head) {
    std::string path = head.substr(head.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    if (path == "/dir") {
      return {Json(200, R"({"newNonce":")" + Url("/nonce") + R"(","newAccount":")" + Url("/acct") +
                            R"(","newOrder":")" + Url("/order") + R"("})")};
    }
    if (path == "/nonce") return {Json(200, "")};
    if (path == "/acct")
      return {Json(201, R"({"status":"valid"})", "Location: " + Url("/acct/1") + "\r\n")};
    return {route_(path)};
  }

  Route route_;
  std::atomic<int> nonces_{0};
  test::RawTarget target_;
};

class RecordingSolver : public ChallengeSolver {
 public:
  Status Present(ChallengeType, const std::string&, const std::string&,
                 const std::string&) override {
    ++presented;
    return Status::Ok();
  }
  void CleanUp(ChallengeType, const std::string&, const std::string&) override { ++cleaned; }
  int presented = 0;
  int cleaned = 0;
};

class AcmeClient : public ::testing::Test {
 protected:
  Client MakeClient(const FakeAcme& server, seconds poll_timeout = seconds(10)) {
    ClientOptions o;
    o.directory_url = server.Url("/dir");
    o.email = "ops@example.test";
    o.account_key_path = dir_.Join("account.key");
    o.poll_timeout = poll_timeout;
    return Client(o, [this](milliseconds d) { sleeps_.push_back(d); });
  }
  milliseconds Slept() const {
    milliseconds total{0};
    for (milliseconds d : sleeps_) total += d;
    return total;
  }
  test::TempDir dir_{"acme-client"};
  std::vector<milliseconds> sleeps_;
};

TEST_F(AcmeClient, RateLimitSaysWhenToRetry) {
  FakeAcme* self = nullptr;
  FakeAcme server([&](const std::string&) {
    return self->Json(
        429, R"({"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many orders"})",
        "Retry-After: 60\r\n");
  });
  self = &server;
  ASSERT_TRUE(server.Start());
  Client client = MakeClient(server);
  RecordingSolver solver;
  Result<IssuedCertificate> r = client.Obtain({"x.example.test"}, ChallengeType::kHttp01, solver);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(),
            "x.example.test: ACME order failed: rate limited, retry after 60 s: "
            "urn:ietf:params:acme:error:rateLimited: too many orders");
  EXPECT_TRUE(r.status().IsUnavailable());
  ASSERT_TRUE(client.last_failure().has_value());
  EXPECT_EQ(client.last_failure()->retry_after, seconds(60));
  EXPECT_EQ(client.last_failure()->http_status, 429);
  EXPECT_EQ(client.last_failure()->problem_type, "urn:ietf:params:acme:error:rateLimited");
  EXPECT_TRUE(sleeps_.empty());
  EXPECT_EQ(solver.presented, 0);
}

// An order whose single authorization stays pending; `authz_extra` adds headers to it.
FakeAcme::Route PendingForever(FakeAcme** self, std::string authz_extra,
                               std::string challenge_type = "http-01") {
  return [self, authz_extra, challenge_type](const std::string& path) {
    FakeAcme& s = **self;
    if (path == "/order")
      return s.Json(201,
                    R"({"status":"pending","authorizations":[")" + s.Url("/authz/1") +
                        R"("],"finalize":")" + s.Url("/fin") + R"("})",
                    "Location: " + s.Url("/order/1") + "\r\n");
    if (path == "/authz/1")
      return s.Json(200,
                    R"({"status":"pending","identifier":{"type":"dns","value":"x.example.test"},
                            "challenges":[{"type":")" +
                        challenge_type + R"(","status":"pending",
                            "token":"tok","url":")" +
                        s.Url("/chal/1") + R"("}]})",
                    authz_extra);
    if (path == "/chal/1") return s.Json(200, R"({"status":"processing"})");
    return s.Json(404, R"({"type":"urn:ietf:params:acme:error:malformed","detail":"no"})");
  };
}

TEST_F(AcmeClient, PendingAuthorizationGivesUpAfterPollTimeout) {
  FakeAcme* self = nullptr;
  FakeAcme server(PendingForever(&self, ""));
  self = &server;
  ASSERT_TRUE(server.Start());
  Client client = MakeClient(server, seconds(10));
  RecordingSolver solver;
  Result<IssuedCertificate> r = client.Obtain({"x.example.test"}, ChallengeType::kHttp01, solver);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(),
            "x.example.test: ACME authorization of x.example.test failed: still "
            "pending after 10 s");
  EXPECT_EQ(Slept(), seconds(10));  // the whole budget, and not a millisecond more
  ASSERT_FALSE(sleeps_.empty());
  EXPECT_EQ(sleeps_.front(), milliseconds(250));
  EXPECT_EQ(solver.presented, 1);
  EXPECT_EQ(solver.cleaned, 1);
  EXPECT_EQ(server.Received("POST /chal/1"), 1u);
}

TEST_F(AcmeClient, PollingWaitsWhatRetryAfterSays) {
  FakeAcme* self = nullptr;
  FakeAcme server(PendingForever(&self, "Retry-After: 3\r\n"));
  self = &server;
  ASSERT_TRUE(server.Start());
  Client client = MakeClient(server, seconds(10));
  RecordingSolver solver;
  ASSERT_FALSE(client.Obtain({"x.example.test"}, ChallengeType::kHttp01, solver).ok());
  std::vector<milliseconds> expected = {seconds(3), seconds(3), seconds(3), seconds(1)};
  EXPECT_EQ(sleeps_, expected);
}

TEST_F(AcmeClient, MissingChallengeTypeIsNamedAndNothingIsPresented) {
  FakeAcme* self = nullptr;
  FakeAcme server(PendingForever(&self, "", "dns-01"));
  self = &server;
  ASSERT_TRUE(server.Start());
  Client client = MakeClient(server);
  RecordingSolver solver;
  Result<IssuedCertificate> r =
      client.Obtain({"x.example.test"}, ChallengeType::kTlsAlpn01, solver);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(),
            "x.example.test: ACME authorization of x.example.test failed: the CA "
            "offers no tls-alpn-01 challenge (offered: dns-01)");
  EXPECT_EQ(solver.presented, 0);
  EXPECT_EQ(solver.cleaned, 0);
}

TEST_F(AcmeClient, UnreachableDirectoryIsUnavailable) {
  ClientOptions o;
  o.directory_url = "http://127.0.0.1:1/dir";
  o.account_key_path = dir_.Join("account.key");
  Client client(o, [](milliseconds) {});
  RecordingSolver solver;
  Result<IssuedCertificate> r = client.Obtain({"x.example.test"}, ChallengeType::kHttp01, solver);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable()) << r.error();
  EXPECT_EQ(r.error().rfind("x.example.test: ACME directory: GET http://127.0.0.1:1/dir: ", 0), 0u)
      << r.error();
  ASSERT_TRUE(client.last_failure().has_value());
  EXPECT_TRUE(client.last_failure()->problem_type.empty());
}

}  // namespace
}  // namespace gravity::acme
