// The log store end to end: real `gravity _instance` wrappers writing (and rotating) their
// files, a real daemon ingesting them (killed with SIGKILL mid-stream), a real proxy's
// access log, and `gravity logs` / GET /v1/logs reading the store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/fs.h"
#include "logs/store.h"
#include "proxy/control_client.h"
#include "support/gravity_cli.h"
#include "support/support.h"

namespace gravity::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kWait = 120s;  // generous: the machine is shared
const std::string kRelease = "4f2a9c0d1e2b3a4f5e6d7c8b9a0f1e2d3c4b5a69";

class LogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = GitRepo::Init(dir_.Join("app"), "main");
    ASSERT_TRUE(repo.ok()) << repo.error();
    repo_ = std::make_unique<GitRepo>(std::move(*repo));
    ASSERT_TRUE(repo_->CommitFiles({{"README", "no gravity.yml: runs fail, logs stay\n"}},
                                   "first")
                    .ok());
    admin_port_ = FreePort();
  }
  void TearDown() override {
    for (auto& p : instances_) p->Kill();
    if (daemon_) daemon_->Kill();
  }
  void WriteStack(const std::string& extra = "") {
    dir_.Write("stack.yml", "state_dir: state\nadmin: { listen: 127.0.0.1:" +
                                std::to_string(admin_port_) + " }\n" + extra +
                                "apps:\n  site:\n    repo: " + repo_->path() +
                                "\n    poll_interval: 1h\n    environments:\n"
                                "      staging: { branch: main }\n");
  }
  void StartDaemon() {
    SubprocessOptions o;
    o.argv = {GRAVITY_BIN, "daemon", "-f", dir_.Join("stack.yml"), "--log-file", "-"};
    o.output_path = dir_.Join("daemon-" + std::to_string(++daemon_starts_) + ".out");
    auto p = Subprocess::Start(o);
    ASSERT_TRUE(p.ok()) << p.error();
    daemon_ = std::move(*p);
    ASSERT_TRUE(daemon_->WaitForOutput("API on", kWait)) << daemon_->Output();
  }
  std::string LogPath(const std::string& instance) {
    return dir_.Join("state/logs/site/staging/" + kRelease + "/" + instance + ".log");
  }
  // A wrapper around /bin/sh -c `script`, as the launcher runs an instance (no sandbox).
  void StartInstance(const std::string& instance, const std::string& script,
                     const std::string& max_bytes = "") {
    std::filesystem::create_directories(std::filesystem::path(LogPath(instance)).parent_path());
    SubprocessOptions o;
    o.argv = {GRAVITY_BIN, "_instance", "--log", LogPath(instance)};
    if (!max_bytes.empty()) {
      o.argv.push_back("--log-max-bytes");
      o.argv.push_back(max_bytes);
    }
    for (const char* a : {"--", "/bin/sh", "-c"}) o.argv.push_back(a);
    o.argv.push_back(script);
    o.output_path = dir_.Join(instance + ".wrapper.out");
    auto p = Subprocess::Start(o);
    ASSERT_TRUE(p.ok()) << p.error();
    instances_.push_back(std::move(*p));
  }
  // Bursts of numbered lines: "<tag> <n>" for n in 1..bursts*per_burst.
  static std::string Counter(const std::string& tag, int bursts, int per_burst) {
    return "n=0; b=0; while [ $b -lt " + std::to_string(bursts) +
           " ]; do i=0; while [ $i -lt " + std::to_string(per_burst) +
           " ]; do n=$((n+1)); echo \"" + tag +
           " $n\"; i=$((i+1)); done; b=$((b+1)); sleep 0.05; done";
  }
  void WaitInstancesDone() {
    for (auto& p : instances_) ASSERT_TRUE(p->Wait(kWait)) << "instance still running";
  }
  CliResult Logs(std::vector<std::string> args) {
    args.insert(args.begin(), {"logs", "site", "--file", dir_.Join("stack.yml")});
    return Gravity(args, dir_.path(), kWait);
  }
  // Lines of GET /v1/logs (the daemon's store only). A query of 100,000 lines and more
  // takes seconds under a sanitizer while the daemon still ingests: give it `timeout`.
  json ApiLogs(const std::string& query, std::chrono::milliseconds timeout = 10s) {
    auto r = HttpGet(admin_port_, "/v1/logs?app=site&" + query, "127.0.0.1", timeout);
    if (!r.ok() || r->status != 200) return json::object();
    return json::parse(r->body, nullptr, false);
  }
  // Checks that `texts` (in output order) hold "<tag> 1".."<tag> n" exactly once each and in
  // order, for every tag.
  static void ExpectEveryLineOnce(const std::vector<std::string>& texts,
                                  const std::map<std::string, int>& expected) {
    std::map<std::string, int> last;
    for (const auto& t : texts) {
      std::istringstream in(t);
      std::string tag;
      int n = 0;
      if (!(in >> tag >> n) || !expected.count(tag)) continue;
      ASSERT_EQ(n, last[tag] + 1) << tag << ": after " << last[tag] << " came " << n;
      last[tag] = n;
    }
    for (const auto& [tag, n] : expected) EXPECT_EQ(last[tag], n) << tag;
  }

  TempDir dir_{"logs-test"};
  std::unique_ptr<GitRepo> repo_;
  int admin_port_ = 0;
  int daemon_starts_ = 0;
  std::unique_ptr<Subprocess> daemon_;
  std::vector<std::unique_ptr<Subprocess>> instances_;
};

