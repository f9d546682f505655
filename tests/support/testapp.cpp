#include "support/testapp.h"

#include <cstdlib>
#include <thread>

#include "common/fs.h"
#include "support/net.h"

#ifndef GRAVITY_TESTAPP_BIN
#define GRAVITY_TESTAPP_BIN "gravity-testapp"
#endif

namespace gravity::test {

std::string TestAppBinary() {
  if (const char* env = std::getenv("GRAVITY_TESTAPP_BIN"); env && *env) return env;
  return GRAVITY_TESTAPP_BIN;
}

TestApp::~TestApp() {
  process_.reset();
  if (!dir_.empty()) (void)RemoveTree(dir_);
}

Result<std::unique_ptr<TestApp>> TestApp::Start(TestAppOptions options) {
  std::unique_ptr<TestApp> app(new TestApp());
  ASSIGN_OR_RETURN(app->dir_, MakeTempDir("gravity-testapp"));
  const std::string port_file = app->dir_ + "/port";
  std::vector<std::string> argv = {TestAppBinary(), "--port", std::to_string(options.port),
                                   "--port-file", port_file};
  if (!options.name.empty()) argv.insert(argv.end(), {"--name", options.name});
  if (!options.body.empty()) argv.insert(argv.end(), {"--body", options.body});
  if (options.status != 200) argv.insert(argv.end(), {"--status", std::to_string(options.status)});
  if (options.threads != 1) {
    argv.insert(argv.end(), {"--threads", std::to_string(options.threads)});
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  SubprocessOptions sp;
  sp.argv = argv;
  sp.env = options.env;
  sp.output_path = app->dir_ + "/output.log";
  ASSIGN_OR_RETURN(app->process_, Subprocess::Start(sp));
  app->port_ = options.port;
  app->name_ = options.name;
  if (!options.wait_until_listening) return app;
  auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  for (;;) {
    auto content = ReadFile(port_file);
    if (content.ok() && !content->empty() && content->back() == '\n') {
      app->port_ = std::atoi(content->c_str());
      if (app->name_.empty()) app->name_ = std::to_string(app->port_);
      if (PortOpen(app->port_)) return app;
    }
    if (!app->process_->Running()) {
      return Status::Error("gravity-testapp exited before listening (" + app->process_->Output() +
                           ")");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Error("gravity-testapp did not listen within the start timeout; output: " +
                           app->process_->Output());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace gravity::test
