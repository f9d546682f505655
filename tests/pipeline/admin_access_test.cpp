// The daemon's admin API beyond loopback: every call, reads included, needs the token; a
// signed webhook still gets through; on loopback, reads stay open.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "pipeline/webhook.h"
#include "support/support.h"

namespace gravity {
namespace {

using namespace std::chrono_literals;
using namespace test;

constexpr auto kWait = 60s;

class AdminAccessTest : public ::testing::Test {
 protected:
  void Start(const std::string& listen_host, const std::string& extra = "") {
    auto repo = GitRepo::Init(dir_.Join("app"), "main");
    ASSERT_TRUE(repo.ok()) << repo.error();
    ASSERT_TRUE(repo->CommitFiles({{"gravity.yml", "run: ./serve\n"}}, "first").ok());
    port_ = FreePort();
    dir_.Write("hook.secret", "hook-secret\n");
    dir_.Write("stack.yml", "state_dir: state\n" + extra +
                            "admin: { listen: " + listen_host + ":" + std::to_string(port_) +
                                " }\n"
                                "apps:\n"
                                "  site:\n"
                                "    repo: " + repo->path() + "\n"
                                "    poll_interval: 1h\n"
                                "    webhook_secret_file: hook.secret\n"
                                "    environments:\n"
                                "      staging: { branch: main }\n");
    SubprocessOptions o;
    o.argv = {GRAVITY_BIN, "daemon", "-f", dir_.Join("stack.yml"), "--log-file", "-"};
    o.output_path = dir_.Join("daemon.out");
    auto p = Subprocess::Start(o);
    ASSERT_TRUE(p.ok()) << p.error();
    daemon_ = std::move(*p);
    ASSERT_TRUE(daemon_->WaitForOutput("gravity daemon: API on", kWait)) << daemon_->Output();
    auto token = ReadFile(dir_.Join("state/token"));
    ASSERT_TRUE(token.ok()) << token.error();
    token_ = *token;
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == ' ')) token_.pop_back();
  }
  void TearDown() override {
    if (daemon_) daemon_->Stop(10s);
  }
  Result<HttpResponse> Call(const std::string& method, const std::string& target,
                            const std::string& token = "", HttpHeaders headers = {},
                            const std::string& body = "") {
    HttpClient client("127.0.0.1", port_, 30s);  // loopback is where the test reaches it
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.body = body;
    req.headers = std::move(headers);
    if (!token.empty()) req.headers.push_back({"Authorization", "Bearer " + token});
    return client.Send(req);
  }

  // Every read the API has (and the mutating calls, which always needed the token).
  const std::vector<std::pair<std::string, std::string>> kCalls = {
      {"GET", "/v1/health"},         {"GET", "/v1/status"},
      {"GET", "/v1/apps"},           {"GET", "/v1/apps/site/releases"},
      {"GET", "/v1/runs"},           {"GET", "/v1/runs/1"},
      {"GET", "/v1/runs/1/logs"},    {"GET", "/v1/runs/1/stream"},
      {"POST", "/v1/apps/site/fetch"}, {"POST", "/v1/apps/site/deploy"},
      {"POST", "/v1/apps/site/environments/staging/pause"},
      {"POST", "/v1/apps/site/environments/staging/resume"}};

  TempDir dir_{"gravity-admin-access"};
  std::unique_ptr<Subprocess> daemon_;
  std::string token_;
  int port_ = 0;
};

