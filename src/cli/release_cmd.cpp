// gravity status | releases | rollback | promote | logs — what is live where, and moving it.
// status/releases/rollback/promote talk to the daemon's API (admin.listen of the stack file,
// bearer token from the state dir); logs reads the log store (state_dir/logs.db) directly,
// catching it up with the instance and proxy files first, so it works while the daemon is
// down.

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/daemon_client.h"
#include "cli/stack.h"
#include "cli/supervision.h"
#include "common/commit.h"
#include "common/duration.h"
#include "common/fs.h"
#include "config/config.h"
#include "daemon/state_layout.h"
#include "logs/ingester.h"
#include "logs/query.h"
#include "logs/store.h"
#include "runtime/instance_wrapper.h"
#include "runtime/logs.h"
#include "runtime/sandbox.h"

namespace gravity::cli {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string WallTime(std::int64_t ms) {
  if (ms <= 0) return "-";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// Calls the daemon; prints the error and returns nullopt on failure.
std::optional<json> CallDaemon(DaemonClient& client, const std::string& method,
                               const std::string& path, const json& body = nullptr,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto r = client.Request(method, path, body.is_null() ? "" : body.dump(), timeout);
  if (!r.ok()) {
    std::fprintf(stderr, "cannot reach the daemon at %s: %s (is the stack up?)\n",
                 client.address().c_str(), r.error().c_str());
    return std::nullopt;
  }
  json j = json::parse(r->body, nullptr, false);
  if (r->status / 100 != 2) {
    std::string error = j.is_object() ? Str(j, "error") : r->body;
    std::fprintf(stderr, "%s\n",
                 error.empty() ? ("HTTP " + std::to_string(r->status)).c_str() : error.c_str());
    return std::nullopt;
  }
  if (j.is_discarded()) {
    std::fprintf(stderr, "the daemon answered %s with something that is not JSON\n", path.c_str());
    return std::nullopt;
  }
  return j;
}

void PrintInstance(const json& i) {
  std::printf("      %-34s 127.0.0.1:%-6s pid %-7s %-9s %s", Str(i, "id").c_str(),
              i.contains("port") ? std::to_string(i["port"].get<int>()).c_str() : "-",
              i.contains("pid") ? std::to_string(i["pid"].get<int>()).c_str() : "-",
              Str(i, "state").c_str(), Str(i, "health").c_str());
  if (i.value("restarts", 0) > 0) std::printf("  (%d restarts)", i["restarts"].get<int>());
  if (!Str(i, "health_error").empty()) std::printf("  %s", Str(i, "health_error").c_str());
  std::printf("\n");
  // Why it last ended, e.g. "killed: out of memory (limit 256 MiB)".
  if (!Str(i, "last_exit").empty()) {
    std::printf("        last exit: %s\n", Str(i, "last_exit").c_str());
  }
}

// `paths`: the stack's state, whose supervisor and supervised processes are shown first
// (also when the daemon does not answer); null with --admin.
int Status(DaemonClient& client, bool as_json, const StackPaths* paths = nullptr) {
  json supervision = paths ? SupervisionJson(*paths) : json(nullptr);
  if (!as_json && paths) {
    std::string lines = DescribeSupervision(*paths);
    if (!lines.empty()) std::printf("%s\n", lines.c_str());
  }
  auto st = CallDaemon(client, "GET", "/v1/status");
  if (!st) {
    if (as_json && !supervision.is_null()) {
      std::printf("%s\n", json{{"supervision", supervision}}.dump(2).c_str());
    }
    return 1;
  }
  if (as_json) {
    if (!supervision.is_null()) (*st)["supervision"] = supervision;
    std::printf("%s\n", st->dump(2).c_str());
    return 0;
  }
  if (!Str(*st, "sandbox").empty()) std::printf("sandbox: %s\n", Str(*st, "sandbox").c_str());
  for (const auto& app : st->value("apps", json::array())) {
    std::printf("%s\n", Str(app, "name").c_str());
    for (const auto& e : app.value("environments", json::array())) {
      std::string live = Str(e, "live_release");
      std::printf("  %-12s %s  host %s\n", Str(e, "name").c_str(),
                  live.empty() ? "nothing live"
                               : ("live " + ShortCommit(live) + " since " +
                                  WallTime(e.value("live_since_ms", 0LL)))
                                     .c_str(),
                  Str(e, "host").c_str());
      if (Str(e, "sandbox") == "off") {
        std::printf("    SANDBOX OFF: its instances run as root and can read the API token\n");
      }
      for (const auto& i : e.value("instances", json::array())) PrintInstance(i);
      if (e.contains("warm") && e["warm"].is_object()) {
        std::printf("    warm %s until %s (out of traffic, for instant rollback)\n",
                    ShortCommit(Str(e["warm"], "commit")).c_str(),
                    WallTime(e["warm"].value("until_ms", 0LL)).c_str());
        for (const auto& i : e["warm"].value("instances", json::array())) PrintInstance(i);
      }
      if (e.contains("canary") && e["canary"].is_object() && e.contains("last_deployment")) {
        // A canary being observed: its share of clients and what it answered so far.
        const json& c = e["canary"];
        std::printf(
            "    canary %s %s: %d%% of clients, %llu requests, %.2f%% 5xx (limit %.2f%%, "
            "judged from %d requests), main pool %llu requests",
            ShortCommit(Str(e["last_deployment"], "commit")).c_str(), Str(c, "phase").c_str(),
            c.value("weight", 0), c.value("requests", 0ULL), c.value("error_rate", 0.0) * 100.0,
            c.value("max_error_rate", 0.0) * 100.0, c.value("min_requests", 0),
            c.value("main_requests", 0ULL));
        if (c.contains("ends_at_ms")) {
          std::printf(", window ends %s", WallTime(c.value("ends_at_ms", 0LL)).c_str());
        }
        std::printf("\n");
      }
      if (e.contains("last_deployment")) {
        const json& d = e["last_deployment"];
        std::printf("    last: #%lld %s of %s %s at %s", d.value("id", 0LL), Str(d, "kind").c_str(),
                    ShortCommit(Str(d, "commit")).c_str(), Str(d, "status").c_str(),
                    WallTime(d.value("started_at_ms", 0LL)).c_str());
        if (Str(d, "status") == "succeeded") {
          std::printf(" (%lld ms)", d.value("duration_ms", 0LL));
        }
        std::printf("\n");
        if (Str(d, "status") != "succeeded" && !Str(d, "error").empty()) {
          std::printf("      %s\n", Str(d, "error").substr(0, 2000).c_str());
        }
      }
      if (!Str(e, "proxy_error").empty()) {
        std::printf("    proxy: %s\n", Str(e, "proxy_error").c_str());
      }
    }
  }
  return 0;
}

int Releases(DaemonClient& client, const std::string& app, bool as_json) {
  auto r = CallDaemon(client, "GET", "/v1/apps/" + app + "/releases");
  if (!r) return 1;
  if (as_json) {
    std::printf("%s\n", r->dump(2).c_str());
    return 0;
  }
  std::printf("%-10s %-20s %-8s %s\n", "RELEASE", "LAST DEPLOYED", "ON DISK", "WHERE");
  for (const auto& rel : r->value("releases", json::array())) {
    std::string where;
    for (const auto& e : rel.value("live_on", json::array())) {
      where += (where.empty() ? "" : ", ") + std::string("live on ") + e.get<std::string>();
    }
    for (const auto& e : rel.value("warm_on", json::array())) {
      where += (where.empty() ? "" : ", ") + std::string("warm on ") + e.get<std::string>();
    }
    std::printf("%-10s %-20s %-8s %s\n", ShortCommit(Str(rel, "commit")).c_str(),
                WallTime(rel.value("last_deployed_ms", 0LL)).c_str(),
                rel.value("on_disk", false) ? "yes" : "removed", where.c_str());
  }
  std::printf("\n%-5s %-12s %-9s %-8s %-12s %-20s %s\n", "#", "ENV", "KIND", "RELEASE", "STATUS",
              "STARTED", "TOOK");
  for (const auto& d : r->value("deployments", json::array())) {
    std::printf("%-5lld %-12s %-9s %-8s %-12s %-20s %lldms\n", d.value("id", 0LL),
                Str(d, "environment").c_str(), Str(d, "kind").c_str(),
                ShortCommit(Str(d, "commit")).c_str(), Str(d, "status").c_str(),
                WallTime(d.value("started_at_ms", 0LL)).c_str(), d.value("duration_ms", 0LL));
  }
  return 0;
}

int Move(DaemonClient& client, const std::string& path, const json& body, const std::string& what) {
  auto r = CallDaemon(client, "POST", path, body, std::chrono::minutes(15));
  if (!r) return 1;
  std::printf("%s: %s live%s after %lld ms\n", what.c_str(), ShortCommit(Str(*r, "commit")).c_str(),
              r->value("reused_warm", false) ? " (warm instances)" : "",
              r->value("duration_ms", 0LL));
  return 0;
}

// ---- logs

struct LogsArgs {
  std::string app, env, release, instance, source, since, until, grep, request;
  std::vector<std::string> fields;
  std::int64_t n = 0;
  bool json = false, follow = false;
};

// Text for a terminal: control characters (escape sequences too) shown as \xNN.
std::string Printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// "site-staging-1@4f2a9c0 | 2026-01-31T12:00:00.123Z out hello"
std::string LogLineText(const logs::Entry& e) {
  std::string label = e.source == logs::kSourceApp ? e.instance : e.source;
  std::string where = e.source == logs::kSourceProxy ? e.instance : ShortCommit(e.release);
  std::string stream = e.stream == "stdout" ? "out" : e.stream == "stderr" ? "err" : e.stream;
  return label + (where.empty() ? "" : "@" + where) + " | " + logs::FormatRfc3339Ms(e.time_ns) +
         " " + stream + " " + Printable(e.text);
}

// Catches the store up with the files (so lines are there while the daemon is down too).
void CatchUp(logs::Ingester& ingester) {
  for (int i = 0; i < 1000; ++i) {
    auto r = ingester.RunOnce();
    if (!r.ok()) {
      std::fprintf(stderr, "reading the log files: %s\n", r.error().c_str());
      return;
    }
    if (r->lines == 0) return;
  }
}

// The flags as the parameters of a log query (logs::ParseQuery), the API's names.
std::map<std::string, std::string> QueryParams(const LogsArgs& a) {
  std::map<std::string, std::string> params = {{"app", a.app}};
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) params[k] = v;
  };
  put("env", a.env);
  put("release", a.release);
  put("instance", a.instance);
  put("source", a.source);
  put("since", a.since);
  put("until", a.until);
  put("grep", a.grep);
  put("request", a.request);
  for (std::size_t i = 0; i < a.fields.size(); ++i) {
    params["field" + std::to_string(i)] = a.fields[i];
  }
  if (a.n > 0) params["n"] = std::to_string(a.n);
  return params;
}

