#pragma once

// A real deploy stack for integration tests: a `gravity proxy run` child, the runtime
// Supervisor launching real gravity-testapp instances behind the `gravity _instance`
// wrapper, and the Deployer with a real SQLite file. Not thread-safe.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "common/fs.h"
#include "common/process.h"
#include "config/spec.h"
#include "deploy/deployer.h"
#include "deploy/proxy_adapter.h"
#include "runtime/launcher.h"
#include "runtime/supervisor.h"
#include "store/db.h"
#include "support/support.h"

namespace gravity::deploy {

using namespace std::chrono_literals;

class DeployFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.Join("state");
    ASSERT_TRUE(MakeDirs(state_).ok());
    proxy_port_ = test::FreePort();
    sock_ = state_ + "/proxy.sock";
    StartProxy();
    db_ = std::move(store::Db::Open(state_ + "/state.db").value());
    launcher_ = std::make_unique<runtime::ProcessLauncher>(GRAVITY_BIN, state_);
    runtime::SupervisorOptions so;
    so.state_dir = state_;
    so.port_first = 61000;
    so.port_last = 64999;
    so.stop_grace = 5s;
    supervisor_ = std::make_unique<runtime::Supervisor>(so, *launcher_, Clock::Real());
    ASSERT_TRUE(supervisor_->Recover().ok());
    supervisor_->StartThread();
    control_ = MakeProxyControl(sock_);
    deployer_ = std::make_unique<Deployer>(*db_, *supervisor_, *control_, Clock::Real());
    ASSERT_TRUE(deployer_->Init().ok());
    config::StackApp app;
    app.name = "site";
    app.keep_releases = 5;
    config::EnvironmentSpec staging;
    staging.name = "staging";
    staging.branch = "staging";
    staging.instances = 2;
    staging.drain_timeout = 5s;
    staging.keep_previous = 10min;
    staging.env = {{"GREETING", "hi"}};
    config::EnvironmentSpec production;
    production.name = "production";
    production.promote_from = "staging";
    production.host = "www.localhost";
    production.instances = 2;
    production.drain_timeout = 5s;
    app.environments = {staging, production};
    stack_.state_dir = state_;
    stack_.apps = {app};
    deployer_->SetStack(stack_);
  }

  void TearDown() override {
    if (supervisor_) {
      supervisor_->StopThread();
      std::vector<std::string> ids;
      for (const auto& i : supervisor_->List()) ids.push_back(i.id);
      supervisor_->Stop(ids);
    }
    for (int quiet = 0, round = 0; quiet < 3 && round < 100; ++round) {
      auto found = launcher_->FindOwned(state_);
      quiet = found.empty() ? quiet + 1 : 0;
      for (auto& ref : found) launcher_->Stop(ref, 1s);
      std::this_thread::sleep_for(100ms);
    }
    if (proxy_) proxy_->Stop(5s);
  }

  void StartProxy() {
    std::vector<std::string> argv = {GRAVITY_BIN, "proxy", "run", "--listen",
                                     "127.0.0.1:" + std::to_string(proxy_port_), "--control",
                                     sock_, "--state-dir", state_ + "/proxy"};
    if (proxy_metrics_port_ != 0) {
      argv.insert(argv.end(), {"--metrics", "127.0.0.1:" + std::to_string(proxy_metrics_port_)});
    }
    auto proxy = test::Subprocess::Start({.argv = argv, .output_path = dir_.Join("proxy.log")});
    ASSERT_TRUE(proxy.ok()) << proxy.error();
    proxy_ = std::move(*proxy);
    ASSERT_TRUE(test::WaitFor(
        [&] { return test::PortOpen(proxy_port_) && ::access(sock_.c_str(), F_OK) == 0; }, 20s))
        << proxy_->Output();
  }

  // A sealed release whose instances are gravity-testapp with the given flags. The body
  // says "release NAME: Automation for the people" unless `body` is given.
  Release MakeRelease(const std::string& name, const std::string& flags = "",
                      const std::string& body = "", config::Duration deploy_timeout = 20s) {
    Release r;
    r.app = "site";
    r.commit = name + std::string(40 - name.size(), '0');
    r.release_dir = dir_.Join("releases/" + r.commit);
    std::string text = body.empty() ? "release " + name + ": Automation for the people" : body;
    r.spec.run.command = ShellQuote(test::TestAppBinary()) + " --port \"$PORT\" --name \"" + name +
                         "-$PORT\" --body " + ShellQuote(text) + " " + flags;
    r.spec.health.body_contains = "Automation for the people";
    r.spec.health.interval = 100ms;
    r.spec.health.timeout = 1s;
    r.spec.health.healthy_threshold = 2;
    r.spec.health.deploy_timeout = deploy_timeout;
    std::string yml = "run:\n  command: " + nlohmann_quote(r.spec.run.command) +
                      "\nhealth:\n  body_contains: Automation for the people\n"
                      "  interval: 100ms\n  timeout: 1s\n  deploy_timeout: 20s\n";
    EXPECT_TRUE(MakeDirs(r.release_dir).ok());
    EXPECT_TRUE(WriteFileAtomic(r.release_dir + "/gravity.yml", yml).ok());
    return r;
  }

  static std::string nlohmann_quote(const std::string& s) {
    // A YAML double-quoted scalar.
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }

  // The body the proxy serves for `host` now.
  std::string Served(const std::string& host = "") {
    auto r = test::HttpGet(proxy_port_, "/", host, 5s);
    return r.ok() ? r->body : "error: " + r.error();
  }

  EnvironmentRecord Env(const std::string& env) {
    return deployer_->records().Environment("site", env).value();
  }

  test::TempDir dir_{"gravity-deploy-it"};
  std::string state_, sock_;
  int proxy_port_ = 0;
  int proxy_metrics_port_ = 0;  // set before SetUp: the proxy serves /metrics there
  std::unique_ptr<test::Subprocess> proxy_;
  std::unique_ptr<store::Db> db_;
  std::unique_ptr<runtime::ProcessLauncher> launcher_;
  std::unique_ptr<runtime::Supervisor> supervisor_;
  std::unique_ptr<ProxyControl> control_;
  std::unique_ptr<Deployer> deployer_;
  config::StackSpec stack_;
};

}  // namespace gravity::deploy
