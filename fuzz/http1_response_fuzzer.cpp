// The HTTP/1.1 response head parser on arbitrary bytes, then the response framing for
// each kind of request that could have been sent.
//
// Properties: as for requests (views inside the input; piecewise parsing agrees with
// parsing in one go); framing errors answer 502; bodies a status forbids are never
// expected.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/http1.h"
#include "fuzz_check.h"

namespace h1 = gravity::http1;

namespace {

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void CheckFraming(const h1::ResponseHead& head) {
  for (std::string_view method : {"GET", "HEAD", "POST", "CONNECT"}) {
    h1::Framing f = h1::ResponseFraming(head, method);
    if (!f.ok()) {
      FUZZ_CHECK(f.error_status == 502);
      continue;
    }
    bool bodiless = method == "HEAD" || head.status < 200 || head.status == 204 ||
                    head.status == 304 || (method == "CONNECT" && head.status < 300);
    if (bodiless) FUZZ_CHECK(f.kind == h1::BodyKind::kNone);
    if (f.kind == h1::BodyKind::kContentLength) FUZZ_CHECK(f.length > 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + bytes[0] % 64;
  std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  h1::Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 32;

  h1::ResponseHead whole;
  h1::ParseResult once = h1::ParseResponseHead(data, limits, &whole);
  if (once.status == h1::ParseStatus::kComplete) {
    FUZZ_CHECK(once.head_length > 0 && once.head_length <= data.size());
    FUZZ_CHECK(whole.status >= 100 && whole.status <= 999);
    FUZZ_CHECK(Inside(whole.reason, data.substr(0, once.head_length)));
    for (const auto& h : whole.headers) {
      FUZZ_CHECK(!h.name.empty() && Inside(h.name, data) && Inside(h.value, data));
    }
    CheckFraming(whole);
  } else if (once.status == h1::ParseStatus::kError) {
    FUZZ_CHECK(once.error_status == 502);
  }

  h1::HeadScanner scanner;
  h1::ResponseHead piece;
  h1::ParseResult r;
  for (std::size_t n = std::min(step, data.size());; n = std::min(n + step, data.size())) {
    r = h1::ParseResponseHead(data.substr(0, n), limits, &piece, &scanner);
    if (r.status != h1::ParseStatus::kNeedMore || n == data.size()) break;
  }
  FUZZ_CHECK(r.status == once.status);
  if (once.status == h1::ParseStatus::kComplete) {
    FUZZ_CHECK(r.head_length == once.head_length);
    FUZZ_CHECK(piece.status == whole.status && piece.headers.size() == whole.headers.size());
  }
  return 0;
}