TEST_F(LogsTest, TwoInstancesUnderLoadEveryLineOnceTimeOrderedWithInstanceAndRelease) {
  WriteStack();
  StartDaemon();
  // 40000 lines each (about 2 MiB), rotated at 1 MiB while the daemon ingests.
  StartInstance("site-staging-1", Counter("one", 40, 1000), "1048576");
  StartInstance("site-staging-2", Counter("two", 40, 1000), "1048576");
  WaitInstancesDone();
  EXPECT_TRUE(std::filesystem::exists(LogPath("site-staging-1") + ".1")) << "no rotation";
  auto r = Logs({});
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 2000);
  std::vector<std::string> texts;
  std::string prev_time;
  std::istringstream in(r.output);
  std::string line;
  int prefixed = 0;
  while (std::getline(in, line)) {
    // site-staging-1@4f2a9c0 | 2026-...Z out one 17
    std::size_t bar = line.find(" | ");
    if (bar == std::string::npos) continue;
    std::string prefix = line.substr(0, bar);
    std::string time = line.substr(bar + 3, 24);
    ASSERT_GE(time, prev_time) << "not time-ordered at: " << line;
    prev_time = time;
    std::string rest = line.substr(bar + 3 + 25);
    if (rest.rfind("out ", 0) != 0) continue;
    std::string text = rest.substr(4);
    if (text.rfind("one ", 0) == 0) {
      EXPECT_EQ(prefix, "site-staging-1@4f2a9c0");
      ++prefixed;
    }
    if (text.rfind("two ", 0) == 0) {
      EXPECT_EQ(prefix, "site-staging-2@4f2a9c0");
    }
    texts.push_back(text);
  }
  EXPECT_EQ(prefixed, 40000);
  ExpectEveryLineOnce(texts, {{"one", 40000}, {"two", 40000}});
  // The API sees the same lines (the daemon ingested them; the CLI only caught up).
  json api = ApiLogs("instance=site-staging-2&n=100000&grep=two", 60s);
  ASSERT_TRUE(api.contains("lines")) << api.dump().substr(0, 500);
  EXPECT_EQ(api["lines"].size(), 40000u);
  EXPECT_EQ(api["lines"][0]["release"], kRelease);
}

