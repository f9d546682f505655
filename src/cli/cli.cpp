#include "cli/cli.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"

namespace gravity::cli {

namespace {

constexpr const char* kUsage = R"(gravity — self-hosted continuous delivery

usage: gravity <command> [options]

  up [-f stack.yml] [--detach]        start or reconcile the stack
  down [-f stack.yml]                 stop instances, daemon and proxy
  status [--json]                     apps, environments, live release, instances
  runs [--app A] [--json]             pipeline runs
  run show ID [--logs]                one run with its stages
  deploy APP [--ref REF] [--env E]    run the pipeline for REF now
  rollback APP [--env E] [--to C]     back to the previous release
  promote APP --to ENV                deploy the release live upstream to ENV
  releases APP [--json]               releases and where they are live
  logs APP [--env E] [...]            instance logs
  certs [--json]                      certificates of the tls: hosts, expiry, errors
  daemon -f stack.yml                 the control plane (started by `up`)
  proxy run|deploy|ls|rm|cert|...     the data plane: reverse proxy and load balancer
  static DIR --port N                 a small, fast static-file server
  proxy restart [-f stack.yml]        a new proxy process for the stack
  supervise -f stack.yml              keep proxy and daemon running (left by `up`)
  install-service -f stack.yml        write a systemd unit for a server
  version                             version, git commit and build type

Run `gravity <command> --help` for a command's options.
)";

struct Entry {
  const char* name;
  int (*fn)(int, char**);
};

constexpr Entry kCommands[] = {
    {"proxy", ProxyCommand},       {"static", StaticCommand},     {"daemon", DaemonCommand},
    {"runs", RunsCommand},         {"run", RunsCommand},          {"deploy", RunsCommand},
    {"up", StackCommand},          {"down", StackCommand},        {"status", ReleaseCommand},
    {"rollback", ReleaseCommand},  {"promote", ReleaseCommand},   {"releases", ReleaseCommand},
    {"logs", ReleaseCommand},      {"supervise", SuperviseCommand},
    {"version", VersionCommand},   {"install-service", InstallServiceCommand},
    {"certs", CertsCommand},
    {"_instance", ReleaseCommand},  // internal: the wrapper each instance runs under
    {"_sandbox", ReleaseCommand},   // internal: one sandboxed build or test command
    {"_drop", ReleaseCommand},      // internal: the uid drop inside the sandbox
};

}  // namespace

int Main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const auto& e : kCommands) {
    if (std::strcmp(argv[1], e.name) == 0) return e.fn(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "gravity: unknown command '%s'\n\n%s", argv[1], kUsage);
  return 2;
}

}  // namespace gravity::cli
