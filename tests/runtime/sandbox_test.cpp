// The sandbox from the inside: a hostile instance (gravity-testapp's /hostile endpoint)
// started through the real ProcessLauncher + Supervisor tries what an app must not do, and
// every attempt fails with the exact errno; its memory and pids limits are enforced by a
// real cgroup, named in the instance's exit, removed when it stops, kept across a restart
// of the supervisor.
#include "runtime/sandbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/fs.h"
#include "common/process.h"
#include "runtime/cgroup.h"
#include "runtime/launcher.h"
#include "runtime/supervisor.h"
#include "support/http_client.h"
#include "support/net.h"

namespace gravity::runtime {
namespace {

using std::chrono::milliseconds;

template <typename Pred>
bool Eventually(Pred pred, milliseconds timeout = milliseconds(20000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred();
}

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-sandbox-test").value();
    state_ = dir_ + "/state";
    // The layout of a real state dir: secrets and other apps' releases beside this one's.
    release_ = state_ + "/releases/site/0123456789abcdef";
    other_release_ = state_ + "/releases/other/fedcba9876543210";
    ASSERT_TRUE(MakeDirs(release_, 0755).ok());
    ASSERT_TRUE(MakeDirs(other_release_, 0755).ok());
    ASSERT_TRUE(::chmod(state_.c_str(), 0700) == 0);
    ASSERT_TRUE(WriteFileAtomic(state_ + "/token", "secret-token\n", 0600).ok());
    ASSERT_TRUE(WriteFileAtomic(state_ + "/gravity.db", "SQLite format 3", 0600).ok());
    // World-writable on the host: only the read-only mount stops a write.
    ASSERT_TRUE(WriteFileAtomic(release_ + "/index.html", "hello\n", 0666).ok());
    ASSERT_EQ(::chmod(release_.c_str(), 0777), 0);
    ASSERT_EQ(::chmod((release_ + "/index.html").c_str(), 0666), 0);
    ASSERT_TRUE(WriteFileAtomic(other_release_ + "/index.html", "other\n", 0644).ok());
    options_.state_dir = state_;
    int base = FreePortRun(20);
    options_.port_first = base;
    options_.port_last = base + 19;
    options_.stop_grace = milliseconds(2000);
    options_.backoff_initial = milliseconds(50);
    options_.backoff_max = milliseconds(200);
    launcher_ = std::make_unique<ProcessLauncher>(GRAVITY_BIN, state_);
  }
  void TearDown() override {
    for (auto& ref : launcher_->FindOwned(state_)) launcher_->Stop(ref, milliseconds(500));
    RemoveTree(dir_);
  }

  InstanceSpec Spec(ResourceLimits limits = {}) {
    InstanceSpec s;
    s.app = "site";
    s.environment = "production";
    s.release = "0123456789abcdef";
    s.release_dir = release_;
    s.command = std::string("exec ") + GRAVITY_TESTAPP_BIN + " --port $PORT";
    s.limits = limits;
    return s;
  }

  // Starts the hostile app and waits until it serves.
  InstanceInfo StartHostile(Supervisor& sup, ResourceLimits limits = {}) {
    auto i = sup.Start(Spec(limits));
    EXPECT_TRUE(i.ok()) << i.error();
    EXPECT_TRUE(Eventually([&] { return test::PortOpen(i->port); })) << Log(*i);
    return *i;
  }

  std::string Try(const InstanceInfo& i, const std::string& query) {
    auto r = test::HttpGet(i.port, "/hostile?" + query);
    if (!r.ok()) return "request failed: " + r.error();
    std::string body = r->body;
    while (!body.empty() && body.back() == '\n') body.pop_back();
    return body;
  }

  std::string Log(const InstanceInfo& i) {
    auto text = ReadFile(i.log_path);
    return text.ok() ? *text : "";
  }

