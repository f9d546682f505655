#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "support/subprocess.h"

namespace gravity::test {

// Path of the gravity-testapp binary (GRAVITY_TESTAPP_BIN, or $GRAVITY_TESTAPP_BIN).
std::string TestAppBinary();

struct TestAppOptions {
  std::string name;  // X-Instance; empty: the port
  std::string body;  // empty: "gravity-testapp <name>\n"
  int status = 200;
  int port = 0;  // 0: the kernel picks one (read back through --port-file)
  int threads = 1;
  std::vector<std::string> extra_args;  // e.g. {"--start-delay", "2s"}, {"--log-requests"}
  std::map<std::string, std::string> env;
  // Waits until the app accepts connections (fails when it exits first).
  bool wait_until_listening = true;
  std::chrono::milliseconds start_timeout = std::chrono::seconds(30);
};

// A running gravity-testapp: a real HTTP/1.1 server on 127.0.0.1. Stopped (SIGKILL) on
// destruction. Not thread-safe.
class TestApp {
 public:
  static Result<std::unique_ptr<TestApp>> Start(TestAppOptions options = {});
  ~TestApp();

  // The listening port (known once listening; for port 0 without waiting it is 0).
  int port() const { return port_; }
  // "127.0.0.1:<port>", the form proxy targets take.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& name() const { return name_; }
  Subprocess& process() { return *process_; }

 private:
  TestApp() = default;
  int port_ = 0;
  std::string name_;
  std::string dir_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace gravity::test
