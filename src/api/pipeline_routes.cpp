#include "api/pipeline_routes.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "common/strings.h"
#include "common/version.h"

namespace gravity::api {

namespace {

bool IsTerminal(const std::string& status) {
  return status == "succeeded" || status == "failed" || status == "superseded" ||
         status == "interrupted";
}

}  // namespace

nlohmann::json RunToJson(const pipeline::RunRecord& run) {
  std::int64_t end = run.finished_ms;
  std::int64_t duration = run.started_ms && end ? end - run.started_ms : 0;
  return {{"id", run.id},
          {"app", run.app},
          {"branch", run.branch},
          {"ref", run.ref},
          {"commit", run.commit},
          {"subject", run.subject},
          {"author", run.author},
          {"environments", SplitNonEmpty(run.environments, ',')},
          {"trigger", run.trigger},
          {"status", run.status},
          {"stage", run.stage},
          {"error", run.error},
          {"release_dir", run.release_dir},
          {"created_ms", run.created_ms},
          {"started_ms", run.started_ms},
          {"finished_ms", run.finished_ms},
          {"duration_ms", duration},
          {"done", IsTerminal(run.status)}};
}

namespace {

using pipeline::Pipeline;

bool ParseRunId(const Request& req, std::int64_t* id) {
  try {
    std::size_t used = 0;
    *id = std::stoll(req.Param("id"), &used);
    return used == req.Param("id").size() && *id > 0;
  } catch (...) {
    return false;
  }
}

Response Apps(Pipeline& p) {
  nlohmann::json apps = nlohmann::json::array();
  for (const auto& app : p.stack().apps) {
    nlohmann::json branches = nlohmann::json::array();
    auto states = p.runs().Branches(app.name);
    if (states.ok()) {
      for (const auto& b : *states) {
        branches.push_back({{"branch", b.branch},
                            {"commit", b.commit},
                            {"error", b.error},
                            {"checked_ms", b.checked_ms}});
      }
    }
    nlohmann::json envs = nlohmann::json::array();
    for (const auto& e : app.environments) {
      nlohmann::json env = {{"name", e.name},
                            {"branch", e.branch},
                            {"promote_from", e.promote_from},
                            {"paused", false}};
      if (auto paused = p.runs().Paused(app.name, e.name); paused.ok() && *paused) {
        env["paused"] = true;
        env["paused_ms"] = (*paused)->paused_ms;
        env["missed"] = (*paused)->missed;
      }
      envs.push_back(env);
    }
    auto remote_error = p.runs().RemoteError(app.name);
    apps.push_back({{"name", app.name},
                    {"repo", app.repo},
                    {"remote_error", remote_error.ok() ? *remote_error : ""},
                    {"branches", branches},
                    {"environments", envs}});
  }
  return Response::Json(200, {{"apps", apps}});
}

Response Runs(Pipeline& p, const Request& req) {
  int limit = std::atoi(req.Query("limit", "50").c_str());
  if (limit <= 0 || limit > 1000) limit = 50;
  std::string app = req.Query("app");
  auto runs = p.runs().ListRuns(app, limit);
  if (!runs.ok()) return Response::Error(500, runs.error());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : *runs) out.push_back(RunToJson(r));
  return Response::Json(200, {{"runs", out}});
}

// One run with its stages and test files (GET /v1/runs/:id and the stream's "run" events).
nlohmann::json RunDetailJson(Pipeline& p, const pipeline::RunRecord& run) {
  nlohmann::json j = RunToJson(run);
  nlohmann::json stages = nlohmann::json::array();
  if (auto s = p.runs().Stages(run.id); s.ok()) {
    for (const auto& st : *s) {
      stages.push_back({{"name", st.name},
                        {"status", st.status},
                        {"error", st.error},
                        {"started_ms", st.started_ms},
                        {"finished_ms", st.finished_ms},
                        {"duration_ms", st.finished_ms ? st.finished_ms - st.started_ms : 0}});
    }
  }
  nlohmann::json tests = nlohmann::json::array();
  if (auto t = p.runs().Tests(run.id); t.ok()) {
    for (const auto& tr : *t) {
      tests.push_back({{"file", tr.file},
                       {"worker", tr.worker},
                       {"passed", tr.passed},
                       {"started_ms", tr.started_ms},
                       {"duration_ms", tr.duration_ms},
                       {"result", tr.result}});
    }
  }
  j["stages"] = stages;
  j["tests"] = tests;
  return j;
}

Response Run(Pipeline& p, const Request& req) {
  std::int64_t id = 0;
  if (!ParseRunId(req, &id)) return Response::Error(400, "run id must be a positive number");
  auto run = p.runs().GetRun(id);
  if (!run.ok()) return Response::Error(500, run.error());
  if (!*run) return Response::Error(404, "no run " + req.Param("id"));
  return Response::Json(200, RunDetailJson(p, **run));
}

// What one client of GET /v1/runs/:id/stream has been sent so far.
struct RunStreamState {
  std::int64_t run = 0;
  std::int64_t cursor = 0;  // seq of the last line sent
  std::string last_run;     // the last "run" event's data (sent again only when it changes)
};

// One poll of a run's stream: new lines ("line", id = seq), the run when it changed
// ("run"), and "end" once the run is over and every line is out. False when ended.
bool PollRunStream(Pipeline& p, RunStreamState& st, SseBuffer& out) {
  constexpr int kBatch = 500;
  auto run = p.runs().GetRun(st.run);
  if (!run.ok() || !*run) {
    out.Push({"", "end", R"({"error":"the run is gone"})"});
    return false;
  }
  auto lines = p.runs().LogsAfter(st.run, st.cursor, kBatch);
  if (!lines.ok()) return true;  // try again on the next poll
  bool all_out = lines->size() < static_cast<std::size_t>(kBatch);
  for (const auto& l : *lines) {
    nlohmann::json j = {{"stage", l.stage}, {"time_ms", l.time_ms}, {"text", l.text}};
    if (!out.Push({std::to_string(l.seq), "line",
                   j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)})) {
      all_out = false;  // the client's buffer is full: the rest on a later poll
      break;
    }
    st.cursor = l.seq;
  }
  std::string now =
      RunDetailJson(p, **run).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (now != st.last_run && out.Push({"", "run", now})) st.last_run = now;
  if (IsTerminal((*run)->status) && all_out && st.last_run == now) {
    return !out.Push({"", "end", nlohmann::json{{"status", (*run)->status}}.dump()});
  }
  return true;
}

