// HTTP/2 on the HTTPS listener of a real `gravity proxy run`: multiplexed requests from
// curl and nghttp reach the right targets, request bodies, the canary split, a red/black
// swap under h2load, and hostile clients (hand-built frames over TLS) that are refused
// with GOAWAY or RST_STREAM, or cut off, while a normal client is served.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

#include <fstream>
#include <nlohmann/json.hpp>
#include <cctype>
#include <thread>

#include "proxy/proxy_fixture.h"
#include "support/h2_raw_client.h"
#include "support/tls_certs.h"

namespace gravity::test {
namespace {

using nlohmann::json;

constexpr const char* kHost = "h2.test";

class H2Test : public ProxyTest {
 protected:
  void SetUp() override {
    certs_ = std::make_unique<CertFactory>(dir_.path());
    https_port_ = FreePort();
  }
  void StartH2(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--https-listen", "127.0.0.1:" + std::to_string(https_port_),
                                     "--header-timeout", "1s"};
    args.insert(args.end(), extra.begin(), extra.end());
    StartProxy(args);
    ASSERT_TRUE(WaitFor([&] { return PortOpen(https_port_); }, seconds(10)));
    TestCert c = certs_->Issue({kHost}, "h2");
    // The default certificate too: nghttp and h2load connect by address (no SNI).
    Status st = proxy_->client().PutCertificate(kHost, c.chain_pem, c.key_pem, "file", true);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  // Deploys `apps` as the service "site" for kHost and the default route.
  void DeployApps(const std::vector<std::unique_ptr<TestApp>>& apps) {
    DeployRequest r = Request(apps);
    r.hosts = {kHost, "*"};
    Deploy(r);
  }
  std::string Url(const std::string& path = "/") const {
    return std::string("https://") + kHost + ":" + std::to_string(https_port_) + path;
  }
  // curl over HTTP/2 (prior knowledge is not needed: ALPN), verifying against the test CA.
  CommandResult Curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl", "-sS", "--http2", "--cacert", certs_->ca_file(),
                                     "--resolve",
                                     std::string(kHost) + ":" + std::to_string(https_port_) +
                                         ":127.0.0.1"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, "", {}, seconds(60));
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? *r : CommandResult{};
  }
  bool NormalClientServed() {
    CommandResult r = Curl({"-o", "/dev/null", "-w", "%{http_version} %{http_code}", Url()});
    return r.out == "2 200";
  }
  std::unique_ptr<RawH2Client> Raw() {
    auto c = std::make_unique<RawH2Client>(https_port_, kHost, certs_->ca_file());
    Status st = c->Connect();
    EXPECT_TRUE(st.ok()) << st.message();
    return c;
  }
  static std::string StatusOf(RawH2Client& c, const H2Frame& f) {
    for (const auto& [n, v] : c.DecodeHeaders(f)) {
      if (n == ":status") return v;
    }
    return "";
  }

  std::unique_ptr<CertFactory> certs_;
  int https_port_ = 0;
};

// The number just before `word` in h2load's summary ("20000 succeeded, 0 failed, ...").
std::string CountBefore(const std::string& s, const std::string& word) {
  const auto end = s.find(word);
  if (end == std::string::npos) return "";
  auto begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(s[begin - 1]))) --begin;
  return s.substr(begin, end - begin);
}

int Count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (auto p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

TEST_F(H2Test, AlpnPrefersH2AndKeepsHttp11ForClientsWithoutIt) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("app"));
  DeployApps(apps);
  HttpClient both("127.0.0.1", https_port_, seconds(10));
  both.UseTls({kHost, certs_->ca_file(), {"http/1.1", "h2"}});
  ASSERT_TRUE(both.Connect().ok());
  EXPECT_EQ(both.tls_info().alpn, "h2");  // the server's preference, whatever the order
  HttpClient h1("127.0.0.1", https_port_, seconds(10));
  h1.UseTls({kHost, certs_->ca_file(), {"http/1.1"}});
  auto r = h1.Get("/", kHost);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(h1.tls_info().alpn, "http/1.1");
  EXPECT_EQ(Curl({"--http1.1", "-o", "/dev/null", "-w", "%{http_version}", Url()}).out, "1.1");
}

