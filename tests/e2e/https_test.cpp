// End to end over HTTPS: `gravity up` on the sample app with tls: auto gets a certificate
// from a real ACME CA (Debian's pebble) validated over HTTP-01 or TLS-ALPN-01, serves the
// app over HTTPS verified against pebble's root, renews a short-lived certificate under
// load without a failed request, and keeps its certificate across down/up; with
// tls: { certificate, key } it serves the files and follows their changes, keeping the old
// certificate when a new file is bad.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/fs.h"
#include "support/git_repo.h"
#include "support/gravity_cli.h"
#include "support/http_client.h"
#include "support/load_generator.h"
#include "support/net.h"
#include "support/pebble.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/tls_certs.h"
#include "support/wait.h"

namespace gravity::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kText = "Automation for the people";
constexpr const char* kHost = "site.test";

class Https : public ::testing::Test {
 protected:
  void SetUp() override {
    proxy_port_ = FreePort();
    https_port_ = FreePort();
    admin_port_ = FreePort();
    auto work = SampleAppRepo(dir_.path());
    ASSERT_TRUE(work.ok()) << work.error();
  }
  void TearDown() override {
    if (!stack_.empty()) Gravity({"down", "-f", stack_}, dir_.path());
  }

  void StartPebble(seconds validity = seconds(0)) {
    PebbleOptions o;
    o.http_port = proxy_port_;   // HTTP-01 is answered by the proxy's plain listener
    o.tls_port = https_port_;    // TLS-ALPN-01 by its HTTPS listener
    o.certificate_validity = validity;
    auto p = Pebble::Start(o);
    ASSERT_TRUE(p.ok()) << p.error();
    pebble_ = std::move(*p);
    auto root = pebble_->RootCertificate();
    ASSERT_TRUE(root.ok()) << root.error();
    root_file_ = dir_.Write("pebble-root.pem", *root);
  }

  std::string StackYaml(const std::string& tls, const std::string& challenge = "http-01") const {
    std::string acme;
    if (pebble_) {
      acme = "    acme: { directory: '" + pebble_->directory_url() + "', email: ops@site.test, "
             "ca_bundle: '" + pebble_->ca_bundle() + "', challenge: " + challenge + " }\n";
    }
    return "state_dir: state\n"
           "proxy:\n"
           "  listen: 127.0.0.1:" + std::to_string(proxy_port_) + "\n"
           "  https:\n"
           "    listen: 127.0.0.1:" + std::to_string(https_port_) + "\n" + acme +
           "admin: { listen: 127.0.0.1:" + std::to_string(admin_port_) + " }\n"
           "apps:\n"
           "  site:\n"
           "    repo: ./site.git\n"
           "    poll_interval: 1s\n"
           "    environments:\n"
           "      staging:\n"
           "        branch: staging\n"
           "        host: " + kHost + "\n"
           "        drain_timeout: 1s\n"
           "        hsts: 1d\n"
           "        tls: " + tls + "\n";
  }

  void Up(const std::string& yaml) {
    stack_ = dir_.Write("stack.yml", yaml);
    auto up = Gravity({"up", "-f", stack_, "--detach"}, dir_.path(), seconds(180));
    ASSERT_EQ(up.exit_code, 0) << up.output;
  }

  // The daemon's view of kHost once `done` holds for it (null after the timeout).
  json CertWhen(const std::function<bool(const json&)>& done, milliseconds timeout = seconds(60)) {
    json found;
    WaitFor(
        [&] {
          auto r = Gravity({"certs", "--json", "-f", stack_}, dir_.path(), seconds(10));
          json doc = json::parse(r.output, nullptr, false);
          if (!doc.is_object()) return false;
          for (const auto& c : doc.value("certificates", json::array())) {
            if (c.value("host", "") == kHost && done(c)) {
              found = c;
              return true;
            }
          }
          return false;
        },
        timeout, milliseconds(250));
    return found;
  }

  std::unique_ptr<HttpClient> Client(const std::string& ca) {
    auto c = std::make_unique<HttpClient>("127.0.0.1", https_port_, seconds(10));
    c->UseTls({kHost, ca, {"http/1.1"}, false});
    return c;
  }

  // GET / over HTTPS verified against `ca`: the response and the certificate's serial.
  std::pair<Result<HttpResponse>, std::string> Fetch(const std::string& ca) {
    auto c = Client(ca);
    auto r = c->Get("/", kHost);
    return {std::move(r), c->tls_info().serial};
  }

  TempDir dir_{"gravity-https"};
  int proxy_port_ = 0;
  int https_port_ = 0;
  int admin_port_ = 0;
  std::unique_ptr<Pebble> pebble_;
  std::string root_file_;
  std::string stack_;
};

