// gravity-bench-logs ingest|query [--lines N] [--instances K] [--dir D]
//
// ingest: K instance log files in the wrapper's format (K * lines/K lines of about 110
//   bytes: a timestamp, the stream, an HTTP-style message with a 32-hex request id) are
//   written first, then the real Ingester moves them into a fresh store; prints lines/s
//   (of ingest alone, files already on disk and in the page cache).
// query: the same kind of lines (N in total) go into a store, and into plain files; then
//   one request id that occurs in two lines is looked up: through the store (FTS5 index)
//   and with `grep -F` over the files, each 5 times; prints the median of each.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fs.h"
#include "logs/ingester.h"
#include "logs/store.h"
#include "runtime/instance_wrapper.h"

namespace fs = std::filesystem;
using namespace gravity;
using Clk = std::chrono::steady_clock;

namespace {

std::string Hex32(std::mt19937_64& rng) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

// Writes `lines` lines spread over `instances` files under root/site/production/<rel>/.
// Returns the request id of line `needle` (also written once more, 1000 lines later).
std::string WriteFiles(const std::string& root, std::size_t lines, int instances,
                       std::size_t needle) {
  std::string dir = root + "/site/production/4f2a9c0d1e";
  fs::create_directories(dir);
  std::vector<FILE*> files;
  for (int i = 0; i < instances; ++i) {
    files.push_back(std::fopen((dir + "/site-production-" + std::to_string(i) + ".log").c_str(), "w"));
  }
  std::mt19937_64 rng(42);
  auto t0 = std::chrono::system_clock::now() - std::chrono::hours(1);
  static const char* kPaths[] = {"/", "/api/orders", "/static/app.js", "/api/users/42",
                                 "/healthz"};
  std::string needle_id;
  for (std::size_t n = 0; n < lines; ++n) {
    std::string id = Hex32(rng);
    if (n == needle) needle_id = id;
    if (n == needle + 1000) id = needle_id;
    std::string text = "GET " + std::string(kPaths[n % 5]) + " 200 " +
                       std::to_string(n % 97) + "ms request_id=" + id;
    std::string line = runtime::FormatLogLine(t0 + std::chrono::microseconds(n * 10),
                                              n % 10 == 9 ? "err" : "out", text);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), files[n % files.size()]);
  }
  for (FILE* f : files) std::fclose(f);
  return needle_id;
}

double Seconds(Clk::duration d) { return std::chrono::duration<double>(d).count(); }

std::uint64_t DirBytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

int Ingest(const std::string& dir, std::size_t lines, int instances) {
  WriteFiles(dir + "/logs", lines, instances, 0);
  auto store = logs::LogStore::Open(dir + "/logs.db");
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.error().c_str());
    return 1;
  }
  logs::Ingester ingester(**store, dir + "/logs", "", Clock::Real());
  auto start = Clk::now();
  std::size_t total = 0;
  for (;;) {
    auto s = ingester.RunOnce(64u << 20);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.error().c_str());
      return 1;
    }
    if (s->lines == 0) break;
    total += s->lines;
  }
  double secs = Seconds(Clk::now() - start);
  std::printf("workload: %zu lines of ~110 bytes in %d instance files (wrapper format), "
              "FTS5-indexed\n",
              total, instances);
  std::printf("ingest: %.2f s, %.0f lines/s, store %.1f MiB\n", secs,
              static_cast<double>(total) / secs,
              static_cast<double>(DirBytes(dir) - 0) / (1 << 20));
  return total == lines ? 0 : 1;
}

template <typename Fn>
double Median(int runs, Fn fn) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto s = Clk::now();
    fn();
    t.push_back(Seconds(Clk::now() - s) * 1000);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int Query(const std::string& dir, std::size_t lines, int instances) {
  std::string id = WriteFiles(dir + "/logs", lines, instances, lines / 2);
  auto store = logs::LogStore::Open(dir + "/logs.db");
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.error().c_str());
    return 1;
  }
  logs::Ingester ingester(**store, dir + "/logs", "", Clock::Real());
  auto start = Clk::now();
  for (;;) {
    auto s = ingester.RunOnce(256u << 20);
    if (!s.ok() || s->lines == 0) break;
  }
  std::printf("workload: %zu lines (%.0f MiB of files) in %d instance files; loaded in %.1f s\n",
              lines, static_cast<double>(DirBytes(dir + "/logs")) / (1 << 20), instances,
              Seconds(Clk::now() - start));
  logs::Filter f;
  f.app = "site";
  f.request_id = id;
  std::size_t found = 0;
  double store_ms = Median(5, [&] { found = (*store)->Query(f)->size(); });
  std::string cmd = "grep -rhF " + id + " " + dir + "/logs > /dev/null";
  double grep_ms = Median(5, [&] {
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "grep failed\n");
  });
  std::printf("query request id %s: %zu lines\n", id.c_str(), found);
  std::printf("store (FTS5):          %8.2f ms (median of 5)\n", store_ms);
  std::printf("grep -F over the files: %8.2f ms (median of 5, files in the page cache)\n",
              grep_ms);
  return found == 2 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: gravity-bench-logs ingest|query [--lines N] [--instances K] [--dir D]\n");
    return 2;
  }
  std::string mode = argv[1];
  std::size_t lines = mode == "query" ? 10000000 : 2000000;
  int instances = 4;
  std::string dir;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--lines") lines = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--instances") instances = std::atoi(argv[i + 1]);
    if (a == "--dir") dir = argv[i + 1];
  }
  bool temp = dir.empty();
  if (temp) dir = MakeTempDir("gravity-bench-logs").value();
  int rc = mode == "query" ? Query(dir, lines, instances) : Ingest(dir, lines, instances);
  if (temp) (void)RemoveTree(dir);
  return rc;
}
