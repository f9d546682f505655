#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

#include "cli/daemon_client.h"
#include "cli/commands.h"

namespace gravity::cli {

namespace {

std::string Clock(std::int64_t ms, bool with_ms = false) {
  if (ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = buf;
  if (with_ms) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms % 1000));
    out += frac;
  }
  return out;
}

std::string Seconds(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string FirstLine(const std::string& s, std::size_t max) {
  std::string line = s.substr(0, s.find('\n'));
  if (line.size() > max) line = line.substr(0, max - 3) + "...";
  return line;
}

int Fail(const char* cmd, const std::string& message) {
  std::fprintf(stderr, "gravity %s: %s\n", cmd, message.c_str());
  return 1;
}

void AddConnectionOptions(CLI::App& app, std::string* stack_file, std::string* admin) {
  app.add_option("-f,--file", *stack_file, "stack file (admin address and token)")
      ->capture_default_str();
  app.add_option("--admin", *admin, "daemon API address HOST:PORT (overrides the stack file)");
}

int RunsList(int argc, char** argv) {
  CLI::App app{"gravity runs: pipeline runs, newest first", "gravity runs"};
  std::string stack_file = "stack.yml", admin, app_name;
  bool json = false;
  int limit = 30;
  AddConnectionOptions(app, &stack_file, &admin);
  app.add_option("--app", app_name, "only this app");
  app.add_option("--limit", limit, "at most this many runs")->capture_default_str();
  app.add_flag("--json", json, "print JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto client = DaemonClient::Connect(stack_file, admin);
  if (!client.ok()) return Fail("runs", client.error());
  auto res = client->Get("/v1/runs?limit=" + std::to_string(limit) +
                         (app_name.empty() ? "" : "&app=" + UrlEncode(app_name)));
  if (!res.ok()) return Fail("runs", res.error());
  if (json) {
    std::printf("%s\n", (*res)["runs"].dump(2).c_str());
    return 0;
  }
  std::printf("%-6s %-12s %-10s %-14s %-11s %-9s %s\n", "ID", "APP", "COMMIT", "BRANCH", "STATUS",
              "STAGE", "ERROR");
  for (const auto& r : (*res)["runs"]) {
    std::string branch = r["branch"].get<std::string>();
    if (branch.empty()) branch = r["ref"].get<std::string>();
    std::printf("%-6lld %-12s %-10s %-14s %-11s %-9s %s\n",
                static_cast<long long>(r["id"].get<std::int64_t>()),
                r["app"].get<std::string>().c_str(),
                r["commit"].get<std::string>().substr(0, 10).c_str(), branch.c_str(),
                r["status"].get<std::string>().c_str(), r["stage"].get<std::string>().c_str(),
                FirstLine(r["error"].get<std::string>(), 80).c_str());
  }
  return 0;
}

int RunShow(int argc, char** argv) {
  CLI::App app{"gravity run show ID: one run with its stages", "gravity run show"};
  std::string stack_file = "stack.yml", admin, id;
  bool logs = false, json = false;
  AddConnectionOptions(app, &stack_file, &admin);
  app.add_option("id", id, "run id")->required();
  app.add_flag("--logs", logs, "print the run's logs");
  app.add_flag("--json", json, "print JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto client = DaemonClient::Connect(stack_file, admin);
  if (!client.ok()) return Fail("run show", client.error());
  auto run = client->Get("/v1/runs/" + UrlEncode(id));
  if (!run.ok()) return Fail("run show", run.error());
  std::optional<nlohmann::json> lines;
  if (logs) {
    auto l = client->Get("/v1/runs/" + UrlEncode(id) + "/logs");
    if (!l.ok()) return Fail("run show", l.error());
    lines = (*l)["lines"];
  }
  if (json) {
    nlohmann::json out = *run;
    if (lines) out["logs"] = *lines;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  const auto& r = *run;
  std::printf("run %lld  %s  %s\n", static_cast<long long>(r["id"].get<std::int64_t>()),
              r["app"].get<std::string>().c_str(), r["status"].get<std::string>().c_str());
  std::printf("commit   %s %s\n", r["commit"].get<std::string>().c_str(),
              r["subject"].get<std::string>().c_str());
  std::printf("ref      %s%s%s\n", r["ref"].get<std::string>().c_str(),
              r["branch"].get<std::string>().empty() ? "" : "  branch ",
              r["branch"].get<std::string>().c_str());
  std::string envs;
  for (const auto& e : r["environments"]) envs += (envs.empty() ? "" : ",") + e.get<std::string>();
  std::printf("deploys  %s\n", envs.empty() ? "-" : envs.c_str());
  std::printf("trigger  %s\n", r["trigger"].get<std::string>().c_str());
  std::printf("created  %s   started %s   finished %s\n",
              Clock(r["created_ms"].get<std::int64_t>()).c_str(),
              Clock(r["started_ms"].get<std::int64_t>()).c_str(),
              Clock(r["finished_ms"].get<std::int64_t>()).c_str());
  if (!r["release_dir"].get<std::string>().empty()) {
    std::printf("release  %s\n", r["release_dir"].get<std::string>().c_str());
  }
  std::printf("\nstages:\n");
  for (const auto& s : r["stages"]) {
    std::printf("  %-9s %-12s %8s  %s\n", s["name"].get<std::string>().c_str(),
                s["status"].get<std::string>().c_str(),
                s["duration_ms"].get<std::int64_t>() > 0
                    ? Seconds(s["duration_ms"].get<std::int64_t>()).c_str()
                    : "",
                FirstLine(s["error"].get<std::string>(), 90).c_str());
  }
  if (!r["tests"].empty()) {
    int failed = 0;
    for (const auto& t : r["tests"]) failed += t["passed"].get<bool>() ? 0 : 1;
    std::printf("\ntests: %zu files, %d failed\n", r["tests"].size(), failed);
    for (const auto& t : r["tests"]) {
      if (t["passed"].get<bool>()) continue;
      std::printf("  FAILED %s (%s, worker %d, %s)\n", t["file"].get<std::string>().c_str(),
                  t["result"].get<std::string>().c_str(), t["worker"].get<int>(),
                  Seconds(t["duration_ms"].get<std::int64_t>()).c_str());
    }
  }
  if (!r["error"].get<std::string>().empty()) {
    std::printf("\nerror:\n%s\n", r["error"].get<std::string>().c_str());
  }
  if (lines) {
    std::printf("\nlogs:\n");
    for (const auto& l : *lines) {
      std::printf("%s [%s] %s\n", Clock(l["time_ms"].get<std::int64_t>(), true).c_str(),
                  l["stage"].get<std::string>().c_str(), l["text"].get<std::string>().c_str());
    }
  }
  return 0;
}


std::string FormatMs(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, ms >= 10 ? "%.0f ms" : "%.2f ms", ms);
  return buf;
}

// One canary step's analysis: a line per metric with its numbers.
void PrintAnalysis(const nlohmann::json& a, const char* indent) {
  if (!a.is_object()) return;
  std::printf("%sscore %d, %s: %s\n", indent, a.value("score", 0),
              a.value("decision", "").c_str(), a.value("reason", "").c_str());
  for (const auto& m : a.value("metrics", nlohmann::json::array())) {
    if (m.value("source", "") == "prometheus") {  // a canary.metrics check: value and limit
      std::printf("%s  %-9s %-8s %s\n%s            query %s\n", indent,
                  m.value("name", "").c_str(), m.value("verdict", "").c_str(),
                  m.value("detail", "").c_str(), indent, m.value("query", "").c_str());
      continue;
    }
    std::printf("%s  %-9s %-8s p=%-10.3g effect %+.4g  samples %llu vs %llu\n", indent,
                m.value("name", "").c_str(), m.value("verdict", "").c_str(),
                m.value("p_value", 1.0), m.value("effect", 0.0),
                static_cast<unsigned long long>(m.value("canary_samples", std::uint64_t{0})),
                static_cast<unsigned long long>(m.value("baseline_samples", std::uint64_t{0})));
    std::printf("%s            %s\n", indent, m.value("detail", "").c_str());
  }
  auto q = [](const nlohmann::json& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : " / ") + FormatMs(x.get<double>());
    return out;
  };
  if (a.contains("canary_latency_ms")) {
    std::printf("%s  latency p50/p90/p99: %s vs %s\n", indent, q(a["canary_latency_ms"]).c_str(),
                q(a["baseline_latency_ms"]).c_str());
  }
}

int DeployShow(int argc, char** argv) {
  CLI::App app{"gravity deploy show ID: one deployment, its canary steps and watch",
               "gravity deploy show"};
  std::string stack_file = "stack.yml", admin;
  long long id = 0;
  bool as_json = false;
  AddConnectionOptions(app, &stack_file, &admin);
  app.add_option("id", id, "deployment id (as `gravity status` and the releases list show)")
      ->required()
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", as_json, "print the API's JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto client = DaemonClient::Connect(stack_file, admin);
  if (!client.ok()) return Fail("deploy show", client.error());
  auto res = client->Get("/v1/deployments/" + std::to_string(id));
  if (!res.ok()) return Fail("deploy show", res.error());
  const nlohmann::json& d = *res;
  if (as_json) {
    std::printf("%s\n", d.dump(2).c_str());
    return 0;
  }
  std::printf("deployment %lld: %s of %s to %s/%s, %s\n", id, d.value("kind", "").c_str(),
              d.value("commit", "").substr(0, 7).c_str(), d.value("app", "").c_str(),
              d.value("environment", "").c_str(), d.value("status", "").c_str());
  if (!d.value("error", "").empty()) std::printf("error: %s\n", d["error"].get<std::string>().c_str());
  const nlohmann::json c = d.value("canary", nlohmann::json());
  if (c.is_object()) {
    std::printf("\ncanary: %s, %s\n", c.value("phase", "").c_str(), c.value("verdict", "").c_str());
    int k = 0;
    for (const auto& st : c.value("steps", nlohmann::json::array())) {
      ++k;
      std::printf("  step %d: %d%% for %s%s: %s\n", k, st.value("weight", 0),
                  Seconds(st.value("duration_ms", std::int64_t{0})).c_str(),
                  st.value("extensions", 0) ? (" (extended " + std::to_string(st.value("extensions", 0)) + "x)").c_str() : "",
                  st.value("decision", "running").c_str());
      PrintAnalysis(st.value("analysis", nlohmann::json()), "    ");
    }
  }
  const nlohmann::json w = d.value("watch", nlohmann::json());
  if (w.is_object()) {
    std::printf("\nwatch: %s%s%s\n", w.value("phase", "").c_str(),
                w.value("verdict", "").empty() ? "" : ", ", w.value("verdict", "").c_str());
    PrintAnalysis(w.value("analysis", nlohmann::json()), "  ");
  }
  return 0;
}

int Deploy(int argc, char** argv) {
  CLI::App app{"gravity deploy APP: run the pipeline for a ref now", "gravity deploy"};
  std::string stack_file = "stack.yml", admin, app_name, ref, env;
  bool wait = false;
  AddConnectionOptions(app, &stack_file, &admin);
  app.add_option("app", app_name, "app name")->required();
  app.add_option("--ref", ref, "branch, tag or commit (default: the environment's branch)");
  app.add_option("--env", env, "environment (default: the first one with a branch)");
  app.add_flag("--wait", wait, "wait for the run to end; exit status 0 only if it succeeded");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto client = DaemonClient::Connect(stack_file, admin);
  if (!client.ok()) return Fail("deploy", client.error());
  nlohmann::json body = nlohmann::json::object();
  if (!ref.empty()) body["ref"] = ref;
  if (!env.empty()) body["env"] = env;
  auto res = client->Post("/v1/apps/" + UrlEncode(app_name) + "/deploy", body);
  if (!res.ok()) return Fail("deploy", res.error());
  std::int64_t id = (*res)["run"].get<std::int64_t>();
  std::printf("run %lld queued for %s %s\n", static_cast<long long>(id), app_name.c_str(),
              res->value("commit", "").c_str());
  if (!wait) return 0;
  for (;;) {
    auto run = client->Get("/v1/runs/" + std::to_string(id));
    if (!run.ok()) return Fail("deploy", run.error());
    if ((*run)["done"].get<bool>()) {
      std::string status = (*run)["status"];
      std::printf("run %lld %s%s%s\n", static_cast<long long>(id), status.c_str(),
                  (*run)["error"].get<std::string>().empty() ? "" : ": ",
                  (*run)["error"].get<std::string>().c_str());
      return status == "succeeded" ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // polling the daemon
  }
}

}  // namespace

// gravity runs | gravity run show ID | gravity deploy APP | gravity deploy show ID
int RunsCommand(int argc, char** argv) {
  if (std::strcmp(argv[0], "runs") == 0) return RunsList(argc, argv);
  if (std::strcmp(argv[0], "deploy") == 0) {
    // "deploy show ID"; an app named "show" is still `gravity deploy show` without an id.
    if (argc >= 3 && std::strcmp(argv[1], "show") == 0 && argv[2][0] != '-') {
      return DeployShow(argc - 1, argv + 1);
    }
    return Deploy(argc, argv);
  }
  // "run": the only subcommand is "show".
  if (argc < 2 || std::strcmp(argv[1], "show") != 0) {
    std::fprintf(stderr, "usage: gravity run show ID [--logs] [--json]\n");
    return 2;
  }
  return RunShow(argc - 1, argv + 1);
}

}  // namespace gravity::cli
