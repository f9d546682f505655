// gravity.yml on arbitrary text: ParseAppSpec must return a spec or errors in its
// documented form (FILE:LINE:COL: ... one per line), never throw, crash or hang.
// Accepted specs keep the invariants the pipeline relies on.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "config_errors.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  auto app = gravity::config::ParseAppSpec(text, "gravity.yml");
  if (!app.ok()) {
    CheckConfigErrors(app.error(), "gravity.yml");
    return 0;
  }
  FUZZ_CHECK(!app->run.command.empty());
  FUZZ_CHECK(!app->health.path.empty() && app->health.path[0] == '/');
  FUZZ_CHECK(app->health.interval.count() > 0 && app->health.timeout.count() > 0);
  FUZZ_CHECK(app->health.healthy_threshold >= 1 && app->health.unhealthy_threshold >= 1);
  if (app->test) {
    FUZZ_CHECK(app->test->workers >= 1 && !app->test->files.empty());
    for (const auto& glob : app->test->files) FUZZ_CHECK(!glob.empty() && glob[0] != '/');
  }
  return 0;
}
