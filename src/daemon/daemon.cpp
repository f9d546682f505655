#include "daemon/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

#include "api/cert_routes.h"
#include "api/dashboard.h"
#include "api/deploy_routes.h"
#include "api/log_routes.h"
#include "api/pipeline_routes.h"
#include "api/traffic_routes.h"
#include "common/duration.h"
#include "common/fs.h"
#include "common/net.h"
#include "common/process.h"
#include "daemon/pid_file.h"
#include "daemon/token.h"
#include "runtime/sandbox.h"

namespace gravity::daemon {

Daemon::Daemon(config::StackSpec stack)
    : stack_(std::move(stack)), layout_(StateLayout::For(stack_.state_dir)) {}

Daemon::~Daemon() { Stop(); }

Status Daemon::Init() {
  RETURN_IF_ERROR(MakeDirs(layout_.state_dir, 0700));
  RETURN_IF_ERROR(TakePidFile(layout_.daemon_pid, "gravity daemon", layout_.state_dir));
  owns_pid_file_ = true;
  ASSIGN_OR_RETURN(db_, store::Db::Open(layout_.db));
  RETURN_IF_ERROR(GuardAdminApi());
  RETURN_IF_ERROR(OpenLogs());
  RETURN_IF_ERROR(OpenPipeline());
  RETURN_IF_ERROR(StartDeploys());
  return AddRoutes();
}

// The admin API's token (made on first start) and who may call it.
Status Daemon::GuardAdminApi() {
  ASSIGN_OR_RETURN(std::string token, LoadOrMakeToken(layout_.token));
  router_.SetToken(token);
  router_.RequireLoopbackHost(IsLoopbackHost(stack_.admin_listen.host));
  if (!IsLoopbackHost(stack_.admin_listen.host)) {
    // Beyond loopback, runs, logs and paths are not for everyone: every call needs the
    // token (webhooks excepted: their own signature authenticates them).
    router_.RequireTokenForReads(true);
    spdlog::warn("admin API on {}: not a loopback address, every call needs the token",
                 stack_.admin_listen.ToString());
  }
  return Status::Ok();
}

// The log store, its ingester and logs.forward's destinations.
Status Daemon::OpenLogs() {
  logs::ServiceOptions log_options;
  log_options.store_path = layout_.logs_db;
  log_options.logs_root = layout_.logs_dir;
  log_options.access_log = layout_.access_log;
  log_options.retention.max_bytes = stack_.logs.max_bytes;
  log_options.retention.max_age_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(stack_.logs.max_age).count();
  for (const auto& f : stack_.logs.forward) {
    logs::Destination d;
    d.kind = static_cast<logs::Destination::Kind>(f.kind);  // the same order, one to one
    d.host = f.host;
    d.port = f.port;
    d.path = f.path;
    spdlog::info("logs: forwarding to {}", d.Describe());
    forwarders_.push_back(std::make_unique<logs::Forwarder>(d, Clock::Real()));
    forwarders_.back()->Start();
  }
  if (!forwarders_.empty()) {
    log_options.on_stored = [this](const std::vector<logs::Entry>& lines) {
      for (auto& f : forwarders_) f->Offer(lines);
    };
  }
  ASSIGN_OR_RETURN(logs_, logs::LogService::Open(log_options));
  return Status::Ok();
}

// The pipeline (its stages' output to the log store); warns of environments unsandboxed.
Status Daemon::OpenPipeline() {
  pipeline::PipelineOptions options;
  options.state_dir = layout_.state_dir;
  options.output_sink = [logs = logs_.get()](const std::string& app, const std::string& commit,
                                             const std::string& stage,
                                             const std::vector<pipeline::LogLine>& lines) {
    // The deploy stage's lines come to the store as the deployer's events (below).
    if (stage == "deploy") return;
    std::vector<std::pair<std::int64_t, std::string>> out;
    out.reserve(lines.size());
    for (const auto& l : lines) out.emplace_back(l.time_ms, l.text);
    logs->RecordStage(app, commit, stage, out);
  };
  options.gravity_binary = SelfExecutable();  // build and test commands run sandboxed
  spdlog::info("sandbox: {}", runtime::SandboxSummary());
  if (Status s = runtime::SandboxAvailable(); !s.ok()) spdlog::error("sandbox: {}", s.message());
  for (const auto& app : stack_.apps) {
    for (const auto& env : app.environments) {
      if (env.sandbox == SandboxMode::kOff) {
        spdlog::warn(
            "SANDBOX OFF for {}/{} (sandbox: off in {}): its instances run as root "
            "and can read the API token, the database and every app's files",
            app.name, env.name, stack_.file);
      }
    }
  }
  pipeline_ = std::make_unique<pipeline::Pipeline>(*db_, stack_, options);
  return pipeline_->Init();
}

// The deploy service (re-adopts instances, reconciles with the proxy), its events to the
// log store, and the pipeline's deploy stage handed to it.
Status Daemon::StartDeploys() {
  deploy::DeployService::Options deploy_options;
  deploy_options.proxy_socket = layout_.proxy_socket;
  // GRAVITY_TRAFFIC_RESOLUTION (e.g. 500ms): a finer traffic history, for tests.
  if (const char* r = std::getenv("GRAVITY_TRAFFIC_RESOLUTION"); r && *r) {
    auto d = ParseDuration(r);
    if (!d.ok() || d->count() <= 0) {
      return Status::InvalidArgument(std::string("GRAVITY_TRAFFIC_RESOLUTION '") + r +
                                     "' is not a positive duration such as 500ms or 10s");
    }
    deploy_options.traffic_resolution = *d;
  }
  deploys_ = std::make_unique<deploy::DeployService>(*db_, stack_, deploy_options);
  // Deploy events (deploys, rollbacks, promotions, restarts, retention) go to the log store
  // as source deploy: "site/staging: traffic switched to 4f2a9c0 in 812 ms".
  deploys_->deployer().SetProgress([this, logs = logs_.get()](const std::string& line) {
    std::string where = line.substr(0, line.find(':'));
    std::size_t slash = where.find('/');
    std::string app = where.substr(0, slash);
    std::string env = slash == std::string::npos ? "" : where.substr(slash + 1);
    if (!stack_.FindApp(app)) return;
    logs->RecordDeployEvent(app, env, "", line);
  });
  RETURN_IF_ERROR(deploys_->Start());
  pipeline_->SetDeployHook([this](const pipeline::DeployRequest& r) { return Deploy(r); });
  return Status::Ok();
}

// The admin API's routes (and the TLS certificates' manager, with proxy.https), and the
// webhook listener's.
Status Daemon::AddRoutes() {
  api::AddPipelineRoutes(router_, *pipeline_);
  api::AddDeployRoutes(router_, deploys_->deployer(), [this](bool stop_instances) {
    stop_instances_.store(stop_instances);
    ::kill(::getpid(), SIGTERM);  // the process's sigwait picks it up and stops in order
  });
  if (stack_.proxy_https) {
    certs::ManagerOptions o;
    o.certs_dir = layout_.certs_dir;
    o.account_key_path = layout_.acme_key;
    o.proxy_socket = layout_.proxy_socket;
    o.acme = stack_.proxy_https->acme;
    if (o.acme) RETURN_IF_ERROR(MakeDirs(layout_.state_dir + "/acme", 0700));
    certs_ = std::make_unique<certs::CertManager>(o, certs::HostsOf(stack_));
  }
  api::AddCertRoutes(router_, certs_.get());
  api::AddLogRoutes(router_, logs_->store(), Clock::Real());
  api::AddTrafficRoutes(router_, deploys_->traffic());
  api::AddDashboardRoutes(router_);
  if (stack_.webhooks) api::AddWebhookRoutes(hook_router_, *pipeline_);
  return Status::Ok();
}

Status Daemon::Deploy(const pipeline::DeployRequest& request) {
  // The one place a pipeline release becomes a deploy::Release.
  deploy::Release release;
  release.app = request.app;
  release.commit = request.commit;
  release.release_dir = request.release_dir;
  release.spec = request.spec;
  auto& deployer = deploys_->deployer();
  if (request.resumed && deployer.ServesLive(request.app, request.environment, request.commit)) {
    // The interrupted run's deploy went live before the restart (Reconcile completed it).
    if (request.log) request.log(request.commit.substr(0, 7) + " is already live: nothing to deploy");
    return Status::Ok();
  }
  return deployer.Deploy(request.environment, release, request.log, request.verify).status();
}

Status Daemon::Start() {
  api::ServerOptions options;
  options.host = stack_.admin_listen.host;
  options.port = stack_.admin_listen.port;
  // Sandboxed apps, builds and tests share the host's loopback: the API is not theirs.
  options.refuse_local_uid = [](unsigned uid) { return runtime::IsSandboxUid(uid); };
  server_ = std::make_unique<api::HttpServer>(router_, options);
  RETURN_IF_ERROR(server_->Start());
  if (stack_.webhooks) {
    // A listener with the webhook routes only, which the proxy exposes on the public host:
    // nothing else of the daemon is reachable through it.
    api::ServerOptions hooks;
    hooks.host = stack_.webhooks->listen.host;
    hooks.port = stack_.webhooks->listen.port;
    hook_server_ = std::make_unique<api::HttpServer>(hook_router_, hooks);
    Status st = hook_server_->Start();
    if (!st.ok()) return st.Prefixed("webhooks.listen");
    std::string address = config::ListenAddress{hooks.host, hook_server_->port()}.ToString();
    deploys_->deployer().RouteWebhooks(stack_.webhooks->host, address);
    spdlog::info("webhooks: listening on {} for http(s)://{}/hooks/<app>", address,
                 stack_.webhooks->host);
  }
  pipeline_->Start();
  logs_->Start();
  if (certs_) certs_->Start();
  spdlog::info("gravity daemon: API on {}:{}, state in {}", options.host, server_->port(),
               stack_.state_dir);
  CatchUpNewEnvironments(*pipeline_, deploys_->deployer(), stack_);
  return Status::Ok();
}

void Daemon::Stop() {
  // First of all, a canary or watch in progress ends at its next poll (its run is then
  // interrupted, not failed), so that neither the API's threads nor the pipeline's runner,
  // both joined below, hold the stop for the rest of a step.
  if (pipeline_) pipeline_->BeginStop();
  if (deploys_) deploys_->deployer().RequestStop();
  if (server_) server_->Stop();
  if (hook_server_) hook_server_->Stop();
  if (pipeline_) pipeline_->Stop();
  if (certs_) certs_->Stop();
  if (logs_) logs_->Stop();
  for (auto& f : forwarders_) f->Stop();
  if (owns_pid_file_) {
    ::unlink(layout_.daemon_pid.c_str());
    owns_pid_file_ = false;
  }
  // Instances outlive the daemon unless `gravity down` asked for them to stop.
  if (deploys_) deploys_->Stop(stop_instances_.load());
  deploys_.reset();
}

}  // namespace gravity::daemon