Response RunStream(Pipeline& p, const Request& req) {
  std::int64_t id = 0;
  if (!ParseRunId(req, &id)) return Response::Error(400, "run id must be a positive number");
  auto run = p.runs().GetRun(id);
  if (!run.ok()) return Response::Error(500, run.error());
  if (!*run) return Response::Error(404, "no run " + req.Param("id"));
  auto st = std::make_shared<RunStreamState>();
  st->run = id;
  // A reconnecting client says where it was (Last-Event-ID, or ?after= for clients that
  // cannot set headers).
  std::string after = req.Header("last-event-id");
  if (after.empty()) after = req.Query("after");
  st->cursor = std::max<std::int64_t>(0, std::atoll(after.c_str()));
  Response r;
  r.stream = std::make_shared<EventStream>();
  r.stream->poll = [&p, st](SseBuffer& out) { return PollRunStream(p, *st, out); };
  return r;
}

Response RunLogs(Pipeline& p, const Request& req) {
  std::int64_t id = 0;
  if (!ParseRunId(req, &id)) return Response::Error(400, "run id must be a positive number");
  auto run = p.runs().GetRun(id);
  if (!run.ok()) return Response::Error(500, run.error());
  if (!*run) return Response::Error(404, "no run " + req.Param("id"));
  auto logs = p.runs().Logs(id, req.Query("stage"));
  if (!logs.ok()) return Response::Error(500, logs.error());
  nlohmann::json lines = nlohmann::json::array();
  for (const auto& l : *logs) {
    lines.push_back({{"stage", l.stage}, {"time_ms", l.time_ms}, {"text", l.text}});
  }
  return Response::Json(200, {{"run", id}, {"lines", lines}});
}