TEST_F(Https, AutoOverHttp01ServesVerifiedHttpsRedirectsHttpAndSurvivesDownUp) {
  StartPebble();
  Up(StackYaml("auto"));
  json cert = CertWhen([](const json& c) { return c.value("served", false); });
  ASSERT_FALSE(cert.is_null()) << Gravity({"certs", "-f", stack_}, dir_.path()).output
                               << pebble_->Logs();
  EXPECT_EQ(cert.value("source", ""), "acme");
  EXPECT_EQ(cert.value("names", json::array()), json::array({kHost}));
  EXPECT_EQ(cert.value("error", "x"), "");

  // curl verifies the chain against pebble's root.
  auto curl = RunCommand({"curl", "-sS", "--cacert", root_file_, "--resolve",
                          std::string(kHost) + ":" + std::to_string(https_port_) + ":127.0.0.1",
                          "https://" + std::string(kHost) + ":" + std::to_string(https_port_) + "/"});
  ASSERT_TRUE(curl.ok()) << curl.error();
  ASSERT_EQ(curl->exit_code, 0) << curl->err;
  EXPECT_NE(curl->out.find(kText), std::string::npos) << curl->out;
  auto [r, serial] = Fetch(root_file_);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->HeaderOr("Strict-Transport-Security"), "max-age=86400");
  // Plain HTTP for the host is redirected, keeping the path.
  auto plain = HttpGet(proxy_port_, "/about?x=1", kHost);
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_EQ(plain->status, 308);
  EXPECT_EQ(plain->HeaderOr("Location"),
            "https://site.test:" + std::to_string(https_port_) + "/about?x=1");
  auto table = Gravity({"certs", "-f", stack_}, dir_.path());
  EXPECT_NE(table.output.find("site.test"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("acme"), std::string::npos) << table.output;

  // A restart does not order again: the stored certificate is served.
  ASSERT_EQ(Gravity({"down", "-f", stack_}, dir_.path()).exit_code, 0);
  Up(StackYaml("auto"));
  json again = CertWhen([](const json& c) { return c.value("served", false); });
  ASSERT_FALSE(again.is_null());
  EXPECT_EQ(again.value("not_after", 0), cert.value("not_after", 0));
  EXPECT_EQ(again.value("last_attempt", 1), 0) << again.dump();  // no order this time
  auto [r2, serial2] = Fetch(root_file_);
  ASSERT_TRUE(r2.ok()) << r2.error();
  EXPECT_EQ(serial2, serial);
}

TEST_F(Https, AutoOverTlsAlpn01RenewsAShortLivedCertificateUnderLoad) {
  StartPebble(seconds(45));  // renewal starts after ~29-30 s
  Up(StackYaml("auto", "tls-alpn-01"));
  json cert = CertWhen([](const json& c) { return c.value("served", false); });
  ASSERT_FALSE(cert.is_null()) << Gravity({"certs", "-f", stack_}, dir_.path()).output
                               << pebble_->Logs();
  auto [r, first_serial] = Fetch(root_file_);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_NE(r->body.find(kText), std::string::npos);

  LoadOptions keep;
  keep.port = https_port_;
  keep.host = kHost;
  keep.connections = 2;
  keep.pause_between_requests = milliseconds(5);
  keep.tls = TlsClientOptions{kHost, root_file_, {"http/1.1"}, false};
  LoadOptions fresh = keep;
  fresh.keep_alive = false;  // a new full handshake each time
  fresh.connections = 1;
  LoadGenerator a(keep), b(fresh);
  a.Start();
  b.Start();
  json renewed = CertWhen(
      [&](const json& c) {
        return c.value("served", false) && c.value("not_after", 0) > cert.value("not_after", 0);
      },
      seconds(90));
  ASSERT_FALSE(renewed.is_null()) << Gravity({"certs", "-f", stack_}, dir_.path()).output;
  // The new certificate is what new handshakes get.
  ASSERT_TRUE(WaitFor([&] { return Fetch(root_file_).second != first_serial; }, seconds(10)));
  const long seen = b.Stats().ok;
  ASSERT_TRUE(WaitFor([&] { return b.Stats().ok > seen + 5; }, seconds(20)));
  a.Stop();
  b.Stop();
  EXPECT_EQ(a.Stats().failed, 0) << a.Stats().Summary();
  EXPECT_EQ(b.Stats().failed, 0) << b.Stats().Summary();
  EXPECT_GT(b.Stats().ok, 20);
}

TEST_F(Https, FileCertificatesFollowTheirFilesAndABadFileChangesNothing) {
  CertFactory ca(dir_.path());
  TestCert first = ca.Issue({kHost}, "site");
  Up(StackYaml("{ certificate: site.pem, key: site.key }"));
  json cert = CertWhen([](const json& c) { return c.value("served", false); });
  ASSERT_FALSE(cert.is_null()) << Gravity({"certs", "-f", stack_}, dir_.path()).output;
  EXPECT_EQ(cert.value("source", ""), "file");
  auto [r, serial] = Fetch(ca.ca_file());
  ASSERT_TRUE(r.ok()) << r.error();

  // New files: served within a few seconds, no restart.
  TestCert second = ca.Issue({kHost}, "next");
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("site.key"), second.key_pem).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("site.pem"), second.chain_pem).ok());
  ASSERT_TRUE(WaitFor([&] { return Fetch(ca.ca_file()).second != serial; }, seconds(20)));
  const std::string second_serial = Fetch(ca.ca_file()).second;

  // A certificate that does not match its key: reported, and the proxy keeps the last good one.
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("site.pem"), first.chain_pem).ok());
  json bad = CertWhen([](const json& c) { return !c.value("error", "").empty(); }, seconds(20));
  ASSERT_FALSE(bad.is_null());
  EXPECT_NE(bad.value("error", "").find("does not match"), std::string::npos) << bad.dump();
  auto [r3, serial3] = Fetch(ca.ca_file());
  ASSERT_TRUE(r3.ok()) << r3.error();
  EXPECT_EQ(serial3, second_serial);
}

}  // namespace
}  // namespace gravity::test