TEST_F(LogsTest, DaemonKilledMidStreamLosesAndDoublesNothing) {
  WriteStack();
  StartDaemon();
  StartInstance("site-staging-1", Counter("one", 60, 1000), "1048576");
  StartInstance("site-staging-2", Counter("two", 60, 1000), "1048576");
  // SIGKILL the daemon three times while the instances write and it ingests.
  for (int k = 0; k < 3; ++k) {
    std::size_t before = 0;
    ASSERT_TRUE(WaitFor(
        [&] {
          json j = ApiLogs("n=1&source=app");
          before = j.contains("lines") ? j["lines"].size() : 0;
          return before > 0;
        },
        kWait));
    daemon_->Signal(SIGKILL);
    ASSERT_TRUE(daemon_->Wait(30s));
    StartDaemon();
  }
  WaitInstancesDone();
  std::vector<std::string> texts;
  ASSERT_TRUE(WaitFor(
      [&] {
        json all = ApiLogs("n=1000000&source=app", 60s);
        texts.clear();
        if (!all.contains("lines")) return false;
        for (const auto& l : all["lines"]) {
          std::string t = l["text"];
          if (t.rfind("one ", 0) == 0 || t.rfind("two ", 0) == 0) texts.push_back(t);
        }
        return texts.size() >= 120000u;
      },
      kWait))
      << texts.size() << " lines\n" << daemon_->Output().substr(0, 3000);
  EXPECT_EQ(texts.size(), 120000u);
  ExpectEveryLineOnce(texts, {{"one", 60000}, {"two", 60000}});
}

TEST_F(LogsTest, RequestIdFindsTheProxyLineAndTheAppLine) {
  WriteStack();
  int proxy_port = FreePort();
  SubprocessOptions po;
  po.argv = {GRAVITY_BIN,   "proxy", "run", "--listen", "127.0.0.1:" + std::to_string(proxy_port),
             "--state-dir", dir_.Join("state/proxy"), "--control", dir_.Join("state/proxy.sock"),
             "--access-log", dir_.Join("state/access.log")};
  po.output_path = dir_.Join("proxy.out");
  auto proxy = Subprocess::Start(po);
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(WaitFor([&] { return PortOpen(proxy_port); }, kWait)) << (*proxy)->Output();
  std::string port_file = dir_.Join("app.port");
  StartInstance("site-staging-1", std::string(GRAVITY_TESTAPP_BIN) +
                                      " --port 0 --name a1 --log-requests --port-file " +
                                      port_file);
  std::string port;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto c = ReadFile(port_file);
        if (c.ok() && !c->empty() && c->back() == '\n') port = c->substr(0, c->size() - 1);
        return !port.empty();
      },
      kWait));
  proxy::DeployRequest d;
  d.service = "site.staging";
  d.targets = {"127.0.0.1:" + port};
  d.health.interval = 50ms;
  d.health.healthy_threshold = 1;
  d.deploy_timeout = 30s;
  auto res = proxy::ControlClient(dir_.Join("state/proxy.sock"), 60s).Deploy(d);
  ASSERT_TRUE(res.ok()) << res.error();
  ASSERT_TRUE(res->ok) << res->error;
  const std::string id = "9f86d081884c7d659a2feaa0c55ad015";
  HttpClient c("127.0.0.1", proxy_port);
  HttpRequest req;
  req.target = "/wanted";
  req.headers = {{"X-Request-Id", id}};
  auto r = c.Send(req);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->status, 200);
  ASSERT_TRUE(c.Get("/other").ok());  // another request: not in the answer
  // The proxy writes its access log within its sweep; the app at once.
  CliResult out;
  ASSERT_TRUE(WaitFor(
      [&] {
        out = Logs({"--request", id});
        return out.output.find("proxy@") != std::string::npos &&
               out.output.find("site-staging-1@") != std::string::npos;
      },
      kWait))
      << out.output;
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_THAT(out.output, ::testing::HasSubstr("GET /wanted 200 request_id=" + id));
  EXPECT_THAT(out.output, ::testing::HasSubstr("\"request_id\":\"" + id + "\""));
  EXPECT_THAT(out.output, ::testing::Not(::testing::HasSubstr("/other")));
  auto json_out = Logs({"--request", id, "--json", "--source", "proxy"});
  ASSERT_EQ(json_out.exit_code, 0) << json_out.output;
  json j = json::parse(json_out.output.substr(0, json_out.output.find('\n')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json_out.output;
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["path"], "/wanted");
  EXPECT_EQ(j["env"], "staging");
  (*proxy)->Stop(10s);
}

