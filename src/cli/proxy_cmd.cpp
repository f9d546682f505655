// gravity proxy run | deploy | ls | rm | canary | canary-weight | promote-canary | drop-canary

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/fs.h"
#include "common/log.h"
#include "proxy/control_client.h"
#include "proxy/server.h"

namespace gravity::cli {

namespace {

using proxy::ControlClient;

constexpr const char* kDefaultStateDir = ".gravity/proxy";

struct HealthFlags {
  std::string path = "/";
  int status = 200;
  std::string body;
  std::string interval = "1s";
  std::string timeout = "2s";
  int healthy_threshold = 2;
  int unhealthy_threshold = 3;

  void Add(CLI::App* app) {
    app->add_option("--health-path", path, "path to GET (default /)");
    app->add_option("--health-status", status, "expected status (default 200)");
    app->add_option("--health-body", body, "text the body must contain");
    app->add_option("--health-interval", interval, "time between checks (default 1s)");
    app->add_option("--health-timeout", timeout, "timeout of one check (default 2s)");
    app->add_option("--healthy-threshold", healthy_threshold, "passes in a row to be healthy (2)");
    app->add_option("--unhealthy-threshold", unhealthy_threshold,
                    "failures in a row to be unhealthy (3)");
  }
  Result<proxy::HealthSpec> Spec() const;
};

Result<std::chrono::milliseconds> Duration(const std::string& flag, const std::string& text) {
  auto d = ParseDuration(text);
  if (!d.ok()) return d.status().Prefixed(flag);
  return d;
}

Result<proxy::HealthSpec> HealthFlags::Spec() const {
  proxy::HealthSpec h;
  h.path = path;
  h.status = status;
  h.body_contains = body;
  ASSIGN_OR_RETURN(h.interval, Duration("--health-interval", interval));
  ASSIGN_OR_RETURN(h.timeout, Duration("--health-timeout", timeout));
  h.healthy_threshold = healthy_threshold;
  h.unhealthy_threshold = unhealthy_threshold;
  return h;
}

std::string SocketPath(const std::string& control, const std::string& state_dir) {
  return control.empty() ? state_dir + "/proxy.sock" : control;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "gravity proxy: %s\n", message.c_str());
  return 1;
}

int PrintDeployResult(const Result<proxy::DeployResult>& r, const std::string& what) {
  if (!r.ok()) return Fail(r.error());
  if (r->ok) {
    std::printf("%s: traffic switched after %lldms\n", what.c_str(),
                static_cast<long long>(r->switched_after_ms));
    return 0;
  }
  if (r->failures.empty()) return Fail(r->error);
  for (const auto& f : r->failures) {
    std::fprintf(stderr, "%s: %s\n", f.target.c_str(), f.reason.c_str());
  }
  return 1;
}

int PrintList(const nlohmann::json& doc) {
  std::printf("%-16s %-24s %-10s %-7s %-22s %-10s %s\n", "SERVICE", "HOSTS", "PREFIX", "POOL",
              "TARGET", "STATE", "LAST ERROR");
  for (const auto& s : doc["services"]) {
    std::string hosts;
    for (const auto& h : s["hosts"]) {
      if (!hosts.empty()) hosts += ',';  // not `"," + h`: GCC 12 -O3 -Wrestrict false positive
      hosts += h.get<std::string>();
    }
    auto pool = [&](const char* name, const nlohmann::json& p, const std::string& label) {
      if (p.is_null()) return;
      for (const auto& t : p["targets"]) {
        std::printf("%-16s %-24s %-10s %-7s %-22s %-10s %s\n", s["name"].get<std::string>().c_str(),
                    hosts.c_str(), s["path_prefix"].get<std::string>().c_str(), label.c_str(),
                    t["address"].get<std::string>().c_str(), t["state"].get<std::string>().c_str(),
                    t["last_error"].get<std::string>().c_str());
      }
      (void)name;
    };
    pool("main", s["pools"]["main"], "main");
    const auto& c = s["pools"]["canary"];
    if (!c.is_null()) pool("canary", c, "canary" + std::to_string(c["weight"].get<int>()) + "%");
  }
  return 0;
}

}  // namespace