Response RequestRun(Pipeline& p, const Request& req) {
  std::string ref, env;
  if (!req.body.empty()) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Response::Error(400, "body must be a JSON object {\"ref\":..,\"env\":..}");
    }
    if (j.contains("ref") && !j["ref"].is_string())
      return Response::Error(400, "'ref' must be a string");
    if (j.contains("env") && !j["env"].is_string())
      return Response::Error(400, "'env' must be a string");
    ref = j.value("ref", "");
    env = j.value("env", "");
  }
  if (!p.stack().FindApp(req.Param("app"))) {
    return Response::Error(404, "no app '" + req.Param("app") + "' in the stack");
  }
  auto id = p.RequestRun(req.Param("app"), ref, env);
  if (!id.ok()) return Response::Error(422, id.error());
  auto run = p.runs().GetRun(*id);
  nlohmann::json j = {{"ok", true}, {"run", *id}};
  if (run.ok() && *run) j["commit"] = (*run)->commit;
  return Response::Json(202, j);
}

Response Pause(Pipeline& p, const Request& req) {
  Status st = p.Pause(req.Param("app"), req.Param("env"));
  if (!st.ok()) return Response::Error(st.IsNotFound() ? 404 : 500, st.message());
  return Response::Json(200, {{"ok", true}, {"paused", true}});
}

Response Resume(Pipeline& p, const Request& req) {
  auto run = p.Resume(req.Param("app"), req.Param("env"));
  if (!run.ok()) return Response::Error(run.status().IsNotFound() ? 404 : 422, run.error());
  nlohmann::json j = {{"ok", true}, {"paused", false}};
  if (*run) j["run"] = *run;
  return Response::Json(200, j);
}

Response Webhook(Pipeline& p, const Request& req) {
  auto r = p.HandleWebhook(req.Param("app"), req.Header("x-github-event"),
                           req.Header("x-hub-signature-256"), req.body);
  return Response::Json(r.status, {{"ok", r.status < 300}, {"message", r.message}});
}

}  // namespace

void AddPipelineRoutes(Router& router, Pipeline& pipeline) {
  Pipeline* p = &pipeline;
  router.Add("GET", "/v1/health", [](const Request&) {
    return Response::Json(200, {{"ok", true},
                                {"pid", ::getpid()},
                                {"version", Version()},
                                {"commit", GitCommit()},
                                {"build_type", BuildType()}});
  });
  router.Add("GET", "/v1/apps", [p](const Request&) { return Apps(*p); });
  router.Add("GET", "/v1/runs", [p](const Request& req) { return Runs(*p, req); });
  router.Add("GET", "/v1/runs/:id", [p](const Request& req) { return Run(*p, req); });
  router.Add("GET", "/v1/runs/:id/logs", [p](const Request& req) { return RunLogs(*p, req); });
  router.Add("GET", "/v1/runs/:id/stream", [p](const Request& req) { return RunStream(*p, req); });
  router.Add("POST", "/v1/apps/:app/deploy",
             [p](const Request& req) { return RequestRun(*p, req); });
  router.Add("POST", "/v1/apps/:app/environments/:env/pause",
             [p](const Request& req) { return Pause(*p, req); });
  router.Add("POST", "/v1/apps/:app/environments/:env/resume",
             [p](const Request& req) { return Resume(*p, req); });
  router.Add("POST", "/v1/apps/:app/fetch", [p](const Request& req) {
    Status st = p->TriggerFetch(req.Param("app"), "manual");
    if (!st.ok()) return Response::Error(404, st.message());
    return Response::Json(202, {{"ok", true}});
  });
  router.Add(
      "POST", "/hooks/:app",
      [p](const Request& req) { return Webhook(*p, req); },
      Auth::kNone);
}

void AddWebhookRoutes(Router& router, pipeline::Pipeline& pipeline) {
  Pipeline* p = &pipeline;
  router.Add(
      "POST", "/hooks/:app",
      [p](const Request& req) { return Webhook(*p, req); },
      Auth::kNone);
  router.Add(
      "GET", "/hooks", [](const Request&) { return Response::Json(200, {{"ok", true}}); },
      Auth::kNone);
}

}  // namespace gravity::api