int Logs(const config::StackSpec& stack, const LogsArgs& a) {
  if (!stack.FindApp(a.app)) {
    std::fprintf(stderr, "no app named '%s' in %s\n", a.app.c_str(), stack.file.c_str());
    return 2;
  }
  if (!a.env.empty() && !stack.FindApp(a.app)->FindEnvironment(a.env)) {
    std::fprintf(stderr, "app '%s' has no environment named '%s'\n", a.app.c_str(), a.env.c_str());
    return 2;
  }
  std::map<std::string, std::string> params = QueryParams(a);
  auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    Clock::Real().WallNow().time_since_epoch())
                    .count();
  auto query = logs::ParseQuery(params, now_ns);
  if (!query.ok()) {
    std::fprintf(stderr, "gravity logs: %s\n", query.error().c_str());
    return 2;
  }
  std::error_code ec;
  if (!fs::is_directory(stack.state_dir, ec)) {
    std::fprintf(stderr, "no instance logs for %s yet\n", a.app.c_str());
    if (!a.follow) return 0;
    (void)MakeDirs(stack.state_dir, 0700);
  }
  daemon::StateLayout layout = daemon::StateLayout::For(stack.state_dir);
  auto store = logs::LogStore::Open(layout.logs_db);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.error().c_str());
    return 1;
  }
  logs::Ingester ingester(**store, layout.logs_dir, layout.access_log, Clock::Real());
  CatchUp(ingester);
  std::int64_t last_id = 0;
  auto print = [&](const std::vector<logs::Entry>& lines) {
    for (const auto& e : lines) {
      std::string out = a.json ? logs::EntryJson(e).dump() : LogLineText(e);
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fputc('\n', stdout);
      last_id = std::max(last_id, e.id);
    }
    std::fflush(stdout);
  };
  auto lines = logs::RunQuery(**store, *query);
  if (!lines.ok()) {
    std::fprintf(stderr, "%s\n", lines.error().c_str());
    return 1;
  }
  print(*lines);
  auto usage = (*store)->Usage(a.app);
  if (usage.ok() && usage->lines == 0 && lines->empty()) {
    std::fprintf(stderr, "no instance logs for %s yet\n", a.app.c_str());
  } else if (usage.ok() && usage->dropped_lines > 0 && !a.json && !a.follow) {
    std::fprintf(stderr, "(%lld older lines of %s were dropped by retention)\n",
                 static_cast<long long>(usage->dropped_lines), a.app.c_str());
  }
  if (!a.follow) return 0;
  logs::Query next = *query;
  next.filter.limit = 0;
  next.filter.since_ns.reset();
  while (true) {  // until interrupted
    Clock::Real().SleepFor(std::chrono::milliseconds(200));
    CatchUp(ingester);
    next.filter.after_id = last_id;
    auto more = logs::RunQuery(**store, next);
    if (more.ok()) print(*more);
  }
}

