#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace gravity {

void SetupLogging(const std::string& level, const std::string& file) {
  std::shared_ptr<spdlog::logger> logger;
  // Set up again (a second command in one process, as the CLI's tests run them): the
  // registry refuses a second logger of the same name.
  spdlog::drop(file.empty() ? "gravity-stderr" : "gravity-file");
  if (file.empty()) {
    logger = spdlog::stderr_logger_mt("gravity-stderr");
  } else {
    logger = spdlog::basic_logger_mt("gravity-file", file);
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace gravity
