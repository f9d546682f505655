// The HTTPS listener of a real `gravity proxy run`: certificates by SNI (exact, wildcard,
// default, refused), ECDSA and RSA, replacement under load, resumption, redirects, ACME
// challenges, persistence across restarts and takeovers, and hostile TLS input.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "proxy/tls.h"
#include "support/tls_certs.h"
#include "proxy/proxy_fixture.h"

namespace gravity::test {
namespace {

using nlohmann::json;

class TlsTest : public ProxyTest {
 protected:
  void SetUp() override {
    certs_ = std::make_unique<CertFactory>(dir_.path());
    https_port_ = FreePort();
  }
  void StartTls(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--https-listen", "127.0.0.1:" + std::to_string(https_port_),
                                     "--header-timeout", "1s"};
    args.insert(args.end(), extra.begin(), extra.end());
    StartProxy(args);
    ASSERT_TRUE(WaitFor([&] { return PortOpen(https_port_); }, seconds(10)));
  }
  void DeployApp(const std::string& name, std::vector<std::string> hosts) {
    apps_.push_back(StartApp(name, {"--log-requests"}));
    ASSERT_TRUE(apps_.back());
    DeployRequest r = Request({});
    r.service = name;
    r.targets = {apps_.back()->address()};
    r.hosts = std::move(hosts);
    Deploy(r);
  }
  void Put(const std::string& host, const TestCert& c, bool is_default = false) {
    Status st = proxy_->client().PutCertificate(host, c.chain_pem, c.key_pem, "file", is_default);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  // A client for `sni` verifying against the test CA.
  std::unique_ptr<HttpClient> Client(const std::string& sni, std::vector<std::string> alpn = {"http/1.1"}) {
    auto c = std::make_unique<HttpClient>("127.0.0.1", https_port_, seconds(10));
    TlsClientOptions o;
    o.sni = sni;
    o.ca_file = certs_->ca_file();
    o.alpn = std::move(alpn);
    c->UseTls(o);
    return c;
  }
  Result<HttpResponse> Get(HttpClient& c, const std::string& host, const std::string& target = "/") {
    return c.Get(target, host);
  }

  std::unique_ptr<CertFactory> certs_;
  int https_port_ = 0;
  std::vector<std::unique_ptr<TestApp>> apps_;
};

TEST_F(TlsTest, PicksTheCertificateBySniExactWildcardAndDefault) {
  StartTls();
  DeployApp("site", {"app.test", "www.app.test"});
  DeployApp("wild", {"*.wild.test"});
  TestCert ec = certs_->Issue({"app.test", "www.app.test"}, "app", KeyType::kEcdsaP256);
  TestCert rsa = certs_->Issue({"*.wild.test"}, "wild", KeyType::kRsa2048);
  Put("app.test", ec);
  Put("*.wild.test", rsa);

  auto a = Client("app.test");
  auto r = Get(*a, "app.test", "/echo");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(a->tls_info().subject_cn, "app.test");
  EXPECT_EQ(a->tls_info().alpn, "http/1.1");
  auto echo = json::parse(r->body);
  EXPECT_EQ(echo["headers"]["map"].value("x-forwarded-proto", ""), "https") << r->body;
  EXPECT_EQ(r->Instance(), apps_[0]->name());

  // A name the certificate carries (SAN) is served by it too.
  auto www = Client("www.app.test");
  ASSERT_TRUE(Get(*www, "www.app.test").ok());
  EXPECT_EQ(www->tls_info().subject_cn, "app.test");

  auto w = Client("x.wild.test");
  auto wr = Get(*w, "x.wild.test");
  ASSERT_TRUE(wr.ok()) << wr.error();
  EXPECT_EQ(w->tls_info().subject_cn, "*.wild.test");
  EXPECT_EQ(wr->Instance(), apps_[1]->name());

  // A wildcard covers one label; an unknown name with no default is refused.
  for (std::string name : {"a.b.wild.test", "wild.test", "other.test"}) {
    auto c = Client(name);
    auto res = Get(*c, name);
    ASSERT_FALSE(res.ok()) << name;
    EXPECT_NE(res.error().find("unrecognized name"), std::string::npos) << res.error();
  }
  // With a default certificate, unknown names and clients without SNI get it.
  Put("app.test", ec, /*is_default=*/true);
  auto other = Client("other.test");
  other->UseTls({"other.test", "", {"http/1.1"}});  // no verification: the name differs
  ASSERT_TRUE(Get(*other, "app.test").ok());
  EXPECT_EQ(other->tls_info().subject_cn, "app.test");
  auto nosni = Client("");
  nosni->UseTls({"", "", {"http/1.1"}});
  ASSERT_TRUE(Get(*nosni, "app.test").ok());
  EXPECT_EQ(nosni->tls_info().subject_cn, "app.test");

  auto listed = proxy_->client().Certificates();
  ASSERT_TRUE(listed.ok()) << listed.error();
  ASSERT_EQ((*listed)["certificates"].size(), 2u) << listed->dump();
  const json& first = (*listed)["certificates"][0];  // sorted by host: *.wild.test first
  EXPECT_EQ(first["host"], "*.wild.test");
  EXPECT_EQ(first["issuer"], "Gravity Test CA");
  EXPECT_GT(first["not_after"].get<std::int64_t>(), 0);
  EXPECT_EQ((*listed)["certificates"][1]["default"], true);
}

TEST_F(TlsTest, ResumesSessionsWithTickets) {
  StartTls();
  DeployApp("site", {"app.test"});
  Put("app.test", certs_->Issue({"app.test"}, "app"));
  auto c = Client("app.test");
  ASSERT_TRUE(Get(*c, "app.test").ok());
  EXPECT_FALSE(c->tls_info().resumed);
  EXPECT_EQ(c->tls_info().protocol, "TLSv1.3");
  c->Close();  // keeps the session (its ticket arrived with the first response)
  ASSERT_TRUE(Get(*c, "app.test").ok());
  EXPECT_TRUE(c->tls_info().resumed);
  // A certificate change keeps the ticket keys: resumption still works.
  Put("app.test", certs_->Issue({"app.test"}, "app2"));
  c->Close();
  ASSERT_TRUE(Get(*c, "app.test").ok());
  EXPECT_TRUE(c->tls_info().resumed) << proxy_->process().Output();
}

TEST_F(TlsTest, ReplacingACertificateDropsNoConnectionAndNoRequest) {
  StartTls({"--workers", "2"});  // handshakes on two threads read the store at once
  DeployApp("site", {"app.test"});
  TestCert first = certs_->Issue({"app.test"}, "first");
  Put("app.test", first);
  auto open = Client("app.test");
  ASSERT_TRUE(Get(*open, "app.test").ok());
  const std::string old_serial = open->tls_info().serial;

  LoadOptions lo;
  lo.port = https_port_;
  lo.host = "app.test";
  lo.connections = 4;
  lo.tls = TlsClientOptions{"app.test", certs_->ca_file(), {"http/1.1"}, false};
  LoadOptions fresh = lo;
  fresh.keep_alive = false;  // a full handshake for every request
  fresh.connections = 2;
  LoadGenerator keep(lo), handshakes(fresh);
  keep.Start();
  handshakes.Start();
  ASSERT_TRUE(WaitFor([&] { return handshakes.Stats().ok > 20; }, seconds(20)));
  for (int i = 0; i < 5; ++i) {
    Put("app.test", certs_->Issue({"app.test"}, "next" + std::to_string(i)));
    const long before = handshakes.Stats().ok;
    ASSERT_TRUE(WaitFor([&] { return handshakes.Stats().ok > before + 10; }, seconds(20)));
  }
  keep.Stop();
  handshakes.Stop();
  EXPECT_EQ(keep.Stats().failed, 0) << keep.Stats().Summary();
  EXPECT_EQ(handshakes.Stats().failed, 0) << handshakes.Stats().Summary();
  EXPECT_GT(keep.Stats().ok, 100);

  // The connection opened before the changes still works; a new one gets the new certificate.
  auto again = Get(*open, "app.test");
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(open->connections_opened(), 1);
  auto fresh_client = Client("app.test");
  ASSERT_TRUE(Get(*fresh_client, "app.test").ok());
  EXPECT_NE(fresh_client->tls_info().serial, old_serial);
}

TEST_F(TlsTest, TwentySwapsACertificateChangeAndARefusedDeployDropNothingOverHttps) {
  StartTls();
  Put("app.test", certs_->Issue({"app.test"}, "app"));
  std::vector<std::unique_ptr<TestApp>> blue, green;
  blue.push_back(StartApp("blue"));
  green.push_back(StartApp("green"));
  ASSERT_TRUE(blue[0] && green[0]);
  DeployRequest r = Request(blue);
  r.hosts = {"app.test"};
  r.drain_timeout = seconds(5);
  Deploy(r);

  LoadOptions lo;
  lo.port = https_port_;
  lo.host = "app.test";
  lo.connections = 3;
  lo.tls = TlsClientOptions{"app.test", certs_->ca_file(), {"http/1.1"}, true};
  LoadOptions fresh = lo;
  fresh.keep_alive = false;
  fresh.connections = 1;
  LoadGenerator keep(lo), handshakes(fresh);
  keep.Start();
  handshakes.Start();
  ASSERT_TRUE(WaitFor([&] { return handshakes.Stats().ok > 10; }, seconds(20)));
  for (int i = 0; i < 20; ++i) {
    DeployRequest next = Request(i % 2 == 0 ? green : blue);
    next.hosts = {"app.test"};
    next.drain_timeout = seconds(5);
    Deploy(next);
    if (i == 10) Put("app.test", certs_->Issue({"app.test"}, "swap"));
  }
  // A deploy to a target that is down is refused; live stays as it was.
  DeployRequest dead = Request({});
  dead.hosts = {"app.test"};
  dead.targets = {"127.0.0.1:" + std::to_string(FreePort())};
  dead.deploy_timeout = seconds(1);
  auto refused = proxy_->client().Deploy(dead);
  ASSERT_TRUE(refused.ok()) << refused.error();
  EXPECT_FALSE(refused->ok);
  const long seen = keep.Stats().ok;
  ASSERT_TRUE(WaitFor([&] { return keep.Stats().ok > seen + 50; }, seconds(20)));
  keep.Stop();
  handshakes.Stop();
  EXPECT_EQ(keep.Stats().failed, 0) << keep.Stats().Summary();
  EXPECT_EQ(handshakes.Stats().failed, 0) << handshakes.Stats().Summary();
  EXPECT_EQ(keep.Stats().InstanceSet(), (std::set<std::string>{"blue", "green"}));
}

TEST_F(TlsTest, RedirectsPlainHttpAndAnswersHttp01Challenges) {
  StartTls({"--redirect-http"});
  DeployApp("site", {"app.test", "plain.test"});
  Put("app.test", certs_->Issue({"app.test"}, "app"));

  HttpClient plain("127.0.0.1", port_);
  auto r = plain.Get("/a/b?q=1&r=2", "app.test:" + std::to_string(port_));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 308);
  EXPECT_EQ(r->HeaderOr("Location"),
            "https://app.test:" + std::to_string(https_port_) + "/a/b?q=1&r=2");
  // A host without a certificate is served over HTTP as before.
  auto p = plain.Get("/", "plain.test");
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->status, 200);
  EXPECT_EQ(p->Instance(), apps_[0]->name());

