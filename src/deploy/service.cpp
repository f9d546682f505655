#include "deploy/service.h"

#include <spdlog/spdlog.h>

#include "common/process.h"
#include "deploy/proxy_adapter.h"

namespace gravity::deploy {

namespace {

using json = nlohmann::json;

std::pair<int, json> Error(int status, const std::string& message) {
  return {status, json{{"ok", false}, {"error", message}}};
}

json OutcomeJson(const DeployOutcome& o) {
  return json{{"ok", true},
              {"deployment", o.deployment_id},
              {"commit", o.commit},
              {"reused_warm", o.reused_warm},
              {"duration_ms", o.duration_ms},
              {"switched_after_ms", o.switched_after_ms},
              {"instances", o.instances}};
}

// 404 for unknown apps/environments, 422 for a deploy that did not go live.
int StatusFor(const std::string& error) {
  if (error.rfind("no app named", 0) == 0 ||
      error.find("has no environment named") != std::string::npos) {
    return 404;
  }
  return 422;
}

}  // namespace

DeployService::DeployService(store::Db& db, const config::StackSpec& stack, Options options)
    : stack_(stack) {
  std::string socket =
      options.proxy_socket.empty() ? stack.state_dir + "/proxy.sock" : options.proxy_socket;
  std::string binary = options.gravity_binary.empty() ? SelfExecutable() : options.gravity_binary;
  launcher_ = std::make_unique<runtime::ProcessLauncher>(binary, stack.state_dir);
  runtime::SupervisorOptions so;
  so.state_dir = stack.state_dir;
  so.port_first = stack.instance_ports.first;
  so.port_last = stack.instance_ports.last;
  supervisor_ = std::make_unique<runtime::Supervisor>(so, *launcher_, Clock::Real());
  proxy_ = MakeProxyControl(socket);
  deployer_ = std::make_unique<Deployer>(db, *supervisor_, *proxy_, Clock::Real());
  deployer_->SetStack(stack);
}

DeployService::~DeployService() { Stop(false); }

Status DeployService::Start() {
  RETURN_IF_ERROR(supervisor_->Recover());
  RETURN_IF_ERROR(deployer_->Init());
  supervisor_->StartThread();
  std::lock_guard lock(thread_mutex_);
  stop_ = false;
  thread_ = std::thread([this] { TickLoop(); });
  return Status::Ok();
}

void DeployService::TickLoop() {
  Status st = deployer_->Reconcile();
  if (!st.ok()) spdlog::warn("deploy: reconcile pending: {}", st.message());
  st = deployer_->RestoreLive();
  if (!st.ok()) spdlog::warn("deploy: restoring live releases: {}", st.message());
  std::unique_lock lock(thread_mutex_);
  while (!stop_) {
    lock.unlock();
    deployer_->Tick();
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; });
  }
}

void DeployService::Stop(bool stop_instances) {
  {
    std::lock_guard lock(thread_mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  supervisor_->StopThread();
  if (stop_instances) {
    std::lock_guard lock(stack_mutex_);
    std::vector<std::string> ids;
    for (const auto& i : supervisor_->List()) ids.push_back(i.id);
    supervisor_->Stop(ids);
  }
}

void DeployService::SetStack(const config::StackSpec& stack) {
  config::StackSpec before;
  {
    std::lock_guard lock(stack_mutex_);
    before = stack_;
    stack_ = stack;
  }
  deployer_->SetStack(stack);
  for (const auto& app : before.apps) {
    const config::StackApp* now = stack.FindApp(app.name);
    for (const auto& env : app.environments) {
      if (now && now->FindEnvironment(env.name)) continue;
      Status st = deployer_->RemoveEnvironment(app.name, env.name);
      spdlog::info("deploy: {}/{} removed from the stack{}{}", app.name, env.name,
                   st.ok() ? "" : ": ", st.message());
    }
  }
}

Status DeployService::DeployHook(const pipeline::DeployRequest& request) {
  Release release;
  release.app = request.app;
  release.commit = request.commit;
  release.release_dir = request.release_dir;
  release.spec = request.spec;
  auto out = deployer_->Deploy(request.environment, release, request.log);
  if (!out.ok()) return out.status();
  return Status::Ok();
}

std::pair<int, json> DeployService::HandleStatus() { return {200, deployer_->StatusJson()}; }

std::pair<int, json> DeployService::HandleReleases(const std::string& app) {
  auto r = deployer_->ReleasesJson(app);
  if (!r.ok()) return Error(404, r.error());
  return {200, *r};
}

std::pair<int, json> DeployService::HandleRollback(const std::string& app,
                                                   const std::string& body) {
  json j = body.empty() ? json::object() : json::parse(body, nullptr, false);
  if (!j.is_object()) return Error(400, "rollback: the body must be a JSON object");
  auto field = [&](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  std::string env = field("env"), to = field("to");
  auto out = deployer_->Rollback(app, env, to);
  if (!out.ok()) return Error(StatusFor(out.error()), out.error());
  return {200, OutcomeJson(*out)};
}

std::pair<int, json> DeployService::HandlePromote(const std::string& app, const std::string& body) {
  json j = body.empty() ? json::object() : json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("to") || !j["to"].is_string()) {
    return Error(400, "promote: the body must be {\"to\": \"ENV\"}");
  }
  auto out = deployer_->Promote(app, j["to"].get<std::string>());
  if (!out.ok()) return Error(StatusFor(out.error()), out.error());
  return {200, OutcomeJson(*out)};
}

}  // namespace gravity::deploy
