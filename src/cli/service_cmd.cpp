// gravity install-service -f stack.yml [--dir DIR] [--name NAME] [--user USER]: writes the
// systemd unit that supervises the stack on a server (docs/operations.md).

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/service_unit.h"
#include "common/fs.h"
#include "common/process.h"
#include "common/version.h"
#include "config/config.h"

namespace gravity::cli {

int InstallServiceCommand(int argc, char** argv) {
  CLI::App app{"Write a systemd unit that runs and supervises the stack",
               "gravity install-service"};
  std::string file = "stack.yml", dir = "/etc/systemd/system", name = "gravity", user,
              binary = SelfExecutable();
  app.add_option("-f,--file", file, "stack file")->capture_default_str();
  app.add_option("--dir", dir, "where to write NAME.service")->capture_default_str();
  app.add_option("--name", name, "unit name")->capture_default_str();
  app.add_option("--user", user, "User= of the unit (default: the caller unless root)");
  app.add_option("--binary", binary, "gravity binary the unit runs")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto stack = config::LoadStackSpec(file);
  if (!stack.ok()) {
    std::fprintf(stderr, "%s\n", stack.error().c_str());
    return 2;
  }
  if (user.empty() && ::getuid() != 0) {
    if (const passwd* pw = ::getpwuid(::getuid())) user = pw->pw_name;
  }
  ServiceUnitOptions o;
  std::error_code ec;
  o.binary = std::filesystem::absolute(binary, ec).string();
  o.stack_file = std::filesystem::absolute(stack->file, ec).string();
  o.state_dir = std::filesystem::absolute(stack->state_dir, ec).string();
  o.user = user;
  o.version = Version();
  const std::string path = dir + "/" + name + ".service";
  if (Status st = MakeDirs(dir); !st.ok()) {
    std::fprintf(stderr, "gravity install-service: %s\n", st.message().c_str());
    return 1;
  }
  if (Status st = WriteFileAtomic(path, ServiceUnit(o)); !st.ok()) {
    std::fprintf(stderr, "gravity install-service: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("wrote %s\nthen: systemctl daemon-reload && systemctl enable --now %s.service\n",
              path.c_str(), name.c_str());
  return 0;
}

}  // namespace gravity::cli
