#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/commands.h"
#include "common/duration.h"
#include "static/server.h"

namespace gravity::cli {

// gravity static DIR --port N [--host ADDR]
int StaticCommand(int argc, char** argv) {
  CLI::App app{"Serve the files of DIR over HTTP/1.1 (keep-alive, ETag, Range)", "gravity static"};
  std::string dir;
  int port = -1;
  std::string host = "127.0.0.1";
  app.add_option("DIR", dir, "directory to serve")->required();
  app.add_option("--port", port, "TCP port; 0 picks a free one (default: $PORT)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--host", host, "address to listen on")->capture_default_str();
  std::string idle_timeout = "60s", header_timeout = "10s";
  app.add_option("--idle-timeout", idle_timeout, "close keep-alive connections idle this long")
      ->capture_default_str();
  app.add_option("--header-timeout", header_timeout,
                 "close connections that take longer to send a request head")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (port < 0) {
    const char* env = std::getenv("PORT");
    char* end = nullptr;
    long p = env ? std::strtol(env, &end, 10) : -1;
    if (!env || *env == '\0' || *end != '\0' || p < 0 || p > 65535) {
      std::fprintf(stderr, "gravity static: give --port N (or set $PORT)\n");
      return 2;
    }
    port = static_cast<int>(p);
  }

  auto idle = ParseDuration(idle_timeout);
  auto header = ParseDuration(header_timeout);
  for (const auto* d : {&idle, &header}) {
    if (!d->ok() || d->value().count() == 0) {
      std::fprintf(stderr, "gravity static: %s\n",
                   d->ok() ? "timeouts must be greater than 0" : d->error().c_str());
      return 2;
    }
  }

  static_server::ServerOptions options;
  options.idle_timeout = *idle;
  options.header_timeout = *header;
  options.root = dir;
  options.host = host;
  options.port = static_cast<std::uint16_t>(port);
  options.handle_signals = true;
  auto server = static_server::Server::Create(options);
  if (!server.ok()) {
    std::fprintf(stderr, "gravity static: %s\n", server.error().c_str());
    return 1;
  }
  std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::printf("gravity static: serving %s on http://%s:%u/\n", (*server)->root().c_str(),
              shown.c_str(), static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);
  (*server)->Run();
  return 0;
}

}  // namespace gravity::cli