void AddLogsOptions(CLI::App& cmd, LogsArgs& a) {
  cmd.add_option("app", a.app, "app name")->required();
  cmd.add_option("--env", a.env, "only this environment");
  cmd.add_option("--release", a.release, "only this release (commit prefix)");
  cmd.add_option("--instance", a.instance, "only this instance");
  cmd.add_option("--source", a.source, "only app, proxy, build, test or deploy");
  cmd.add_option("--since", a.since,
                 "only lines from this long ago (10m, 2h) or an RFC 3339 time on");
  cmd.add_option("--until", a.until, "only lines before this (as --since)");
  cmd.add_option("--grep", a.grep,
                 "only lines matching this regular expression (plain text: a substring)");
  cmd.add_option("--request", a.request,
                 "the proxy's line of this request id and every line carrying it");
  cmd.add_option("--field", a.fields,
                 "JSON lines whose field equals a value: NAME=VALUE (repeatable)");
  cmd.add_option("-n", a.n, "only the newest N lines");
  cmd.add_flag("--json", a.json, "one JSON object per line");
  cmd.add_flag("-f,--follow", a.follow, "keep printing new lines");
}

}  // namespace

int ReleaseCommand(int argc, char** argv) {
  // Internal: every instance runs under `gravity _instance` (see runtime/instance_wrapper.h).
  if (std::strcmp(argv[0], "_instance") == 0) return runtime::InstanceWrapperMain(argc, argv);
  if (std::strcmp(argv[0], "_sandbox") == 0) return runtime::SandboxMain(argc, argv);
  if (std::strcmp(argv[0], "_drop") == 0) return runtime::DropMain(argc, argv);
  std::string name = argv[0];
  CLI::App cmd{"", "gravity " + name};
  std::string file = "stack.yml", admin, app, env, to;
  bool as_json = false;
  LogsArgs logs_args;
  // `logs -f` follows (as tail does); there the stack file is only --file.
  cmd.add_option(name == "logs" ? "--file" : "-f,--file", file, "stack file")
      ->capture_default_str();
  if (name == "status") {
    cmd.description("Apps, environments, live release, instances and their health");
    cmd.add_flag("--json", as_json, "print the daemon's JSON");
    cmd.add_option("--admin", admin, "daemon API address HOST:PORT (overrides the stack file)");
  } else if (name == "releases") {
    cmd.description("An app's releases, where each is live or warm, and its deployments");
    cmd.add_option("app", app, "app name")->required();
    cmd.add_flag("--json", as_json, "print the daemon's JSON");
  } else if (name == "rollback") {
    cmd.description("Back to the warm previous release, or to --to COMMIT (from disk)");
    cmd.add_option("app", app, "app name")->required();
    cmd.add_option("--env", env, "environment (needed when the app has several)");
    cmd.add_option("--to", to, "commit (a unique prefix) to roll back to");
  } else if (name == "promote") {
    cmd.description("Deploy the release live on ENV's promote_from environment onto ENV");
    cmd.add_option("app", app, "app name")->required();
    cmd.add_option("--to", to, "environment to promote to")->required();
  } else {  // logs
    cmd.description(
        "Lines of the stack's log store (instances, proxy, builds, tests, deploys), merged by "
        "time; each prefixed with its instance and release");
    AddLogsOptions(cmd, logs_args);
  }
  try {
    cmd.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cmd.exit(e);
  }
  if (name == "status" && !admin.empty()) {
    auto client = DaemonClient::Connect(file, admin);
    if (!client.ok()) {
      std::fprintf(stderr, "%s\n", client.error().c_str());
      return 2;
    }
    return Status(*client, as_json);
  }
  auto stack = config::LoadStackSpec(file);
  if (!stack.ok()) {
    std::fprintf(stderr, "%s\n", stack.error().c_str());
    return 2;
  }
  DaemonClient client = DaemonClient::For(*stack);
  if (name == "status") {
    StackPaths paths = StackPaths::For(stack->state_dir);
    return Status(client, as_json, &paths);
  }
  if (name == "releases") return Releases(client, app, as_json);
  if (name == "rollback") {
    return Move(client, "/v1/apps/" + app + "/rollback", json{{"env", env}, {"to", to}},
                app + " rolled back");
  }
  if (name == "promote") {
    return Move(client, "/v1/apps/" + app + "/promote", json{{"to", to}},
                app + " promoted to " + to);
  }
  return Logs(*stack, logs_args);
}

}  // namespace gravity::cli