namespace {

using nlohmann::json;

int PrintCertificates(const json& doc) {
  const json& certs = doc.value("certificates", json::array());
  if (certs.empty()) {
    std::cout << "no certificates\n";
    return 0;
  }
  std::printf("%-28s %-8s %-20s %-26s %s\n", "HOST", "SOURCE", "EXPIRES", "ISSUER", "NAMES");
  for (const auto& c : certs) {
    std::string names;
    for (const auto& n : c.value("names", json::array())) {
      if (!names.empty()) names += ',';
      names += n.get<std::string>();
    }
    std::time_t t = static_cast<std::time_t>(c.value("not_after", std::int64_t{0}));
    char when[32] = "-";
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
    std::string host = c.value("host", "") + (c.value("default", false) ? " (default)" : "");
    std::printf("%-28s %-8s %-20s %-26s %s\n", host.c_str(), c.value("source", "").c_str(), when,
                c.value("issuer", "").c_str(), names.c_str());
  }
  return 0;
}

int CertCommand(ControlClient& client, bool put, bool ls, bool json_out, const std::string& host,
                const std::string& cert_file, const std::string& key_file, bool is_default) {
  if (ls) {
    auto doc = client.Certificates();
    if (!doc.ok()) return Fail(doc.error());
    if (json_out) {
      std::cout << doc->dump(2) << "\n";
      return 0;
    }
    return PrintCertificates(*doc);
  }
  if (!put) {
    Status st = client.RemoveCertificate(host);
    return st.ok() ? 0 : Fail(st.message());
  }
  auto chain = ReadFile(cert_file);
  if (!chain.ok()) return Fail("--cert: " + chain.error());
  auto key = ReadFile(key_file);
  if (!key.ok()) return Fail("--key: " + key.error());
  // "manual": the daemon leaves it alone (it manages "file" and "acme" certificates).
  Status st = client.PutCertificate(host, *chain, *key, "manual", is_default);
  if (!st.ok()) return Fail(st.message());
  std::cout << "serving " << cert_file << " for " << host << "\n";
  return 0;
}

}  // namespace

namespace {

// `gravity proxy deploy` and `gravity proxy canary`: a health-gated switch, of the main
// pool or of a canary share (they share the health and deploy-timeout flags).
struct DeployFlags {
  proxy::DeployRequest dreq;
  std::string canary_service;
  proxy::CanaryRequest creq;
  HealthFlags health;
  std::string deploy_timeout = "30s", drain_timeout = "30s";
  CLI::App* deploy = nullptr;
  CLI::App* canary = nullptr;

  void Add(CLI::App& app, const std::function<void(CLI::App*)>& add_control) {
    deploy = app.add_subcommand("deploy", "health-gate new targets, switch, drain the old ones");
    deploy->add_option("SERVICE", dreq.service, "service name")->required();
    deploy->add_option("--target", dreq.targets, "HOST:PORT (repeat)")->required();
    deploy->add_option("--host", dreq.hosts, "Host to route (exact, *.domain, *; repeat)");
    deploy->add_option("--path-prefix", dreq.path_prefix, "path prefix to route (default /)");
    health.Add(deploy);
    deploy->add_option("--deploy-timeout", deploy_timeout, "targets must be healthy within (30s)");
    deploy->add_option("--drain-timeout", drain_timeout, "in-flight requests on old targets (30s)");
    add_control(deploy);
    canary = app.add_subcommand("canary", "health-gate a canary pool and send it a share");
    canary->add_option("SERVICE", canary_service)->required();
    canary->add_option("--target", creq.pool.targets, "HOST:PORT (repeat)")->required();
    canary->add_option("--weight", creq.weight, "share of clients, 0-100")->required();
    health.Add(canary);
    canary->add_option("--deploy-timeout", deploy_timeout, "targets must be healthy within (30s)");
    add_control(canary);
  }
  int Run(const std::string& sock) {
    auto h = health.Spec();
    if (!h.ok()) return Fail(h.error());
    auto dt = Duration("--deploy-timeout", deploy_timeout);
    if (!dt.ok()) return Fail(dt.error());
    ControlClient client(sock, *dt + std::chrono::minutes(1));
    if (deploy->parsed()) {
      auto dr = Duration("--drain-timeout", drain_timeout);
      if (!dr.ok()) return Fail(dr.error());
      dreq.health = *h;
      dreq.deploy_timeout = *dt;
      dreq.drain_timeout = *dr;
      return PrintDeployResult(client.Deploy(dreq), "deployed " + dreq.service);
    }
    creq.pool.health = *h;
    creq.deploy_timeout = *dt;
    return PrintDeployResult(client.DeployCanary(canary_service, creq),
                             "canary of " + canary_service + " at " +
                                 std::to_string(creq.weight) + "%");
  }
};

// `gravity proxy cert put|ls|rm`.
struct CertFlags {
  std::string host, cert_file, key_file;
  bool is_default = false;
  bool json_out = false;
  CLI::App* cert = nullptr;
  CLI::App* put = nullptr;
  CLI::App* ls = nullptr;