TEST_F(LogsTest, HostileOutputIsStoredCleanedAndAFloodIsTakenWhole) {
  WriteStack();
  StartInstance("site-staging-1",
                "head -c 1048576 /dev/zero | tr '\\000' a; echo; printf 'x\\377\\376y\\n';"
                " printf 'a\\000b\\n'; printf '\\033[31mred\\033[0m\\n'; seq 1 1000000",
                // No daemon ingests meanwhile: the file must hold the whole flood (33 MB).
                "67108864");
  WaitInstancesDone();
  auto r = Logs({"-n", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("out 999999\n"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("out 1000000\n"));
  auto store = logs::LogStore::Open(dir_.Join("state/logs.db"));
  ASSERT_TRUE(store.ok()) << store.error();
  auto usage = (*store)->Usage("site");
  // 1e6 numbers, the 1 MiB line in 16 KiB pieces (64, then the empty rest before its
  // newline), 3 odd lines, the wrapper's 2 notes.
  // (Whether the wrapper's read ends right at the 64th piece decides on that empty line.)
  EXPECT_GE(usage->lines, 1000000 + 64 + 3 + 2);
  EXPECT_LE(usage->lines, 1000000 + 65 + 3 + 2);
  logs::Filter f;
  f.app = "site";
  f.contains = "red";
  auto red = (*store)->Query(f);
  ASSERT_EQ(red->size(), 1u);
  EXPECT_EQ((*red)[0].text, "\x1b[31mred\x1b[0m");
  auto shown = Logs({"--grep", "red"});
  EXPECT_THAT(shown.output, ::testing::HasSubstr("\\x1b[31mred\\x1b[0m"));  // escaped
  f.contains = "y";
  f.limit = 0;
  auto bad = (*store)->Query(f);
  ASSERT_GE(bad->size(), 1u);
  EXPECT_EQ((*bad)[0].text, "x\xef\xbf\xbd\xef\xbf\xbdy");
  f.contains = "a\xef\xbf\xbd" "b";
  EXPECT_EQ((*store)->Query(f)->size(), 1u);
}

TEST_F(LogsTest, RetentionPastTheSizeCapKeepsTheNewestAndSaysHowManyWent) {
  WriteStack("logs: { retention: { max_bytes: 1MiB } }\n");
  StartDaemon();
  StartInstance("site-staging-1", Counter("one", 30, 1000));  // about 3 MiB in the store
  WaitInstancesDone();
  json last;
  ASSERT_TRUE(WaitFor(
      [&] {
        last = ApiLogs("n=1&grep=one");
        return last.contains("lines") && last["lines"].size() == 1 &&
               last["lines"][0]["text"] == "one 30000" && last["dropped_lines"] > 0;
      },
      kWait))
      << last.dump();
  auto r = Logs({});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, ::testing::HasSubstr("out one 30000\n"));
  EXPECT_THAT(r.output, ::testing::Not(::testing::HasSubstr("out one 1\n")));
  EXPECT_THAT(r.output, ::testing::HasSubstr("older lines of site were dropped by retention"));
  auto store = logs::LogStore::Open(dir_.Join("state/logs.db"));
  ASSERT_TRUE(store.ok());
  // Retention runs after a tenth of the cap came in: between passes the app may be over
  // by that much.
  EXPECT_LE((*store)->Usage("site")->bytes, (1 << 20) + (1 << 20) / 10);
}

TEST_F(LogsTest, RsyslogDownThenUpReceivesExactlyTheLinesWithTheirStructuredData) {
  if (::access("/usr/sbin/rsyslogd", X_OK) != 0) GTEST_SKIP() << "rsyslog is not installed";
  int syslog_port = FreePort();
  WriteStack("logs:\n  forward:\n    - syslog: tcp://127.0.0.1:" + std::to_string(syslog_port) +
             "\n");
  StartDaemon();
  // The lines are stored while nothing listens on the syslog port: they wait in the queue.
  StartInstance("site-staging-1",
                "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo \"fwd $i\"; done;"
                " echo 'bad \"quote\" ] end' >&2");
  WaitInstancesDone();
  ASSERT_TRUE(WaitFor(
      [&] {
        json j = ApiLogs("n=1&grep=end");
        return j.contains("lines") && j["lines"].size() == 1;
      },
      kWait));
  std::string conf = "global(workDirectory=\"" + dir_.path() +
                     "\")\nmodule(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" "
                     "port=\"" + std::to_string(syslog_port) +
                     "\")\ntemplate(name=\"t\" type=\"string\" string=\"%app-name%|%msgid%|"
                     "%structured-data%|%msg%\\n\")\n*.* action(type=\"omfile\" file=\"" +
                     dir_.Join("syslog.out") + "\" template=\"t\")\n";
  dir_.Write("rsyslog.conf", conf);
  SubprocessOptions o;
  o.argv = {"/usr/sbin/rsyslogd", "-n", "-f", dir_.Join("rsyslog.conf"), "-i",
            dir_.Join("rsyslog.pid")};
  o.output_path = dir_.Join("rsyslogd.out");
  auto rs = Subprocess::Start(o);
  ASSERT_TRUE(rs.ok()) << rs.error();
  std::vector<std::string> app_lines;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto out = ReadFile(dir_.Join("syslog.out"));
        app_lines.clear();
        if (!out.ok()) return false;
        std::istringstream in(*out);
        std::string l;
        while (std::getline(in, l)) {
          if (l.rfind("site|app|", 0) == 0) app_lines.push_back(l);
        }
        return app_lines.size() >= 303;  // 300 + the stderr line + the wrapper's 2 notes
      },
      kWait))
      << app_lines.size() << " lines\n" << (*rs)->Output();
  EXPECT_EQ(app_lines.size(), 303u);
  int fwd = 0;
  for (const auto& l : app_lines) {
    if (l.find("|fwd ") == std::string::npos) continue;
    ++fwd;
    EXPECT_EQ(l, "site|app|[gravity@32473 env=\"staging\" release=\"" + kRelease +
                     "\" instance=\"site-staging-1\" stream=\"stdout\"]|fwd " +
                     std::to_string(fwd));
  }
  EXPECT_EQ(fwd, 300);
  EXPECT_THAT(app_lines, ::testing::Contains(
                             "site|app|[gravity@32473 env=\"staging\" release=\"" + kRelease +
                             "\" instance=\"site-staging-1\" stream=\"stderr\"]|bad \"quote\" ] end"));
  (*rs)->Stop(5s);
}

TEST_F(LogsTest, BadArgumentsSayWhatIsWrong) {
  WriteStack();
  auto r = Logs({"--since", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, ::testing::HasSubstr("since 'yesterday': expected a duration"));
  r = Logs({"--source", "kernel"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, ::testing::HasSubstr("source 'kernel'"));
  r = Logs({"--grep", "(unclosed"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, ::testing::HasSubstr("not a regular expression"));
  r = Logs({"--field", "=x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, ::testing::HasSubstr("expected NAME=VALUE"));
}

}  // namespace
}  // namespace gravity::test
