#include "deploy/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/process.h"
#include "deploy/proxy_adapter.h"

namespace gravity::deploy {


DeployService::DeployService(store::Db& db, const config::StackSpec& stack, Options options)
    : stack_(stack) {
  std::string binary = options.gravity_binary.empty() ? SelfExecutable() : options.gravity_binary;
  launcher_ = std::make_unique<runtime::ProcessLauncher>(binary, stack.state_dir);
  runtime::SupervisorOptions so;
  so.state_dir = stack.state_dir;
  so.port_first = stack.instance_ports.first;
  so.port_last = stack.instance_ports.last;
  supervisor_ = std::make_unique<runtime::Supervisor>(so, *launcher_, Clock::Real());
  proxy_ = MakeProxyControl(options.proxy_socket);
  deployer_ = std::make_unique<Deployer>(db, *supervisor_, *proxy_, Clock::Real());
  deployer_->SetStack(stack);
  TrafficHistory::Options to;
  to.resolution = options.traffic_resolution;
  // An hour of points (2 to 3600 of them: a fine test resolution keeps less than an hour).
  to.points = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::chrono::hours(1) / options.traffic_resolution), 2, 3600);
  traffic_ = std::make_unique<TrafficHistory>(*proxy_, Clock::Real(), to);
  traffic_->SetStack(stack);
}

DeployService::~DeployService() { Stop(false); }

Status DeployService::Start() {
  RETURN_IF_ERROR(supervisor_->Recover());
  RETURN_IF_ERROR(deployer_->Init());
  // Settle what a previous daemon left before anything (a resumed pipeline run) deploys:
  // a proxy that is not answering yet leaves it pending, retried by Tick.
  Status st = deployer_->Reconcile();
  if (!st.ok()) spdlog::warn("deploy: reconcile pending: {}", st.message());
  supervisor_->StartThread();
  traffic_->Start();
  MutexLock lock(thread_mutex_);
  stop_ = false;
  thread_ = std::thread([this] { TickLoop(); });
  return Status::Ok();
}

void DeployService::TickLoop() {
  Status st = deployer_->RestoreLive();
  if (!st.ok()) spdlog::warn("deploy: restoring live releases: {}", st.message());
  while (!Stopping()) {
    deployer_->Tick();
    MutexLock lock(thread_mutex_);
    if (!stop_) thread_mutex_.WaitFor(cv_, std::chrono::milliseconds(500));
  }
}

bool DeployService::Stopping() {
  MutexLock lock(thread_mutex_);
  return stop_;
}

void DeployService::Stop(bool stop_instances) {
  {
    MutexLock lock(thread_mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  traffic_->Stop();
  supervisor_->StopThread();
  if (stop_instances) {
    MutexLock lock(stack_mutex_);
    std::vector<std::string> ids;
    for (const auto& i : supervisor_->List()) ids.push_back(i.id);
    supervisor_->Stop(ids);
  }
}

void DeployService::SetStack(const config::StackSpec& stack) {
  config::StackSpec before;
  {
    MutexLock lock(stack_mutex_);
    before = stack_;
    stack_ = stack;
  }
  deployer_->SetStack(stack);
  traffic_->SetStack(stack);
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

}  // namespace gravity::deploy