TEST_F(AdminAccessTest, BeyondLoopbackEveryCallNeedsTheToken) {
  Start("0.0.0.0");
  EXPECT_TRUE(daemon_->WaitForOutput("every call needs the token", kWait)) << daemon_->Output();
  for (const auto& [method, path] : kCalls) {
    auto anon = Call(method, path);
    ASSERT_TRUE(anon.ok()) << method << " " << path << ": " << anon.error();
    EXPECT_EQ(anon->status, 401) << method << " " << path << ": " << anon->body;
    EXPECT_EQ(anon->body.find("site"), std::string::npos) << path << " leaks: " << anon->body;
    auto wrong = Call(method, path, std::string(token_.size(), 'x'));
    ASSERT_TRUE(wrong.ok()) << wrong.error();
    EXPECT_EQ(wrong->status, 401) << method << " " << path;
  }
  auto status = Call("GET", "/v1/status", token_);
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->status, 200) << status->body;
  auto runs = Call("GET", "/v1/runs", token_);
  ASSERT_TRUE(runs.ok()) << runs.error();
  EXPECT_EQ(runs->status, 200) << runs->body;
  // The dashboard's page holds no data and loads, to ask for the token.
  for (const char* file : {"/", "/assets/app.js", "/assets/api.js"}) {
    auto page = Call("GET", file);
    ASSERT_TRUE(page.ok()) << page.error();
    EXPECT_EQ(page->status, 200) << file;
  }
  auto script = Call("GET", "/assets/api.js");
  EXPECT_NE(script->body.find("askToken"), std::string::npos);
  // A webhook is judged by its signature, not the token.
  auto hook = Call("POST", "/hooks/site", "",
                   {{"X-GitHub-Event", "ping"},
                    {"X-Hub-Signature-256", "sha256=" + pipeline::HmacSha256Hex("hook-secret", "{}")}},
                   "{}");
  ASSERT_TRUE(hook.ok()) << hook.error();
  EXPECT_EQ(hook->status, 200) << hook->body;
}

TEST_F(AdminAccessTest, OnLoopbackReadsStayOpen) {
  Start("127.0.0.1");
  // A page that rebound its name to 127.0.0.1 (DNS rebinding) is refused by that name.
  auto rebound = Call("GET", "/v1/status", "", {{"Host", "evil.example:" + std::to_string(port_)}});
  ASSERT_TRUE(rebound.ok()) << rebound.error();
  EXPECT_EQ(rebound->status, 421) << rebound->body;
  auto status = Call("GET", "/v1/status");
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->status, 200) << status->body;
  auto fetch = Call("POST", "/v1/apps/site/fetch");
  ASSERT_TRUE(fetch.ok()) << fetch.error();
  EXPECT_EQ(fetch->status, 401);
}

// Sandboxed apps share the host's loopback: a connection owned by a sandbox uid is closed
// unanswered before anything is read, token or not.
TEST_F(AdminAccessTest, SandboxedCodeIsRefusedEvenOnLoopback) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as a sandbox uid";
  Start("127.0.0.1");
  auto as = [&](const std::string& uid, const std::string& connect = "('127.0.0.1',") {
    const std::string script =
        "import socket,sys\n"
        "s=socket.create_connection(" + connect + std::to_string(port_) + "))\n"
        "s.sendall(b'GET /v1/status HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Bearer " +
        token_ + "\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "d=b''\n"
        "try:\n"
        "  while True:\n"
        "    c=s.recv(65536)\n"
        "    if not c: break\n"
        "    d+=c\n"
        "except ConnectionResetError:\n"
        "  pass\n"
        "sys.stdout.write(d.decode('latin-1') if d else 'CLOSED UNANSWERED')\n";
    return RunCommand({"setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--",
                       "/usr/bin/python3", "-c", script},
                      "/");
  };
  auto sandboxed = as("1900000123");
  // Through an IPv6 socket to the IPv4-mapped address: listed in another table, same uid.
  auto mapped = as("1900000123", "('::ffff:127.0.0.1',");
  ASSERT_TRUE(mapped.ok()) << mapped.error();
  EXPECT_EQ(mapped->out, "CLOSED UNANSWERED") << mapped->err;
  ASSERT_TRUE(sandboxed.ok()) << sandboxed.error();
  EXPECT_EQ(sandboxed->out, "CLOSED UNANSWERED") << sandboxed->err;
  EXPECT_EQ(sandboxed->out.find("\"apps\""), std::string::npos) << sandboxed->out;
  auto other = as("65534");  // any other local user with the token is served
  ASSERT_TRUE(other.ok()) << other.error();
  EXPECT_NE(other->out.find("200 OK"), std::string::npos) << other->out << other->err;
}

