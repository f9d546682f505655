// `gravity proxy run --takeover`: a new proxy process takes the listening sockets over from
// the running one, which finishes its in-flight requests and exits — no gap for clients.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <future>

#include "proxy/proxy_fixture.h"
#include "support/support.h"

namespace gravity::test {
namespace {

using ::testing::HasSubstr;

class TakeoverTest : public ProxyTest {
 protected:
  std::vector<std::string> Args(const std::string& bin, bool takeover) {
    std::vector<std::string> a = {bin,          "proxy",         "run",
                                  "--listen",   "127.0.0.1:" + std::to_string(port_),
                                  "--state-dir", dir_.Join("state"), "--metrics",
                                  "127.0.0.1:" + std::to_string(metrics_port_)};
    if (takeover) a.push_back("--takeover");
    return a;
  }
  // Starts a process taking over from the current one; returns once the old one exited.
  std::unique_ptr<Subprocess> TakeOver(Subprocess& old, const std::string& bin) {
    auto p = Subprocess::Start({Args(bin, true)});
    EXPECT_TRUE(p.ok()) << p.error();
    if (!p.ok()) return nullptr;
    auto code = old.Wait(seconds(30));
    EXPECT_TRUE(code.has_value()) << "the old proxy did not exit:\n" << old.Output();
    EXPECT_EQ(code.value_or(-1), 0) << old.Output();
    EXPECT_THAT(old.Output(), HasSubstr("the new process is ready"));
    EXPECT_THAT((*p)->Output(), HasSubstr("took over from the previous process"));
    return std::move(p).value();
  }
  int metrics_port_ = FreePort();
};

TEST_F(TakeoverTest, TenRestartsUnderKeepAliveLoadFailNoRequest) {
  port_ = FreePort();
  auto first = Subprocess::Start({Args(GRAVITY_BIN, false)});
  ASSERT_TRUE(first.ok()) << first.error();
  std::unique_ptr<Subprocess> current = std::move(first).value();
  ASSERT_TRUE(WaitFor([&] { return PortOpen(port_); }, seconds(30))) << current->Output();
  ControlClient control(dir_.Join("state") + "/proxy.sock", seconds(60));
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("a"));
  apps.push_back(StartApp("b"));
  auto deployed = control.Deploy(Request(apps));
  ASSERT_TRUE(deployed.ok() && deployed->ok) << (deployed.ok() ? deployed->error : deployed.error());

  // An upgrade: the same program from another file.
  std::string other_bin = dir_.Join("gravity-upgraded");
  std::filesystem::copy_file(GRAVITY_BIN, other_bin);
  ::chmod(other_bin.c_str(), 0755);

  LoadOptions lo;
  lo.port = port_;
  lo.connections = 8;
  LoadGenerator load(lo);
  load.Start();
  // A slow request in flight across the first restart completes on the old process.
  auto slow = std::async(std::launch::async, [&] {
    return HttpGet(port_, "/slow?ms=1500", "", seconds(20));
  });
  ASSERT_TRUE(WaitFor([&] { return load.Stats().ok > 200; }, seconds(30)));
  for (int i = 0; i < 10; ++i) {
    const long before = load.Stats().ok;
    current = TakeOver(*current, i == 5 ? other_bin : GRAVITY_BIN);
    ASSERT_TRUE(current);
    ASSERT_TRUE(WaitFor([&] { return load.Stats().ok > before + 100; }, seconds(30)))
        << "no traffic after restart " << i << "\n" << current->Output();
  }
  auto slow_r = slow.get();
  load.Stop();
  ASSERT_TRUE(slow_r.ok()) << slow_r.error();
  EXPECT_EQ(slow_r->status, 200);
  LoadStats st = load.Stats();
  EXPECT_EQ(st.failed, 0) << st.Summary();
  // The routes came along, and the control socket and metrics answer on the new process.
  auto ls = control.List();
  ASSERT_TRUE(ls.ok()) << ls.error();
  EXPECT_THAT(ls->dump(), HasSubstr(apps[0]->address()));
  auto m = HttpGet(metrics_port_, "/metrics");
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_THAT(m->body, HasSubstr("gravity_proxy_requests_total"));
  std::printf("[ takeover ] 10 restarts (one with another binary): %ld requests, %ld failed\n",
              st.ok, st.failed);
  current->Stop();
}

TEST_F(TakeoverTest, WithoutARunningProxyItSaysSo) {
  port_ = FreePort();
  auto p = Subprocess::Start({Args(GRAVITY_BIN, true)});
  ASSERT_TRUE(p.ok());
  auto code = (*p)->Wait(seconds(30));
  ASSERT_TRUE(code.has_value());
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 1) << *code;
  EXPECT_THAT((*p)->Output(), HasSubstr("no running proxy to take over"));
}

TEST_F(TakeoverTest, ANewProcessThatFailsLeavesTheOldOneServing) {
  port_ = FreePort();
  auto old = Subprocess::Start({Args(GRAVITY_BIN, false)});
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE(WaitFor([&] { return PortOpen(port_); }, seconds(30)));
  ControlClient control(dir_.Join("state") + "/proxy.sock", seconds(60));
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("a"));
  auto deployed = control.Deploy(Request(apps));
  ASSERT_TRUE(deployed.ok() && deployed->ok);
  // The new process gets the sockets, then fails: its metrics address is taken.
  auto args = Args(GRAVITY_BIN, true);
  RawTarget squatter([](const std::string&) { return RawReply{SimpleResponse(200, "")}; });
  ASSERT_TRUE(squatter.Start());
  args[8] = squatter.address();
  auto bad = Subprocess::Start({args});
  ASSERT_TRUE(bad.ok());
  auto code = (*bad)->Wait(seconds(30));
  ASSERT_TRUE(code.has_value()) << (*bad)->Output();
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 1) << (*bad)->Output();
  EXPECT_TRUE((*old)->Running());
  auto r = HttpGet(port_, "/");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(control.List().ok());
  EXPECT_THAT((*old)->Output(), HasSubstr("went away before it was ready"));
}

}  // namespace
}  // namespace gravity::test
