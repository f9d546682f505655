// Message framing and the hop-by-hop rules on header fields the parser never sees
// together: the input is split into "name:value" lines and handed to RequestFraming,
// ResponseFraming, ParseConnection and IsHopByHop directly.
//
// Properties: the smuggling rules hold whatever the values are (Transfer-Encoding with
// Content-Length is refused; a request is never framed "until close"; only a lone
// "chunked" frames a request as chunked); Host and Content-Length are never hop-by-hop.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/http1.h"
#include "fuzz_check.h"

namespace h1 = gravity::http1;

namespace {

std::vector<h1::Header> SplitHeaders(std::string_view data) {
  std::vector<h1::Header> headers;
  while (!data.empty() && headers.size() < 64) {
    std::size_t nl = data.find('\n');
    std::string_view line = data.substr(0, nl);
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      headers.push_back(h1::Header{line.substr(0, colon), line.substr(colon + 1)});
    }
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  return headers;
}

bool Has(const std::vector<h1::Header>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h1::EqualsIgnoreCase(h.name, name)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size < 2) return 0;
  const int version_minor = bytes[0] & 1;
  const int status = 100 + (bytes[1] % 5) * 100 + (bytes[1] / 5) % 8;
  std::string_view data(reinterpret_cast<const char*>(bytes) + 2, size - 2);
  std::vector<h1::Header> headers = SplitHeaders(data);
  const bool te = Has(headers, "transfer-encoding");
  const bool cl = Has(headers, "content-length");

  h1::RequestHead req;
  req.method = "POST";
  req.target = "/";
  req.version_minor = version_minor;
  req.headers = headers;
  h1::Framing f = h1::RequestFraming(req);
  FUZZ_CHECK(f.kind != h1::BodyKind::kUntilClose);
  if (te && cl) FUZZ_CHECK(!f.ok() && f.error_status == 400);
  if (te && version_minor == 0) FUZZ_CHECK(!f.ok());
  if (f.ok() && f.kind == h1::BodyKind::kChunked) FUZZ_CHECK(te && !cl);
  if (f.ok() && f.kind == h1::BodyKind::kContentLength) FUZZ_CHECK(cl && !te && f.length > 0);
  if (!te && !cl) FUZZ_CHECK(f.ok() && f.kind == h1::BodyKind::kNone);

  h1::ResponseHead resp;
  resp.version_minor = version_minor;
  resp.status = status;
  resp.headers = headers;
  for (std::string_view method : {"GET", "HEAD", "CONNECT"}) {
    h1::Framing rf = h1::ResponseFraming(resp, method);
    if (!rf.ok()) FUZZ_CHECK(rf.error_status == 502);
    if (rf.ok() && te && cl && method == "GET" && status >= 200 && status != 204 && status != 304)
      FUZZ_CHECK(false);  // both framings: the response must be refused
  }

  h1::ConnectionInfo conn;
  h1::ParseConnection(headers, &conn);
  for (const auto& h : headers) (void)h1::IsHopByHop(h.name, conn);
  FUZZ_CHECK(!h1::IsHopByHop("Host", conn) && !h1::IsHopByHop("content-length", conn));
  FUZZ_CHECK(h1::IsHopByHop("Transfer-Encoding", conn));
  if (conn.close) FUZZ_CHECK(!h1::KeepAlive(version_minor, conn));
  for (const auto& h : headers) (void)h1::HasToken(h.value, "chunked");
  return 0;
}
