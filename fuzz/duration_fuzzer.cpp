// Duration text ("500ms", "2s", "1m30s") on arbitrary bytes.
//
// Properties: ParseDuration returns a non-negative value or an error naming the input;
// a parsed value written back in milliseconds parses to itself, and so does its display
// form when that form is one ParseDuration reads (no decimal point).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/duration.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  auto d = gravity::ParseDuration(text);
  if (!d.ok()) {
    FUZZ_CHECK(d.error().rfind("invalid duration '", 0) == 0);
    return 0;
  }
  FUZZ_CHECK(d->count() >= 0);
  auto ms = gravity::ParseDuration(std::to_string(d->count()) + "ms");
  FUZZ_CHECK(ms.ok() && *ms == *d);
  std::string shown = gravity::FormatDuration(*d);
  FUZZ_CHECK(!shown.empty());
  if (shown.find('.') == std::string::npos) {
    auto again = gravity::ParseDuration(shown);
    FUZZ_CHECK(again.ok() && *again == *d);
  }
  return 0;
}
