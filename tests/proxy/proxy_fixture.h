#pragma once

// What the proxy's integration tests share: a running `gravity proxy run` child on a free
// port, fast health settings, a deploy request for a set of apps, and a fixture with a raw
// client. Header-only, for tests/proxy/*_test.cpp. Not thread-safe.

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/control_client.h"
#include "support/support.h"

namespace gravity::test {

using proxy::ControlClient;
using proxy::DeployRequest;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A running `gravity proxy run` on a free port with its own state dir.
class ProxyProcess {
 public:
  ProxyProcess(const std::string& state_dir, int port, std::vector<std::string> extra = {})
      : state_dir_(state_dir), port_(port) {
    std::vector<std::string> argv = {
        GRAVITY_BIN,   "proxy",  "run", "--listen", "127.0.0.1:" + std::to_string(port),
        "--state-dir", state_dir};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Subprocess::Start({argv});
    EXPECT_TRUE(p.ok()) << p.error();
    if (p.ok()) process_ = std::move(p).value();
  }
  bool WaitReady() {
    return WaitFor([&] { return PortOpen(port_) && ::access(socket().c_str(), F_OK) == 0; },
                   seconds(30));
  }
  std::string socket() const { return state_dir_ + "/proxy.sock"; }
  int port() const { return port_; }
  Subprocess& process() { return *process_; }
  ControlClient client() const { return ControlClient(socket(), seconds(120)); }

 private:
  std::string state_dir_;
  int port_;
  std::unique_ptr<Subprocess> process_;
};

inline proxy::HealthSpec FastHealth() {
  proxy::HealthSpec h;
  h.interval = milliseconds(50);
  h.timeout = milliseconds(1000);
  h.healthy_threshold = 2;
  h.unhealthy_threshold = 2;
  return h;
}

inline DeployRequest Request(const std::vector<std::unique_ptr<TestApp>>& apps) {
  DeployRequest r;
  r.service = "site";
  for (const auto& a : apps) r.targets.push_back(a->address());
  r.health = FastHealth();
  r.deploy_timeout = seconds(20);
  r.drain_timeout = seconds(20);
  return r;
}

inline std::unique_ptr<TestApp> StartApp(const std::string& name, std::vector<std::string> extra = {},
                                  int status = 200, std::string body = "") {
  TestAppOptions o;
  o.name = name;
  o.extra_args = std::move(extra);
  o.status = status;
  o.body = std::move(body);
  auto app = TestApp::Start(o);
  EXPECT_TRUE(app.ok()) << app.error();
  return app.ok() ? std::move(app).value() : nullptr;
}

class ProxyTest : public ::testing::Test {
 protected:
  void StartProxy(std::vector<std::string> extra = {}) {
    if (port_ == 0) port_ = FreePort();
    proxy_ = std::make_unique<ProxyProcess>(dir_.Join("state"), port_, extra);
    ASSERT_TRUE(proxy_->WaitReady()) << proxy_->process().Output();
  }
  void Deploy(const DeployRequest& r) {
    auto res = proxy_->client().Deploy(r);
    ASSERT_TRUE(res.ok()) << res.error();
    ASSERT_TRUE(res->ok) << res->error;
  }
  std::string Raw(const std::string& bytes) {
    HttpClient c("127.0.0.1", port_, seconds(20));
    EXPECT_TRUE(c.SendRaw(bytes).ok());
    auto out = c.ReadUntilClose();
    return out.ok() ? *out : "";
  }

  TempDir dir_{"proxy-test"};
  int port_ = 0;
  std::unique_ptr<ProxyProcess> proxy_;
};

}  // namespace gravity::test