// stack.yml `webhooks:`: the proxy routes HOST/hooks/ to a daemon listener that serves the
// signed webhooks and nothing else, so a public host never reaches the admin API.
TEST_F(AdminAccessTest, WebhooksGoThroughTheProxyAndNothingElseOfTheDaemonDoes) {
  int proxy_port = FreePort();
  std::string state = dir_.Join("state");
  auto proxy = Subprocess::Start(
      {.argv = {GRAVITY_BIN, "proxy", "run", "--listen", "127.0.0.1:" + std::to_string(proxy_port),
                "--control", state + "/proxy.sock", "--state-dir", state + "/proxy"},
       .output_path = dir_.Join("proxy.log")});
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(WaitFor([&] { return PortOpen(proxy_port); }, kWait));
  Start("127.0.0.1", "proxy: { listen: 127.0.0.1:" + std::to_string(proxy_port) +
                         " }\nwebhooks: { host: ci.localhost }\n");
  ASSERT_TRUE(daemon_->WaitForOutput("the proxy routes ci.localhost/hooks/", kWait))
      << daemon_->Output() << (*proxy)->Output();
  auto via_proxy = [&](const std::string& method, const std::string& target,
                       HttpHeaders headers = {}, const std::string& body = "") {
    HttpClient client("127.0.0.1", proxy_port, 30s);
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.host = "ci.localhost";
    req.headers = std::move(headers);
    req.body = body;
    return client.Send(req);
  };
  const std::string ping = "{\"zen\":\"hi\"}";
  auto hook = via_proxy(
      "POST", "/hooks/site",
      {{"X-GitHub-Event", "ping"},
       {"X-Hub-Signature-256", "sha256=" + pipeline::HmacSha256Hex("hook-secret", ping)}},
      ping);
  ASSERT_TRUE(hook.ok()) << hook.error();
  EXPECT_EQ(hook->status, 200) << hook->body;
  auto unsigned_hook = via_proxy("POST", "/hooks/site", {{"X-GitHub-Event", "ping"}}, ping);
  ASSERT_TRUE(unsigned_hook.ok()) << unsigned_hook.error();
  EXPECT_EQ(unsigned_hook->status, 401) << unsigned_hook->body;
  // Nothing else of the daemon: not its API, not through tricks on the path.
  for (const std::string target :
       {"/v1/status", "/v1/runs", "/hooks/../v1/status", "/hooks/%2e%2e/v1/runs",
        "/hooks/site/../../v1/status", "/hooks//v1/status", "/", "/dashboard"}) {
    auto r = via_proxy("GET", target);
    ASSERT_TRUE(r.ok()) << target << ": " << r.error();
    EXPECT_TRUE(r->status == 404 || r->status == 405 || r->status == 400)
        << target << ": " << r->status << " " << r->body;
    EXPECT_EQ(r->body.find("\"runs\""), std::string::npos) << target << ": " << r->body;
    EXPECT_EQ(r->body.find("\"apps\""), std::string::npos) << target << ": " << r->body;
  }
  // A proxy that lost the route (here: removed by hand) is given it again.
  auto rm = RunCommand({GRAVITY_BIN, "proxy", "rm", "gravity-webhooks", "--control",
                        state + "/proxy.sock"});
  ASSERT_TRUE(rm.ok() && rm->exit_code == 0) << (rm.ok() ? rm->err : rm.error());
  ASSERT_TRUE(daemon_->WaitForOutput("sending the route again", kWait)) << daemon_->Output();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto again = via_proxy(
            "POST", "/hooks/site",
            {{"X-GitHub-Event", "ping"},
             {"X-Hub-Signature-256", "sha256=" + pipeline::HmacSha256Hex("hook-secret", ping)}},
            ping);
        return again.ok() && again->status == 200;
      },
      kWait, 100ms));
  (*proxy)->Stop(5s);
}

}  // namespace
}  // namespace gravity