  // HTTP-01: the proxy answers its own challenges, even for a redirected host.
  const std::string token = "tok_EN-1234567890abcdef";
  ASSERT_TRUE(proxy_->client().PutHttpChallenge(token, token + ".thumb").ok());
  auto c = plain.Get("/.well-known/acme-challenge/" + token, "app.test");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->status, 200);
  EXPECT_EQ(c->body, token + ".thumb");
  ASSERT_TRUE(proxy_->client().RemoveHttpChallenge(token).ok());
  auto gone = plain.Get("/.well-known/acme-challenge/" + token, "plain.test");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->Instance(), apps_[0]->name());  // the app's own path again

  // Bad challenge input is refused by the control API.
  EXPECT_FALSE(proxy_->client().PutHttpChallenge("../etc", "../etc.x").ok());
  EXPECT_FALSE(proxy_->client().PutHttpChallenge(token, "not-the-token.x").ok());
}

TEST_F(TlsTest, AnswersTlsAlpn01OnlyToAcmeClients) {
  StartTls();
  DeployApp("site", {"app.test"});
  Put("app.test", certs_->Issue({"app.test"}, "app"));
  TestCert challenge = certs_->Issue({"app.test"}, "challenge");  // stands in for RFC 8737's
  ASSERT_TRUE(proxy_->client().PutAlpnChallenge("app.test", challenge.chain_pem, challenge.key_pem).ok());

  auto acme = Client("app.test", {"acme-tls/1"});
  Status hs = acme->Connect();
  ASSERT_TRUE(hs.ok()) << hs.message();
  EXPECT_EQ(acme->tls_info().alpn, "acme-tls/1");
  auto normal = Client("app.test");
  ASSERT_TRUE(Get(*normal, "app.test").ok());
  EXPECT_NE(normal->tls_info().serial, acme->tls_info().serial);

  // acme-tls/1 for a name without a pending challenge is refused (RFC 8737 section 3).
  ASSERT_TRUE(proxy_->client().RemoveAlpnChallenge("app.test").ok());
  auto late = Client("app.test", {"acme-tls/1"});
  EXPECT_FALSE(late->Connect().ok());
}