TEST_F(H2Test, CurlMultiplexesRequestsOnOneConnectionAcrossTargets) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("one"));
  apps.push_back(StartApp("two"));
  DeployApps(apps);
  const std::string headers = dir_.Join("headers.txt");
  std::vector<std::string> args = {"-D", headers, "-w", "%{http_version} %{num_connects}\\n"};
  for (int i = 0; i < 6; ++i) {
    args.push_back("-o");
    args.push_back("/dev/null");
    args.push_back(Url("/n" + std::to_string(i)));
  }
  CommandResult r = Curl(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // HTTP/2 every time, and one connection: only the first transfer connected.
  EXPECT_EQ(r.out, "2 1\n2 0\n2 0\n2 0\n2 0\n2 0\n");
  std::ifstream in(headers);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(Count(all, "HTTP/2 200"), 6) << all;
  EXPECT_EQ(Count(all, "x-instance: one"), 3) << all;
  EXPECT_EQ(Count(all, "x-instance: two"), 3) << all;
  EXPECT_EQ(Count(all, "x-request-id: "), 0) << "the proxy adds it upstream only";
}

TEST_F(H2Test, NghttpStreamsReachTheTargetWithForwardedHeaders) {
  StartH2({"--access-log", dir_.Join("access.log")});
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("solo"));
  DeployApps(apps);
  const std::string base = "https://127.0.0.1:" + std::to_string(https_port_);
  auto r = RunCommand({"nghttp", "-n", "-v", "-H", std::string(":authority: ") + kHost,
                       base + "/a", base + "/echo", base + "/c"},
                      "", {}, seconds(30));
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
  EXPECT_NE(r->out.find("(stream_id=13) x-instance: solo"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("(stream_id=17) :status: 200"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("send GOAWAY frame"), std::string::npos) << r->out;

  CommandResult echo = Curl({Url("/echo")});
  auto doc = json::parse(echo.out);
  const json& h = doc["headers"]["map"];
  EXPECT_EQ(h.value("x-forwarded-proto", ""), "https") << echo.out;
  EXPECT_EQ(h.value("x-forwarded-for", ""), "127.0.0.1") << echo.out;
  EXPECT_EQ(h.value("host", ""), std::string(kHost) + ":" + std::to_string(https_port_));
  EXPECT_FALSE(h.value("x-request-id", "").empty()) << echo.out;
  // Streams are logged like HTTP/1.1 requests, with their protocol.
  const std::string log = dir_.Join("access.log");
  ASSERT_TRUE(WaitFor([&] {
    std::ifstream in(log);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Count(all, "\"protocol\":\"h2\"") >= 4;
  }, seconds(10)));
}

TEST_F(H2Test, PostBodiesAreEchoedAndTheLimitHolds) {
  StartH2({"--max-body-bytes", "1000000"});
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("echo"));
  DeployApps(apps);
  // Larger than the stream's 64 KiB window: the proxy must give the window back.
  std::string body(300000, 'b');
  for (std::size_t i = 0; i < body.size(); i += 1000) body[i] = static_cast<char>('a' + i % 26);
  const std::string file = dir_.Join("body.bin");
  std::ofstream(file) << body;
  CommandResult r = Curl({"--data-binary", "@" + file, Url("/echo")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = json::parse(r.out);
  EXPECT_EQ(doc.value("method", ""), "POST");
  EXPECT_EQ(doc.value("body", ""), body);
  // Without a length (curl streams stdin): chunked to the target.
  auto piped = RunCommand({"sh", "-c",
                           "head -c 200000 /dev/zero | tr '\\0' z | curl -sS --http2 --cacert " +
                               certs_->ca_file() + " --resolve " + kHost + ":" +
                               std::to_string(https_port_) + ":127.0.0.1 -T - " + Url("/echo")},
                          "", {}, seconds(30));
  ASSERT_TRUE(piped.ok());
  auto pdoc = json::parse(piped->out);
  EXPECT_EQ(pdoc.value("body", "").size(), 200000u) << piped->err;
  // Over the limit: 413, and the connection still serves.
  std::string big(1500000, 'x');
  std::ofstream(file) << big;
  r = Curl({"-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + file, Url("/echo")});
  EXPECT_EQ(r.out, "413") << r.err;
  EXPECT_TRUE(NormalClientServed());
}

TEST_F(H2Test, CanarySplitStaysStickyByCookie) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> stable, canary;
  stable.push_back(StartApp("stable"));
  canary.push_back(StartApp("canary"));
  DeployApps(stable);
  proxy::CanaryRequest cr;
  cr.pool.targets = {canary[0]->address()};
  cr.weight = 30;
  cr.pool.health = FastHealth();
  auto res = proxy_->client().DeployCanary("site", cr);
  ASSERT_TRUE(res.ok()) << res.error();
  ASSERT_TRUE(res->ok) << res->error;
  auto instance = [&](const std::string& cookie) {
    std::vector<std::string> args = {"-o", "/dev/null", "-w", "%header{x-instance}"};
    if (!cookie.empty()) args.insert(args.end(), {"-H", "cookie: " + cookie});
    args.push_back(Url());
    return Curl(args).out;
  };
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(instance("a=b; gravity_bucket=10"), "canary");
    EXPECT_EQ(instance("gravity_bucket=90"), "stable");
  }
  CommandResult first = Curl({"-o", "/dev/null", "-w", "%header{set-cookie}", Url()});
  EXPECT_EQ(first.out.rfind("gravity_bucket=", 0), 0u) << first.out;
}

TEST_F(H2Test, RedBlackSwapUnderH2LoadDropsNothing) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> blue, green;
  blue.push_back(StartApp("blue"));
  blue.push_back(StartApp("blue"));
  green.push_back(StartApp("green"));
  green.push_back(StartApp("green"));
  DeployApps(blue);
  Result<CommandResult> load = gravity::Status::Error("not run");
  std::thread t([&] {
    load = RunCommand({"h2load", "-n", "20000", "-c", "2", "-m", "10",
                       "https://127.0.0.1:" + std::to_string(https_port_) + "/"},
                      "", {}, seconds(120));
  });
  // Swap while the load runs: wait until some requests went to blue.
  ASSERT_TRUE(WaitFor([&] { return NormalClientServed(); }, seconds(10)));
  DeployApps(green);
  t.join();
  ASSERT_TRUE(load.ok()) << load.error();
  const std::string& out = load->out;
  EXPECT_EQ(CountBefore(out, " succeeded,"), "20000") << out;
  EXPECT_EQ(CountBefore(out, " failed,"), "0") << out;
  EXPECT_EQ(CountBefore(out, " errored,"), "0") << out;
  EXPECT_NE(out.find("20000 2xx"), std::string::npos) << out;
  EXPECT_EQ(Curl({"-o", "/dev/null", "-w", "%header{x-instance}", Url()}).out, "green");
}

TEST_F(H2Test, RefusedConnectionsFailOverToAnotherTarget) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("gone"));
  apps.push_back(StartApp("alive"));
  DeployApps(apps);
  apps[0].reset();  // killed: its port refuses before the health checker notices
  std::vector<std::string> args = {"-w", "%{http_code} "};
  for (int i = 0; i < 8; ++i) args.insert(args.end(), {"-o", "/dev/null", Url()});
  CommandResult r = Curl(args);
  EXPECT_EQ(r.out, "200 200 200 200 200 200 200 200 ") << r.err;
}

