// The ACME client against a real ACME server: Debian's pebble (tests/support/pebble.h),
// with challenge solvers the validation authority really connects to on loopback.
#include "support/pebble.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "acme/cert_info.h"
#include "acme/client.h"
#include "support/acme_solvers.h"
#include "support/temp_dir.h"

namespace gravity::acme {
namespace {

using test::HttpChallengeServer;
using test::Pebble;
using test::PebbleOptions;
using test::TlsAlpnChallengeServer;

class AcmePebble : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(http_.Start());
    ASSERT_TRUE(tls_.Start());
  }

  void StartPebble(std::map<std::string, std::string> env = {},
                   std::vector<std::string> blocklist = {}) {
    PebbleOptions options;
    options.domain_blocklist = std::move(blocklist);
    options.http_port = http_.port();
    options.tls_port = tls_.port();
    options.env = std::move(env);
    Result<std::unique_ptr<Pebble>> pebble = Pebble::Start(options);
    ASSERT_TRUE(pebble.ok()) << pebble.error();
    pebble_ = std::move(pebble).value();
  }

  ClientOptions Options() const {
    ClientOptions o;
    o.directory_url = pebble_->directory_url();
    o.email = "ops@example.test";
    o.ca_bundle = pebble_->ca_bundle();
    o.account_key_path = dir_.Join("account.key");
    o.poll_timeout = std::chrono::seconds(60);
    return o;
  }

  // The issued chain verifies against pebble's root, names exactly `names`, and its key
  // is the one returned.
  void ExpectIssued(const IssuedCertificate& issued, std::vector<std::string> names) {
    Result<std::string> root = pebble_->RootCertificate();
    ASSERT_TRUE(root.ok()) << root.error();
    Status verified = VerifyCertificateChain(issued.chain_pem, *root);
    EXPECT_TRUE(verified.ok()) << verified.message();
    EXPECT_TRUE(KeyMatchesCertificate(issued.chain_pem, issued.key_pem).ok());
    Result<CertificateInfo> info = InspectCertificate(issued.chain_pem);
    ASSERT_TRUE(info.ok()) << info.error();
    std::vector<std::string> got = info->dns_names;
    std::sort(got.begin(), got.end());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(got, names);
    EXPECT_GT(info->not_after, std::chrono::system_clock::now());
  }

  std::string Logs() const { return pebble_ ? pebble_->Logs() : ""; }

  test::TempDir dir_{"gravity-acme"};
  HttpChallengeServer http_;
  TlsAlpnChallengeServer tls_;
  std::unique_ptr<Pebble> pebble_;  // destroyed first: no validation reaches a dead solver
};

TEST_F(AcmePebble, ObtainsCertificateViaHttp01) {
  StartPebble();
  Client client(Options());
  std::vector<std::string> names = {"www.example.test", "example.test"};
  Result<IssuedCertificate> issued = client.Obtain(names, ChallengeType::kHttp01, http_);
  ASSERT_TRUE(issued.ok()) << issued.error() << "\n" << Logs();
  ExpectIssued(*issued, names);
  EXPECT_EQ(http_.presented(), 2);
  EXPECT_GE(http_.served(), 2);
  EXPECT_EQ(http_.cleaned_up(), 2);
  EXPECT_EQ(http_.outstanding(), 0u);
  EXPECT_TRUE(client.account_created());
  EXPECT_FALSE(client.last_failure().has_value());
}

TEST_F(AcmePebble, ObtainsCertificateViaTlsAlpn01) {
  StartPebble();
  Client client(Options());
  std::vector<std::string> names = {"alpn.example.test"};
  Result<IssuedCertificate> issued = client.Obtain(names, ChallengeType::kTlsAlpn01, tls_);
  ASSERT_TRUE(issued.ok()) << issued.error() << "\n" << Logs();
  ExpectIssued(*issued, names);
  EXPECT_EQ(tls_.presented(), 1);
  EXPECT_GE(tls_.served(), 1);
  EXPECT_EQ(tls_.cleaned_up(), 1);
}