TEST_F(TlsTest, HostileTlsInputIsClosedAndReachesNoTarget) {
  StartTls();
  DeployApp("site", {"app.test"});
  Put("app.test", certs_->Issue({"app.test"}, "app"));
  // Plain HTTP on the TLS port, and garbage bytes.
  for (std::string bytes : {std::string("GET /leak-probe HTTP/1.1\r\nHost: app.test\r\n\r\n"),
                            std::string(300, '\x16'), std::string("\x16\x03\x01\x00\x05hello", 10)}) {
    HttpClient raw("127.0.0.1", https_port_, seconds(5));
    ASSERT_TRUE(raw.SendRaw(bytes).ok());
    EXPECT_TRUE(raw.WaitClosed(seconds(5)));
  }
  // A ClientHello cut short, then silence: cut off by the handshake deadline (1s here).
  {
    HttpClient raw("127.0.0.1", https_port_, seconds(5));
    ASSERT_TRUE(raw.SendRaw(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)).ok());
    EXPECT_TRUE(raw.WaitClosed(seconds(5)));
  }
  // Connected, nothing sent.
  {
    HttpClient raw("127.0.0.1", https_port_, seconds(5));
    ASSERT_TRUE(raw.Connect().ok());
    EXPECT_TRUE(raw.WaitClosed(seconds(5)));
  }
  // SNI with bytes that are no host name.
  for (std::string name : {std::string("bad name.test"), std::string("app.test\r\nX: y"),
                           std::string("\xff\xfe.test")}) {
    auto c = Client(name);
    c->UseTls({name, "", {"http/1.1"}});
    EXPECT_FALSE(c->Connect().ok()) << name;
  }
  // Nothing of the above reached the app; a good client is still served.
  auto good = Client("app.test");
  auto r = Get(*good, "app.test", "/good-probe");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(WaitFor([&] { return apps_[0]->process().Output().find("/good-probe") != std::string::npos; },
                      seconds(5)))
      << apps_[0]->process().Output();
  EXPECT_EQ(apps_[0]->process().Output().find("/leak-probe"), std::string::npos);
}

