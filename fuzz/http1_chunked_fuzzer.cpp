// The chunked-body decoder on arbitrary bytes, fed whole and in pieces.
//
// Properties: the result does not depend on how the bytes arrive (the proxy feeds it
// whatever each read returned); it never claims more bytes than it was given; the payload
// it counts fits in the bytes it consumed; a finished body stays finished.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/http1.h"
#include "fuzz_check.h"

namespace h1 = gravity::http1;

namespace {

struct Outcome {
  std::size_t consumed = 0;
  bool done = false;
  bool failed = false;
  std::uint64_t data_bytes = 0;
};

Outcome Decode(std::string_view data, std::size_t step, h1::ChunkedDecoder::Limits limits) {
  h1::ChunkedDecoder d(limits);
  Outcome o;
  std::size_t pos = 0;
  while (pos < data.size() && !d.done() && !d.failed()) {
    std::string_view piece = data.substr(pos, step);
    std::size_t used = d.Feed(piece);
    FUZZ_CHECK(used <= piece.size());
    if (!d.done() && !d.failed()) FUZZ_CHECK(used == piece.size());
    if (d.failed()) FUZZ_CHECK(used == 0 && *d.error() != '\0');
    pos += used;
    o.consumed = pos;
  }
  if (d.done()) {
    FUZZ_CHECK(d.Feed("0\r\n\r\n") == 0);  // nothing more belongs to a finished body
    FUZZ_CHECK(d.done());
  }
  o.done = d.done();
  o.failed = d.failed();
  o.data_bytes = d.data_bytes();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + bytes[0] % 17;
  std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  h1::ChunkedDecoder::Limits limits;
  limits.max_line_bytes = 64;
  limits.max_trailer_bytes = 256;

  Outcome whole = Decode(data, data.size() ? data.size() : 1, limits);
  Outcome pieces = Decode(data, step, limits);
  Outcome bytewise = Decode(data, 1, limits);
  for (const Outcome* o : {&pieces, &bytewise}) {
    FUZZ_CHECK(o->done == whole.done && o->failed == whole.failed);
    FUZZ_CHECK(o->data_bytes == whole.data_bytes);
    if (!whole.failed) FUZZ_CHECK(o->consumed == whole.consumed);
  }
  if (!whole.failed) FUZZ_CHECK(whole.data_bytes <= whole.consumed);
  if (whole.done) {
    // The body is self-delimiting: its own bytes decode to the same result.
    Outcome again = Decode(data.substr(0, whole.consumed), 3, limits);
    FUZZ_CHECK(again.done && again.consumed == whole.consumed);
    FUZZ_CHECK(again.data_bytes == whole.data_bytes);
  }
  return 0;
}