TEST_F(AcmePebble, RejectedIdentifierIsAClearError) {
  StartPebble({}, {"blocked.example.test"});
  Client client(Options());
  Result<IssuedCertificate> issued =
      client.Obtain({"blocked.example.test"}, ChallengeType::kHttp01, http_);
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().rfind("blocked.example.test: ACME order failed: "
                                 "urn:ietf:params:acme:error:rejectedIdentifier: ",
                                 0),
            0u)
      << issued.error();
  ASSERT_TRUE(client.last_failure().has_value());
  EXPECT_EQ(client.last_failure()->problem_type, "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(client.last_failure()->http_status, 400);
  EXPECT_FALSE(client.last_failure()->retry_after.has_value());
  EXPECT_EQ(http_.presented(), 0);
}

TEST_F(AcmePebble, MalformedIdentifierCarriesTheProblemDocument) {
  StartPebble();
  Client client(Options());
  Result<IssuedCertificate> issued = client.Obtain({"127.0.0.1"}, ChallengeType::kHttp01, http_);
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().rfind(
                "127.0.0.1: ACME order failed: urn:ietf:params:acme:error:malformed: ", 0),
            0u)
      << issued.error();
  EXPECT_TRUE(issued.status().IsFailedPrecondition());
}

TEST_F(AcmePebble, WrongKeyAuthorizationNamesTheChallengeFailure) {
  StartPebble();
  http_.set_wrong_answers(true);
  Client client(Options());
  Result<IssuedCertificate> issued =
      client.Obtain({"wrong.example.test"}, ChallengeType::kHttp01, http_);
  ASSERT_FALSE(issued.ok());
  EXPECT_NE(issued.error().find("wrong.example.test: ACME authorization of wrong.example.test "
                                "failed: authorization is invalid: http-01 challenge invalid: "
                                "urn:ietf:params:acme:error:unauthorized: "),
            std::string::npos)
      << issued.error();
  ASSERT_TRUE(client.last_failure().has_value());
  EXPECT_EQ(client.last_failure()->problem_type, "urn:ietf:params:acme:error:unauthorized");
  EXPECT_FALSE(client.last_failure()->detail.empty());
  EXPECT_EQ(http_.presented(), 1);
  EXPECT_EQ(http_.cleaned_up(), 1);
}

TEST_F(AcmePebble, SameKeyFileReusesTheAccount) {
  StartPebble();
  std::string first_account;
  {
    Client client(Options());
    Result<IssuedCertificate> issued =
        client.Obtain({"one.example.test"}, ChallengeType::kHttp01, http_);
    ASSERT_TRUE(issued.ok()) << issued.error() << "\n" << Logs();
    EXPECT_TRUE(client.account_created());
    first_account = client.account_url();
  }
  Client again(Options());
  Result<IssuedCertificate> issued =
      again.Obtain({"two.example.test"}, ChallengeType::kHttp01, http_);
  ASSERT_TRUE(issued.ok()) << issued.error() << "\n" << Logs();
  EXPECT_FALSE(again.account_created());
  EXPECT_EQ(again.account_url(), first_account);
  EXPECT_FALSE(first_account.empty());
}

TEST_F(AcmePebble, SucceedsWhenHalfTheNoncesAreRejected) {
  StartPebble({{"PEBBLE_WFE_NONCEREJECT", "50"}});
  Client client(Options());
  Result<IssuedCertificate> issued =
      client.Obtain({"nonce.example.test"}, ChallengeType::kHttp01, http_);
  ASSERT_TRUE(issued.ok()) << issued.error() << "\n" << Logs();
  ExpectIssued(*issued, {"nonce.example.test"});
  EXPECT_GT(client.bad_nonce_retries(), 0) << "pebble rejected no nonce: no retry was tested";
}

}  // namespace
}  // namespace gravity::acme