  void Add(CLI::App& app, const std::function<void(CLI::App*)>& add_control) {
    cert = app.add_subcommand("cert", "certificates served by the HTTPS listener");
    cert->require_subcommand(1);
    put = cert->add_subcommand("put", "serve a certificate for HOST (replaces one)");
    put->add_option("HOST", host, "exact name or *.domain")->required();
    put->add_option("--cert", cert_file, "PEM chain, leaf first")->required();
    put->add_option("--key", key_file, "PEM private key")->required();
    put->add_flag("--default", is_default, "also serve it to clients without a known SNI name");
    add_control(put);
    ls = cert->add_subcommand("ls", "every certificate: names, issuer, expiry, source");
    ls->add_flag("--json", json_out, "the control API's JSON document");
    add_control(ls);
    auto* rm = cert->add_subcommand("rm", "stop serving HOST's certificate");
    rm->add_option("HOST", host)->required();
    add_control(rm);
  }
  int Run(ControlClient& client) const {
    return CertCommand(client, put->parsed(), ls->parsed(), json_out, host, cert_file, key_file,
                       is_default);
  }
};

// `gravity proxy run`: its flags, checked before anything starts.
struct RunFlags {
  proxy::ServerOptions opts;
  std::string log_level = "info";
  std::string balance = "round-robin";
  std::string header_timeout = "10s", body_timeout = "60s", idle_timeout = "60s",
              connect_timeout = "5s", response_timeout = "60s", upstream_idle = "30s",
              shutdown_timeout = "10s";

  void Add(CLI::App* run);
  Status Check();  // the text flags into opts; an error names the flag
  int Run() {
    Status st = Check();
    if (!st.ok()) return Fail(st.message());
    SetupLogging(log_level);
    return proxy::RunServer(opts, Clock::Real());
  }
};

void RunFlags::Add(CLI::App* run) {
  run->add_option("--listen", opts.listen, "HOST:PORT to serve HTTP on (default 127.0.0.1:8080)");
  run->add_option("--https-listen", opts.https_listen,
                  "HOST:PORT to serve HTTPS on (certificates: `gravity proxy cert`)");
  run->add_flag("--redirect-http", opts.redirect_http,
                "answer plain HTTP for hosts with a certificate with 308 to https://");
  run->add_option("--https-ready-file", opts.https_ready_file,
                  "write HOST:PORT of the HTTPS listener here once listening");
  run->add_option("--control", opts.control_socket,
                  "control socket (default STATE_DIR/proxy.sock)");
  run->add_option("--state-dir", opts.state_dir, "where the routing table is kept")
      ->default_val(kDefaultStateDir);
  run->add_option("--metrics", opts.metrics_listen, "HOST:PORT for Prometheus /metrics");
  run->add_option("--workers", opts.workers, "event-loop threads (default 1)");
  run->add_option("--access-log", opts.access_log, "FILE, - (stdout) or off (default)");
  run->add_option("--balance", balance, "round-robin (default) or least-outstanding");
  run->add_option("--ready-file", opts.ready_file, "write HOST:PORT here once listening");
  run->add_flag("--takeover", opts.takeover,
                "take the listening sockets over from the proxy serving --control, which then "
                "finishes its in-flight requests and exits (a restart or upgrade with no gap)");
  run->add_option("--max-header-bytes", opts.limits.max_header_bytes, "request head limit (431)");
  run->add_option("--max-headers", opts.limits.max_headers, "header field count limit (431)");
  run->add_option("--max-body-bytes", opts.limits.max_body_bytes, "request body limit (413)");
  run->add_option("--header-timeout", header_timeout, "a request head must arrive within (10s)");
  run->add_option("--body-timeout", body_timeout, "client body read/response write idle (60s)");
  run->add_option("--idle-timeout", idle_timeout, "idle keep-alive client connections (60s)");
  run->add_option("--connect-timeout", connect_timeout, "upstream connect (5s, then 504)");
  run->add_option("--response-timeout", response_timeout, "upstream response (60s, then 504)");
  run->add_option("--upstream-idle-timeout", upstream_idle, "pooled upstream connections (30s)");
  run->add_option("--shutdown-timeout", shutdown_timeout, "SIGTERM: in-flight requests get (10s)");
  run->add_option("--log-level", log_level, "trace|debug|info|warn|error");
}

Status RunFlags::Check() {
  if (balance == "least-outstanding" || balance == "least") {
    opts.balance = proxy::Balance::kLeastOutstanding;
  } else if (balance != "round-robin" && balance != "rr") {
    return Status::Error("--balance must be round-robin or least-outstanding");
  }
  struct {
    const char* flag;
    const std::string* text;
    std::chrono::milliseconds* out;
  } durations[] = {
      {"--header-timeout", &header_timeout, &opts.limits.client_header_timeout},
      {"--body-timeout", &body_timeout, &opts.limits.client_body_timeout},
      {"--idle-timeout", &idle_timeout, &opts.limits.idle_timeout},
      {"--connect-timeout", &connect_timeout, &opts.limits.upstream_connect_timeout},
      {"--response-timeout", &response_timeout, &opts.limits.upstream_response_timeout},
      {"--upstream-idle-timeout", &upstream_idle, &opts.limits.upstream_idle_timeout},
      {"--shutdown-timeout", &shutdown_timeout, &opts.limits.shutdown_timeout},
  };
  for (auto& d : durations) {
    ASSIGN_OR_RETURN(*d.out, Duration(d.flag, *d.text));
  }
  if (opts.workers < 1 || opts.workers > 256) return Status::Error("--workers must be 1-256");
  return Status::Ok();
}

}  // namespace

