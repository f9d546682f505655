// Resource limits between environments, through the real proxy, real sandboxed instances
// and real cgroups: while environment "staging" serves steady load, the instance of
// environment "noisy" (small limits) fork-bombs and then allocates past its memory limit.
// staging sees not one failed request; noisy's fork bomb stops at its pids limit and its
// memory hog is killed, restarted, and named: "killed: out of memory (limit 64 MiB)".
#include "deploy/deploy_fixture.h"
#include "runtime/cgroup.h"

namespace gravity::deploy {
namespace {

class LimitsTest : public DeployFixture {};

// A sanitizer build's instance maps shadow memory, and each child of its fork bomb copies
// page tables for it, which the memory cgroup charges: give it room to reach its pids limit.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long long kNoisyMemoryMiB = 512;
#else
constexpr long long kNoisyMemoryMiB = 64;
#endif

TEST_F(LimitsTest, ForkBombAndMemoryHogInOneEnvironmentDoNotTouchAnother) {
  if (runtime::HostCgroups().version == runtime::CgroupVersion::kNone) {
    GTEST_SKIP() << "no cgroups on this host";
  }
  config::EnvironmentSpec noisy;
  noisy.name = "noisy";
  noisy.branch = "noisy";
  noisy.host = "noisy.localhost";
  noisy.instances = 1;
  noisy.drain_timeout = 1s;
  noisy.limits.memory = kNoisyMemoryMiB << 20;
  noisy.limits.pids = 64;
  stack_.apps[0].environments.push_back(noisy);
  deployer_->SetStack(stack_);
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r0")).ok());
  auto hog = deployer_->Deploy("noisy", MakeRelease("hog"));
  ASSERT_TRUE(hog.ok()) << hog.error();
  ASSERT_NE(Served("noisy.localhost").find("release hog:"), std::string::npos);

  test::LoadGenerator load({.port = proxy_port_, .connections = 8, .max_run = 10min});
  load.Start();
  ASSERT_TRUE(test::WaitFor([&] { return load.Stats().total > 200; }, 30s));

  // The fork bomb: fork stops at the pids limit.
  auto bomb = test::HttpGet(proxy_port_, "/hostile?try=fork&n=100000", "noisy.localhost", 30s);
  ASSERT_TRUE(bomb.ok()) << bomb.error();
  EXPECT_EQ(bomb->body.rfind("errno EAGAIN after ", 0), 0u) << bomb->body;

  // The memory hog: killed by the kernel inside its cgroup, restarted, named.
  std::string noisy_id = Env("noisy").live_instances.at(0);
  (void)test::HttpGet(proxy_port_, "/hostile?try=alloc&n=4096", "noisy.localhost", 30s);
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto i = supervisor_->Get(noisy_id);
        return i && i->restarts >= 1 &&
               i->last_exit ==
                   "killed: out of memory (limit " + std::to_string(kNoisyMemoryMiB) + " MiB)";
      },
      30s))
      << supervisor_->Get(noisy_id)->last_exit;

  auto after = test::LoadGenerator::Now();
  ASSERT_TRUE(load.WaitForRequestsSince(after, 200, 30s));
  load.Stop();
  auto stats = load.Stats();
  EXPECT_EQ(stats.failed, 0) << stats.Summary();
  EXPECT_GT(stats.ok, 400) << stats.Summary();
  EXPECT_NE(Served().find("release r0:"), std::string::npos);
}

TEST_F(LimitsTest, ReleaseKilledAtItsMemoryLimitFailsTheDeployWithTheLimitNamed) {
  if (runtime::HostCgroups().version == runtime::CgroupVersion::kNone) {
    GTEST_SKIP() << "no cgroups on this host";
  }
  stack_.apps[0].environments[0].limits.memory = 64LL << 20;
  deployer_->SetStack(stack_);
  ASSERT_TRUE(deployer_->Deploy("staging", MakeRelease("r0")).ok());
  auto greedy = deployer_->Deploy("staging", MakeRelease("greedy", "--alloc-at-start 256", "", 5s));
  ASSERT_FALSE(greedy.ok());
  EXPECT_NE(greedy.error().find("killed: out of memory (limit 64 MiB)"), std::string::npos)
      << greedy.error();
  // What was live stays live.
  EXPECT_NE(Served().find("release r0:"), std::string::npos);
}

}  // namespace
}  // namespace gravity::deploy
