// Start time of one instance, sandboxed (bwrap + seccomp + cgroup + uid drop) vs plain
// (`sandbox: off`): from Launch() until gravity-testapp accepts a connection on $PORT,
// median and p90 of --starts runs each, interleaved so that load drifts hit both alike.
// Then --pss-instances instances of each kind run side by side and the PSS of every
// process that belongs to one instance (wrapper, bwrap, its init, the app) is summed from
// /proc/PID/smaps_rollup.
#include <dirent.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "runtime/launcher.h"
#include "runtime/ports.h"
#include "support/net.h"

using namespace gravity;
using namespace gravity::runtime;
using Clock = std::chrono::steady_clock;

namespace {

long PssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long value;
  std::string unit;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    if (l >> key >> value && key == "Pss:") return value;
  }
  return 0;
}

// The pid and every descendant of it.
std::vector<pid_t> Tree(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parent;  // pid, ppid
  DIR* d = ::opendir("/proc");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid_t pid = std::atoi(e->d_name);
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(st)), {});
    auto close = s.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(s.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    parent.emplace_back(pid, ppid);
  }
  if (d) ::closedir(d);
  std::vector<pid_t> out = {root};
  for (size_t k = 0; k < out.size(); ++k) {
    for (auto [p, pp] : parent) {
      if (pp == out[k]) out.push_back(p);
    }
  }
  return out;
}

LaunchSpec Spec(const std::string& dir, SandboxMode mode, int n, int port) {
  LaunchSpec s;
  s.id = std::string(mode == SandboxMode::kOff ? "plain-" : "sandboxed-") + std::to_string(n);
  s.app = "bench";
  s.environment = "bench";
  s.release = "0000000";
  s.release_dir = dir + "/release";
  s.command = std::string("exec ") + GRAVITY_TESTAPP_BIN + " --port $PORT";
  s.port = port;
  s.log_path = dir + "/logs/" + s.id + ".log";
  s.sandbox = mode;
  return s;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::err);  // the figures, not the launcher's warnings
  int starts = 50, pss_instances = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--starts")) starts = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--pss-instances")) pss_instances = std::atoi(argv[i + 1]);
  }
  std::string dir = MakeTempDir("gravity-bench-runtime").value();
  (void)MakeDirs(dir + "/release");
  ProcessLauncher launcher(GRAVITY_BIN, dir + "/state");
  int base = FreePortRun(2 * pss_instances + 2);
  std::vector<double> ms[2];
  for (int k = 0; k < starts; ++k) {
    for (SandboxMode mode : {SandboxMode::kStrict, SandboxMode::kOff}) {
      int port = base + (mode == SandboxMode::kOff);
      auto t0 = Clock::now();
      auto ref = launcher.Launch(Spec(dir, mode, k, port));
      if (!ref.ok()) {
        std::fprintf(stderr, "launch: %s\n", ref.error().c_str());
        return 1;
      }
      while (!gravity::test::PortOpen(port))
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      ms[mode == SandboxMode::kOff].push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      launcher.Stop(*ref, std::chrono::milliseconds(2000));
    }
  }
  std::printf("start to listening, %d runs each:\n", starts);
  std::printf("  sandboxed    median %6.1f ms   p90 %6.1f ms\n", Percentile(ms[0], 0.5),
              Percentile(ms[0], 0.9));
  std::printf("  unsandboxed  median %6.1f ms   p90 %6.1f ms\n", Percentile(ms[1], 0.5),
              Percentile(ms[1], 0.9));
  std::printf("  sandbox adds %.1f ms (median)\n", Percentile(ms[0], 0.5) - Percentile(ms[1], 0.5));

  for (SandboxMode mode : {SandboxMode::kStrict, SandboxMode::kOff}) {
    std::vector<ProcessRef> refs;
    for (int k = 0; k < pss_instances; ++k) {
      int port = base + 2 + 2 * k + (mode == SandboxMode::kOff);
      auto ref = launcher.Launch(Spec(dir, mode, 1000 + k, port));
      if (!ref.ok()) return 1;
      while (!gravity::test::PortOpen(port))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      refs.push_back(*ref);
    }
    long total = 0;
    size_t procs = 0;
    for (const auto& r : refs) {
      for (pid_t p : Tree(r.pid)) {
        total += PssKiB(p);
        ++procs;
      }
    }
    std::printf("PSS per %s instance (%zu processes each, %d side by side): %.0f KiB\n",
                mode == SandboxMode::kOff ? "unsandboxed" : "sandboxed", procs / refs.size(),
                pss_instances, static_cast<double>(total) / static_cast<double>(refs.size()));
    for (const auto& r : refs) launcher.Stop(r, std::chrono::milliseconds(2000));
  }
  (void)RemoveTree(dir);
  return 0;
}