TEST_F(H2Test, ShutdownSendsGoAwayAndFinishesStreamsInFlight) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("app"));
  DeployApps(apps);
  auto c = Raw();
  ASSERT_TRUE(c->Send(h2::Preface() +
                      h2::Frame(h2::kHeaders, h2::kEndHeaders | h2::kEndStream, 1,
                                h2::RequestBlock(kHost, "/stream?chunks=4&ms=250")))
                  .ok());
  auto head = c->Read([](const H2Frame& f) { return f.type == h2::kHeaders && f.stream == 1; },
                      seconds(10));
  ASSERT_TRUE(head.stopped);
  proxy_->process().Signal(SIGTERM);
  bool goaway = false;
  std::string body;
  auto r = c->Read([&](const H2Frame& f) {
    goaway = goaway || f.type == h2::kGoAway;
    if (f.type == h2::kData && f.stream == 1) body += f.payload;
    return f.type == h2::kData && f.stream == 1 && (f.flags & h2::kEndStream);
  }, seconds(10));
  EXPECT_TRUE(goaway);
  EXPECT_TRUE(r.stopped) << "the stream in flight was cut: " << body;
  EXPECT_EQ(Count(body, "\n"), 4) << body;
  auto status = proxy_->process().Wait(seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

// ---- hostile clients ---------------------------------------------------------------------

TEST_F(H2Test, RapidResetIsAnsweredWithGoAway) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("app"));
  DeployApps(apps);
  auto c = Raw();
  std::string burst = h2::Preface();
  for (std::uint32_t id = 1; id < 2 * 3000; id += 2) {
    burst += h2::Frame(h2::kHeaders, h2::kEndHeaders | h2::kEndStream, id,
                       h2::RequestBlock(kHost, "/"));
    burst += h2::RstStream(id, 8);  // CANCEL
  }
  (void)c->Send(burst);  // may fail once the proxy has had enough
  EXPECT_TRUE(NormalClientServed());
  auto r = c->Read([](const H2Frame& f) { return f.type == h2::kGoAway; }, seconds(10));
  EXPECT_TRUE(r.stopped || r.closed);
  if (r.stopped) {
    EXPECT_NE(h2::ErrorCode(r.frames.back()), 0u) << "GOAWAY with an error code";
  }
  EXPECT_TRUE(NormalClientServed());
}