TEST_F(TlsTest, CertificatesSurviveARestartAndATakeover) {
  StartTls();
  DeployApp("site", {"app.test"});
  Put("app.test", certs_->Issue({"app.test"}, "app"));
  auto c = Client("app.test");
  ASSERT_TRUE(Get(*c, "app.test").ok());

  // Takeover: the new process gets the HTTPS listener and serves the saved certificate.
  LoadOptions lo;
  lo.port = https_port_;
  lo.host = "app.test";
  lo.connections = 2;
  lo.tls = TlsClientOptions{"app.test", certs_->ca_file(), {"http/1.1"}, false};
  LoadGenerator load(lo);
  load.Start();
  ASSERT_TRUE(WaitFor([&] { return load.Stats().ok > 20; }, seconds(20)));
  ProxyProcess next(dir_.Join("state"), port_,
                    {"--https-listen", "127.0.0.1:" + std::to_string(https_port_), "--takeover"});
  ASSERT_TRUE(WaitFor([&] { return !proxy_->process().Running(); }, seconds(30)))
      << next.process().Output();
  const long at_handover = load.Stats().ok;
  ASSERT_TRUE(WaitFor([&] { return load.Stats().ok > at_handover + 20; }, seconds(20)));
  load.Stop();
  EXPECT_EQ(load.Stats().failed, 0) << load.Stats().Summary();
  auto after = Client("app.test");
  auto r = Get(*after, "app.test");
  ASSERT_TRUE(r.ok()) << r.error() << next.process().Output();
  EXPECT_EQ(after->tls_info().subject_cn, "app.test");

  // The saved file is the proxy's alone.
  struct stat st {};
  ASSERT_EQ(::stat(dir_.Join("state/tls/app.test.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(TlsTest, ControlApiRefusesBadCertificatesAndChangesNothing) {
  const int metrics = FreePort();
  StartTls({"--metrics", "127.0.0.1:" + std::to_string(metrics)});
  TestCert good = certs_->Issue({"app.test"}, "app");
  TestCert other = certs_->Issue({"other.test"}, "other");
  auto client = proxy_->client();
  Status st = client.PutCertificate("app.test", "not a pem", good.key_pem, "file");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("app.test: certificate"), std::string::npos) << st.message();
  st = client.PutCertificate("app.test", good.chain_pem, other.key_pem, "file");
  EXPECT_NE(st.message().find("does not match"), std::string::npos) << st.message();
  st = client.PutCertificate("bad..host", good.chain_pem, good.key_pem, "file");
  EXPECT_NE(st.message().find("is not a host name"), std::string::npos) << st.message();
  st = client.PutCertificate("app.test", good.chain_pem, good.key_pem, "bad\"source");
  EXPECT_FALSE(st.ok());
  auto listed = client.Certificates();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE((*listed)["certificates"].empty());
  EXPECT_FALSE(client.RemoveCertificate("app.test").ok());

  // A good one shows in the metrics with its days left (10 days here).
  ASSERT_TRUE(client.PutCertificate("app.test", good.chain_pem, good.key_pem, "file").ok());
  auto m = HttpGet(metrics, "/metrics");
  ASSERT_TRUE(m.ok()) << m.error();
  const std::string line = "gravity_proxy_tls_certificate_days_left{host=\"app.test\"} ";
  const std::size_t at = m->body.find(line);
  ASSERT_NE(at, std::string::npos) << m->body;
  const double days = std::stod(m->body.substr(at + line.size()));
  EXPECT_GT(days, 9.9);
  EXPECT_LE(days, 10.01);
}

TEST_F(ProxyTest, TlsPathsNeedAnHttpsListener) {
  StartProxy();
  auto r = proxy_->client().Certificates();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("--https-listen"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace gravity::test