  std::string dir_, state_, release_, other_release_;
  SupervisorOptions options_;
  std::unique_ptr<ProcessLauncher> launcher_;
};

TEST_F(SandboxTest, HostileInstanceCannotReachSecretsOtherAppsOrTheHost) {
  // A setuid-root program in the release: it must not raise the app's privileges.
  std::string suid = release_ + "/suid-helper";
  ASSERT_TRUE(WriteFileAtomic(suid, ReadFile(GRAVITY_TESTAPP_BIN).value(), 0755).ok());
  ASSERT_EQ(::chown(suid.c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod(suid.c_str(), 04755), 0);

  // An operator who exported the CLI's token before starting Gravity.
  // And the credentials of whatever else they exported.
  ::setenv("GRAVITY_TOKEN", "secret-token", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "operator-secret", 1);
  ::setenv("LC_TIME", "C.UTF-8", 1);
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  InstanceInfo i = StartHostile(sup);
  ::unsetenv("GRAVITY_TOKEN");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("LC_TIME");
  // Another environment's instance, a neighbour on the same host.
  InstanceSpec neighbour_spec = Spec();
  neighbour_spec.environment = "staging";
  InstanceInfo neighbour = *sup.Start(neighbour_spec);
  ASSERT_TRUE(Eventually([&] { return test::PortOpen(neighbour.port); })) << Log(neighbour);
  const std::string uid = std::to_string(SandboxUid("site"));

  // Its own unprivileged user, no capabilities, no_new_privs.
  EXPECT_EQ(Try(i, "try=whoami"), "ok " + uid + " " + uid);
  EXPECT_EQ(Try(i, "try=caps"), "ok CapEff:\t0000000000000000");
  EXPECT_EQ(Try(i, "try=nnp"), "ok NoNewPrivs:\t1");
  EXPECT_EQ(Try(i, "try=exec&path=" + suid), "ok euid " + uid);
  // The state dir is not there: no token, no database, no other app.
  EXPECT_EQ(Try(i, "try=read&path=" + state_ + "/token"), "errno ENOENT");
  EXPECT_EQ(Try(i, "try=read&path=" + state_ + "/gravity.db"), "errno ENOENT");
  EXPECT_EQ(Try(i, "try=read&path=" + other_release_ + "/index.html"), "errno ENOENT");
  EXPECT_EQ(Try(i, "try=write&path=" + other_release_ + "/index.html"), "errno ENOENT");
  EXPECT_EQ(Try(i, "try=listdir&path=" + state_ + "/releases"), "ok 1 entries");
  // Its own release: readable, not writable.
  EXPECT_EQ(Try(i, "try=read&path=" + release_ + "/index.html"), "ok read 6 bytes");
  EXPECT_EQ(Try(i, "try=write&path=" + release_ + "/index.html"), "errno EROFS");
  EXPECT_EQ(Try(i, "try=write&path=" + release_ + "/new-file"), "errno EROFS");
  // The system is read-only; /tmp is private and writable.
  EXPECT_EQ(Try(i, "try=write&path=/usr/pwned"), "errno EROFS");
  EXPECT_EQ(Try(i, "try=write&path=/tmp/scratch"), "ok wrote");
  // Its own PID namespace: the sandbox's init and the app; this process is invisible.
  EXPECT_EQ(Try(i, "try=procs"), "ok 2 processes");
  EXPECT_EQ(Try(i, "try=kill&n=" + std::to_string(::getpid())), "errno ESRCH");
  EXPECT_EQ(Try(i, "try=kill&n=" + std::to_string(neighbour.process.pid)), "errno ESRCH");
  // Nothing of the daemon's environment that names the API token.
  EXPECT_EQ(Try(i, "try=env&path=GRAVITY_TOKEN"), "unset");
  EXPECT_EQ(Try(i, "try=env&path=AWS_SECRET_ACCESS_KEY"), "unset");
  EXPECT_EQ(Try(i, "try=env&path=GRAVITY_APP"), "ok site");
  EXPECT_EQ(Try(i, "try=env&path=LC_TIME"), "ok C.UTF-8");  // the locale is passed on
  // Refused by the seccomp filter (EPERM, so that probing runtimes carry on).
  EXPECT_EQ(Try(i, "try=mount"), "errno EPERM");
  EXPECT_EQ(Try(i, "try=ptrace&n=1"), "errno EPERM");
  EXPECT_EQ(Try(i, "try=unshare"), "errno EPERM");
  EXPECT_EQ(Try(i, "try=module"), "errno EPERM");
  EXPECT_EQ(Try(i, "try=io_uring"), "errno EPERM");
  // No privileged ports; its own $PORT works (it is serving these answers).
  EXPECT_EQ(Try(i, "try=bind&n=80"), "errno EACCES");

  std::string log = Log(i);
  EXPECT_NE(log.find("sandboxed as uid " + uid), std::string::npos) << log;
  sup.Stop({i.id, neighbour.id});
}

TEST_F(SandboxTest, ForkPastThePidsLimitFailsWithEagain) {
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  ResourceLimits limits;
  limits.pids = 32;
  InstanceInfo i = StartHostile(sup, limits);
  std::string r = Try(i, "try=fork&n=200");
  EXPECT_EQ(r.rfind("errno EAGAIN after ", 0), 0u) << r;
  // Still serving once the children are gone.
  EXPECT_EQ(Try(i, "try=whoami").rfind("ok ", 0), 0u);
  sup.Stop({i.id});
}

TEST_F(SandboxTest, CpuHogGetsItsShareAndNoMore) {
  if (HostCgroups().version == CgroupVersion::kNone) GTEST_SKIP() << "no cgroups here";
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  ResourceLimits limits;
  limits.cpu = 0.25;
  InstanceInfo i = StartHostile(sup, limits);
  // Two busy threads for 1 s of wall time could use 2000 ms of CPU; the quota allows 250.
  std::string r = Try(i, "try=spin&n=1000");
  ASSERT_EQ(r.rfind("ok cpu_ms ", 0), 0u) << r;
  long cpu_ms = std::stol(r.substr(10));
  EXPECT_LT(cpu_ms, 500) << r;
  EXPECT_GT(cpu_ms, 50) << r;
  sup.Stop({i.id});
}

TEST_F(SandboxTest, MemoryHogIsKilledAndTheLimitIsNamed) {
  if (HostCgroups().version == CgroupVersion::kNone) GTEST_SKIP() << "no cgroups here";
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  ResourceLimits limits;
  limits.memory = 64LL << 20;
  InstanceInfo i = StartHostile(sup, limits);
  Cgroup cg(HostCgroups(), i.process.cgroup);
  ASSERT_TRUE(cg.Exists()) << i.process.cgroup;
  EXPECT_FALSE(cg.Pids().empty());
  (void)test::HttpGet(i.port, "/hostile?try=alloc&n=256");
  ASSERT_TRUE(Eventually([&] {
    sup.Tick();
    auto now = sup.Get(i.id);
    return now && now->last_exit == "killed: out of memory (limit 64 MiB)";
  })) << Log(i);
  EXPECT_NE(Log(i).find("gravity killed: out of memory (limit 64 MiB)"), std::string::npos);
  sup.Stop({i.id});
  EXPECT_FALSE(cg.Exists());
}

TEST_F(SandboxTest, CgroupIsKeptAcrossASupervisorRestartAndRemovedOnStop) {
  if (HostCgroups().version == CgroupVersion::kNone) GTEST_SKIP() << "no cgroups here";
  InstanceInfo kept;
  {
    Supervisor sup(options_, *launcher_, Clock::Real());
    ASSERT_TRUE(sup.Recover().ok());
    kept = StartHostile(sup);
  }
  Cgroup cg(HostCgroups(), kept.process.cgroup);
  ASSERT_TRUE(cg.Exists());
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  auto info = sup.Get(kept.id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, InstanceState::kRunning);
  EXPECT_EQ(info->process.cgroup, kept.process.cgroup);
  EXPECT_EQ(info->spec.limits, kept.spec.limits);
  EXPECT_TRUE(cg.Exists());
  EXPECT_EQ(Try(*info, "try=whoami").rfind("ok ", 0), 0u);
  sup.Stop({kept.id});
  EXPECT_FALSE(cg.Exists());
}

TEST_F(SandboxTest, DataDirectoryIsWritableAndOutlivesTheInstance) {
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  auto spec = Spec();
  spec.data = {"uploads"};
  const std::string data = state_ + "/data/site/production";
  auto first = sup.Start(spec);
  ASSERT_TRUE(first.ok()) << first.error();
  ASSERT_TRUE(Eventually([&] { return test::PortOpen(first->port); })) << Log(*first);
  EXPECT_EQ(Try(*first, "try=env&path=GRAVITY_DATA_DIR"), "ok " + data);
  EXPECT_EQ(Try(*first, "try=write&path=" + data + "/uploads/kept"), "ok wrote");
  // Only the declared directory: not its parent, nor another environment's data.
  EXPECT_EQ(Try(*first, "try=write&path=" + data + "/other"), "errno EACCES");
  ASSERT_TRUE(MakeDirs(state_ + "/data/site/staging/uploads", 0755).ok());
  EXPECT_EQ(Try(*first, "try=listdir&path=" + state_ + "/data/site/staging"), "errno ENOENT");
  sup.Stop({first->id});

  // The next release's instance finds it.
  auto second = sup.Start(spec);
  ASSERT_TRUE(second.ok()) << second.error();
  ASSERT_TRUE(Eventually([&] { return test::PortOpen(second->port); })) << Log(*second);
  EXPECT_EQ(Try(*second, "try=read&path=" + data + "/uploads/kept"), "ok read 6 bytes");
  sup.Stop({second->id});
  struct stat st {};
  ASSERT_EQ(::stat((data + "/uploads/kept").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, SandboxUid("site"));
}

TEST_F(SandboxTest, SandboxOffRunsPlainlyAndSaysSo) {
  Supervisor sup(options_, *launcher_, Clock::Real());
  ASSERT_TRUE(sup.Recover().ok());
  auto spec = Spec();
  spec.sandbox = SandboxMode::kOff;
  auto i = sup.Start(spec);
  ASSERT_TRUE(i.ok()) << i.error();
  ASSERT_TRUE(Eventually([&] { return test::PortOpen(i->port); })) << Log(*i);
  EXPECT_EQ(Try(*i, "try=whoami"), "ok 0 0");
  EXPECT_NE(Log(*i).find("WARNING: sandbox: off"), std::string::npos) << Log(*i);
  sup.Stop({i->id});
}

}  // namespace
}  // namespace gravity::runtime