int ProxyCommand(int argc, char** argv) {
  // `restart` acts on a stack (through its supervisor), not on one proxy's flags.
  if (argc >= 2 && std::string(argv[1]) == "restart") return ProxyRestartCommand(argc - 1, argv + 1);
  CLI::App app{"gravity proxy: the reverse proxy and load balancer, and its control commands"};
  app.name("gravity proxy");
  app.require_subcommand(1);

  RunFlags run_flags;
  auto* run = app.add_subcommand("run", "run the proxy (until SIGTERM)");
  run_flags.Add(run);

  // ---- deploy, canary (DeployFlags), ls, rm, canary-weight, promote, drop, cert ----
  std::string control, state_dir = kDefaultStateDir;
  auto add_control = [&](CLI::App* sub) {
    sub->add_option("--control", control, "control socket (default STATE_DIR/proxy.sock)");
    sub->add_option("--state-dir", state_dir, "the proxy's state dir (default .gravity/proxy)");
  };
  DeployFlags deploys;
  deploys.Add(app, add_control);

  // ---- ls / rm ----
  bool json_out = false;
  auto* ls = app.add_subcommand("ls", "services, pools, targets and health");
  ls->add_flag("--json", json_out, "the control API's JSON document");
  add_control(ls);
  std::string service;
  auto* rm = app.add_subcommand("rm", "remove a service (its targets drain)");
  rm->add_option("SERVICE", service)->required();
  add_control(rm);

  int weight = 0;
  auto* cweight = app.add_subcommand("canary-weight", "change the canary's share");
  cweight->add_option("SERVICE", service)->required();
  cweight->add_option("WEIGHT", weight, "0-100")->required();
  add_control(cweight);
  auto* promote = app.add_subcommand("promote-canary", "the canary pool becomes the main pool");
  promote->add_option("SERVICE", service)->required();
  add_control(promote);
  auto* drop = app.add_subcommand("drop-canary", "remove the canary pool (its targets drain)");
  drop->add_option("SERVICE", service)->required();
  add_control(drop);

  CertFlags certs;
  certs.Add(app, add_control);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (run->parsed()) return run_flags.Run();

  const std::string sock = SocketPath(control, state_dir);
  if (deploys.deploy->parsed() || deploys.canary->parsed()) return deploys.Run(sock);
  ControlClient client(sock, std::chrono::seconds(30));
  if (ls->parsed()) {
    auto doc = client.List();
    if (!doc.ok()) return Fail(doc.error());
    if (json_out) {
      std::cout << doc->dump(2) << "\n";
      return 0;
    }
    return PrintList(*doc);
  }
  if (certs.cert->parsed()) return certs.Run(client);
  Status st;
  if (rm->parsed()) st = client.Remove(service);
  if (cweight->parsed()) st = client.SetCanaryWeight(service, weight);
  if (promote->parsed()) st = client.PromoteCanary(service);
  if (drop->parsed()) st = client.DropCanary(service);
  if (!st.ok()) return Fail(st.message());
  return 0;
}

}  // namespace gravity::cli