TEST_F(H2Test, ContinuationFloodIsCutOff) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("app"));
  DeployApps(apps);
  auto c = Raw();
  std::string flood = h2::Preface() + h2::Frame(h2::kHeaders, 0, 1, h2::RequestBlock(kHost, "/"));
  const std::string block("\x00\x01z\x01y", 5);  // one small literal field
  for (int i = 0; i < 10000; ++i) flood += h2::Frame(h2::kContinuation, 0, 1, block);
  (void)c->Send(flood);
  auto r = c->Read([](const H2Frame& f) { return f.type == h2::kGoAway; }, seconds(10));
  EXPECT_TRUE(r.stopped || r.closed);
  EXPECT_TRUE(NormalClientServed());
}

TEST_F(H2Test, SettingsFloodFromAClientThatDoesNotReadIsCutOff) {
  StartH2({"--body-timeout", "2s"});
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("app"));
  DeployApps(apps);
  auto c = Raw();
  ASSERT_TRUE(c->Send(h2::Preface()).ok());
  const std::string settings = h2::Settings({{0x3, 100}});
  std::string batch;
  for (int i = 0; i < 1000; ++i) batch += settings;
  const auto start = std::chrono::steady_clock::now();
  bool refused = false;
  // Each SETTINGS needs an ACK the client never reads: the proxy stops queueing them.
  for (int i = 0; i < 2000 && !refused; ++i) refused = !c->Send(batch).ok();
  EXPECT_TRUE(NormalClientServed());
  auto r = c->Read([](const H2Frame& f) { return f.type == h2::kGoAway; }, seconds(10));
  EXPECT_TRUE(refused || r.stopped || r.closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(30));
}

