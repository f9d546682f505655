#include "runtime/cgroup.h"

#include <gtest/gtest.h>

namespace gravity::runtime {
namespace {

// A host like this one: v1 controllers mounted one per directory, and an empty unified
// hierarchy beside them (systemd's "hybrid" layout).
const char kHybridMountinfo[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
const char kHybridSelf[] =
    "8:pids:/\n4:memory:/jobs/42\n1:cpu:/\n0::/\n";

// A current distribution: only the unified hierarchy.
const char kUnifiedMountinfo[] =
    "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

std::string Controllers(const std::string& mount) {
  return mount == "/sys/fs/cgroup" ? "cpuset cpu io memory hugetlb pids rdma misc\n" : "";
}

TEST(CgroupLayout, HybridHostUsesV1UnderItsOwnCgroupPerController) {
  CgroupLayout l = ParseCgroupLayout(kHybridMountinfo, kHybridSelf, Controllers);
  EXPECT_EQ(l.version, CgroupVersion::kV1);
  EXPECT_EQ(l.memory_root, "/sys/fs/cgroup/memory/jobs/42");
  EXPECT_EQ(l.pids_root, "/sys/fs/cgroup/pids");
  EXPECT_EQ(l.cpu_root, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(l.Describe(), "cgroup v1 (memory, pids, cpu)");
  Cgroup cg(l, GroupName("/srv/state", "site-prod-1"));
  EXPECT_EQ(cg.MainDir(), "/sys/fs/cgroup/memory/jobs/42/" + GroupName("/srv/state", "site-prod-1"));
}

TEST(CgroupLayout, UnifiedHierarchyWithMemoryAndPidsIsV2) {
  CgroupLayout l = ParseCgroupLayout(kUnifiedMountinfo, "0::/user.slice/session-1.scope\n",
                                     Controllers);
  EXPECT_EQ(l.version, CgroupVersion::kV2);
  EXPECT_EQ(l.v2_root, "/sys/fs/cgroup");
  EXPECT_EQ(l.Describe(), "cgroup v2 (/sys/fs/cgroup)");
}

TEST(CgroupLayout, V1WithoutCpuStillLimitsMemoryAndPids) {
  std::string mountinfo =
      "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
  CgroupLayout l = ParseCgroupLayout(mountinfo, "", Controllers);
  EXPECT_EQ(l.version, CgroupVersion::kV1);
  EXPECT_TRUE(l.cpu_root.empty());
  EXPECT_EQ(l.Describe(), "cgroup v1 (memory, pids)");
}

TEST(CgroupLayout, NothingUsableIsNoneAndSaysWhatIsNotEnforced) {
  CgroupLayout l = ParseCgroupLayout(
      "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", "", Controllers);
  EXPECT_EQ(l.version, CgroupVersion::kNone);
  EXPECT_NE(l.Describe().find("not enforced"), std::string::npos);
  Cgroup cg(l, "gravity-00000000/x");
  EXPECT_TRUE(cg.Create(ResourceLimits::InstanceDefaults()).ok());
  EXPECT_FALSE(cg.Exists());
  EXPECT_TRUE(cg.Remove());
}

}  // namespace
}  // namespace gravity::runtime
