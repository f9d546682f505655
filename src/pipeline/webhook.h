#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace gravity::pipeline {

// HMAC-SHA256 of `data` keyed with `key`, as lowercase hex.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Checks a GitHub `X-Hub-Signature-256` header ("sha256=<64 hex>") against the body and
// secret. The comparison of the digests takes constant time.
bool VerifySignature(std::string_view secret, std::string_view body,
                     std::string_view signature_header);

// What Gravity needs from a GitHub push event.
struct PushEvent {
  std::string ref;     // "refs/heads/staging"
  std::string branch;  // "staging" (empty when the ref is not a branch)
  std::string after;   // new tip, 40 hex; all zeros when the branch was deleted
  bool deleted = false;
};

// Parses a push event body. Errors say what is malformed.
Result<PushEvent> ParsePushEvent(std::string_view body);

}  // namespace gravity::pipeline