TEST_F(H2Test, HugeHeaderListsAndHpackBombsGet431) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("app"));
  DeployApps(apps);
  // A normal client with 20 KB of fields: 431, like HTTP/1.1.
  CommandResult big = Curl({"-o", "/dev/null", "-w", "%{http_code}", "-H",
                            "x-big: " + std::string(20000, 'v'), Url()});
  EXPECT_EQ(big.out, "431") << big.err;
  // An HPACK bomb: one 4 KB field in the dynamic table, referenced 2000 times (8 MB once
  // decoded, from a 6 KB block).
  auto c = Raw();
  std::string block = h2::RequestBlock(kHost, "/");
  block += std::string("\x40\x03x-b", 4);  // literal with incremental indexing, new name
  block += std::string("\x7f\xa1\x1e", 3) + std::string(4000, 'q');  // 127 + 33 + 30*128
  block += std::string(2000, '\xbe');  // indexed: dynamic entry 62
  std::string frames = h2::Preface();
  frames += h2::Frame(h2::kHeaders, h2::kEndHeaders | h2::kEndStream, 1, block);
  ASSERT_TRUE(c->Send(frames).ok());
  auto r = c->Read([](const H2Frame& f) {
    return (f.type == h2::kHeaders && f.stream == 1) || f.type == h2::kRstStream ||
           f.type == h2::kGoAway;
  }, seconds(10));
  ASSERT_TRUE(r.stopped) << "closed=" << r.closed;
  if (r.frames.back().type == h2::kHeaders) {
    EXPECT_EQ(StatusOf(*c, r.frames.back()), "431");
  }
  EXPECT_TRUE(NormalClientServed());
}

TEST_F(H2Test, StreamsBeyondOneHundredAreRefused) {
  StartH2();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("app"));
  DeployApps(apps);
  auto c = Raw();
  std::string frames = h2::Preface();
  // Slow responses keep the first streams open while the rest arrive.
  for (std::uint32_t id = 1; id < 2 * 1000; id += 2) {
    frames += h2::Frame(h2::kHeaders, h2::kEndHeaders | h2::kEndStream, id,
                        h2::RequestBlock(kHost, "/stream?chunks=2&ms=500"));
  }
  ASSERT_TRUE(c->Send(frames).ok());
  int refused = 0;
  auto r = c->Read([&](const H2Frame& f) {
    if (f.type == h2::kRstStream && h2::ErrorCode(f) == 7) ++refused;  // REFUSED_STREAM
    return refused >= 900 || f.type == h2::kGoAway;
  }, seconds(20));
  EXPECT_GE(refused, 900);
  EXPECT_TRUE(NormalClientServed());
}

TEST_F(H2Test, ZeroWindowClientIsResetAfterTheBodyTimeout) {
  StartH2({"--body-timeout", "1s", "--idle-timeout", "2s"});
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("app"));
  DeployApps(apps);
  auto c = Raw();
  std::string frames = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                       h2::Settings({{0x4, 0}});  // INITIAL_WINDOW_SIZE 0: nothing may come
  frames += h2::Frame(h2::kHeaders, h2::kEndHeaders | h2::kEndStream, 1,
                      h2::RequestBlock(kHost, "/bytes?n=200000"));
  ASSERT_TRUE(c->Send(frames).ok());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(NormalClientServed());
  auto r = c->Read([](const H2Frame& f) { return f.type == h2::kRstStream && f.stream == 1; },
                   seconds(10));
  ASSERT_TRUE(r.stopped) << "closed=" << r.closed;
  EXPECT_EQ(h2::ErrorCode(r.frames.back()), 8u);  // CANCEL
  // Then the idle connection is closed too.
  auto rest = c->Read({}, seconds(10));
  EXPECT_TRUE(rest.closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
}

}  // namespace
}  // namespace gravity::test
