#include "support/gravity_cli.h"

#include "common/fs.h"
#include "support/subprocess.h"

namespace gravity::test {

CliResult Gravity(const std::vector<std::string>& args, const std::string& cwd,
                  std::chrono::milliseconds timeout, const std::string& bin) {
  SubprocessOptions o;
  o.argv = {bin.empty() ? std::string(GRAVITY_BIN) : bin};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.cwd = cwd;
  auto p = Subprocess::Start(o);
  if (!p.ok()) return {-1, p.error()};
  auto st = (*p)->Wait(timeout);
  CliResult r;
  r.exit_code = st ? (*p)->ExitCode() : -2;
  auto out = ReadFile((*p)->output_path());
  r.output = out.ok() ? *out : "";
  return r;
}

}  // namespace gravity::test
