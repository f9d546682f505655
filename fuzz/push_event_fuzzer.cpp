// The webhook's input: a GitHub push event body and its X-Hub-Signature-256 header.
//
// Properties: ParsePushEvent returns an event or an error for any body (nothing throws);
// the branch is what follows refs/heads/ in the ref; the signature Gravity computes for a
// body verifies, and the same signature with one hex digit changed does not; any header
// text is checked without crashing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "pipeline/webhook.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  namespace pipeline = gravity::pipeline;
  std::string_view input(reinterpret_cast<const char*>(bytes), size);
  // "secret\nheader\nbody": the first two lines feed the signature check.
  std::size_t nl1 = input.find('\n');
  std::size_t nl2 = nl1 == std::string_view::npos ? nl1 : input.find('\n', nl1 + 1);
  std::string_view secret = nl1 == std::string_view::npos ? "" : input.substr(0, nl1);
  std::string_view header =
      nl2 == std::string_view::npos ? "" : input.substr(nl1 + 1, nl2 - nl1 - 1);
  std::string_view body = nl2 == std::string_view::npos ? input : input.substr(nl2 + 1);

  auto ev = pipeline::ParsePushEvent(body);
  if (ev.ok()) {
    constexpr std::string_view kHeads = "refs/heads/";
    if (ev->ref.rfind(kHeads, 0) == 0) {
      FUZZ_CHECK(ev->branch == ev->ref.substr(kHeads.size()));
    } else {
      FUZZ_CHECK(ev->branch.empty());
    }
    if (ev->after == std::string(40, '0')) FUZZ_CHECK(ev->deleted);
  } else {
    FUZZ_CHECK(!ev.error().empty());
  }

  (void)pipeline::VerifySignature(secret, body, header);
  std::string good = "sha256=" + pipeline::HmacSha256Hex(secret, body);
  FUZZ_CHECK(good.size() == 7 + 64);
  FUZZ_CHECK(pipeline::VerifySignature(secret, body, good));
  std::string bad = good;
  std::size_t at = 7 + (body.size() % 64);
  bad[at] = bad[at] == '0' ? '1' : '0';
  FUZZ_CHECK(!pipeline::VerifySignature(secret, body, bad));
  return 0;
}
