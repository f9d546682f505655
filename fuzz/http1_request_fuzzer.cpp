// The HTTP/1.1 request head parser on arbitrary bytes, whole and fed in pieces.
//
// Properties: every string_view of a parsed head points into the input; a head parsed in
// one go is parsed the same when the buffer grows piece by piece with one HeadScanner
// (the proxy's read loop); a complete head is never refused on a shorter prefix.

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

void CheckHead(const h1::RequestHead& head, std::string_view data, std::size_t head_length) {
  FUZZ_CHECK(head_length > 0 && head_length <= data.size());
  std::string_view used = data.substr(0, head_length);
  FUZZ_CHECK(!head.method.empty() && Inside(head.method, used));
  FUZZ_CHECK(!head.target.empty() && Inside(head.target, used));
  FUZZ_CHECK(head.version_minor == 0 || head.version_minor == 1);
  for (const auto& h : head.headers) {
    FUZZ_CHECK(!h.name.empty() && Inside(h.name, used) && Inside(h.value, used));
  }
  if (head.version_minor == 1) FUZZ_CHECK(head.Find("host") != nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  // The first byte chooses where the buffer grows; the rest is the request.
  if (size < 1) return 0;
  const std::size_t step = 1 + bytes[0] % 64;
  std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  h1::Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 32;

  h1::RequestHead whole;
  h1::ParseResult once = h1::ParseRequestHead(data, limits, &whole);
  if (once.status == h1::ParseStatus::kComplete) {
    CheckHead(whole, data, once.head_length);
    h1::Framing f = h1::RequestFraming(whole);
    FUZZ_CHECK(f.kind != h1::BodyKind::kUntilClose);  // a request body always has a length
    if (!f.ok()) FUZZ_CHECK(f.error_status == 400 || f.error_status == 501);
  }
  if (once.status == h1::ParseStatus::kError) {
    FUZZ_CHECK(once.error_status >= 400 && once.error_status <= 599);
    FUZZ_CHECK(once.error_reason != nullptr && *once.error_reason != '\0');
  }

  h1::HeadScanner scanner;
  h1::RequestHead piece;
  h1::ParseResult r;
  for (std::size_t n = std::min(step, data.size());; n = std::min(n + step, data.size())) {
    r = h1::ParseRequestHead(data.substr(0, n), limits, &piece, &scanner);
    if (r.status != h1::ParseStatus::kNeedMore || n == data.size()) break;
  }
  if (once.status == h1::ParseStatus::kComplete) {
    FUZZ_CHECK(r.status == h1::ParseStatus::kComplete);
    FUZZ_CHECK(r.head_length == once.head_length);
    FUZZ_CHECK(piece.method == whole.method && piece.target == whole.target);
    FUZZ_CHECK(piece.headers.size() == whole.headers.size());
  } else if (once.status == h1::ParseStatus::kNeedMore) {
    FUZZ_CHECK(r.status == h1::ParseStatus::kNeedMore);
  } else {
    FUZZ_CHECK(r.status == h1::ParseStatus::kError);
  }
  return 0;
}
