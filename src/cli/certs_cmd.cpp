// `gravity certs [--json]`: every host with tls: in the stack and its certificate, as the
// daemon's certificate manager sees it (GET /v1/certs).

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/daemon_client.h"
#include "common/clock.h"

namespace gravity::cli {

namespace {

using nlohmann::json;

std::string When(std::int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::gmtime(&t));
  return buf;
}

std::string Expiry(std::int64_t not_after, std::int64_t now) {
  if (not_after <= 0) return "not issued";
  const double days = static_cast<double>(not_after - now) / 86400.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s (%.1f d)", When(not_after).c_str(), days);
  return buf;
}

int Print(const json& doc) {
  const json& certs = doc.value("certificates", json::array());
  if (certs.empty()) {
    std::printf("no environment has tls: (see docs/config.md: proxy.https and tls)\n");
    return 0;
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               Clock::Real().WallNow().time_since_epoch())
                               .count();
  std::printf("%-26s %-6s %-24s %-26s %-7s %-17s %s\n", "HOST", "SOURCE", "ISSUER", "EXPIRES",
              "SERVED", "LAST ATTEMPT", "ERROR");
  for (const auto& c : certs) {
    std::printf("%-26s %-6s %-24s %-26s %-7s %-17s %s\n", c.value("host", "").c_str(),
                c.value("source", "").c_str(), c.value("issuer", "-").c_str(),
                Expiry(c.value("not_after", std::int64_t{0}), now).c_str(),
                c.value("served", false) ? "yes" : "no",
                When(c.value("last_attempt", std::int64_t{0})).c_str(),
                c.value("error", "").c_str());
  }
  return 0;
}

}  // namespace

int CertsCommand(int argc, char** argv) {
  CLI::App cmd{"Certificates of the environments with tls: (issuer, names, expiry, source, "
               "last renewal attempt and error)",
               "gravity certs"};
  std::string file = "stack.yml", admin;
  bool as_json = false;
  cmd.add_option("-f,--file", file, "stack file")->capture_default_str();
  cmd.add_option("--admin", admin, "daemon API address HOST:PORT (overrides the stack file)");
  cmd.add_flag("--json", as_json, "print the daemon's JSON");
  try {
    cmd.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cmd.exit(e);
  }
  auto client = DaemonClient::Connect(file, admin);
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.error().c_str());
    return 2;
  }
  auto doc = client->Get("/v1/certs");
  if (!doc.ok()) {
    std::fprintf(stderr, "%s\n", doc.error().c_str());
    return 1;
  }
  if (as_json) {
    std::cout << doc->dump(2) << "\n";
    return 0;
  }
  return Print(*doc);
}

}  // namespace gravity::cli
