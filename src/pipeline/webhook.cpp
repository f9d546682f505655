#include "pipeline/webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

namespace gravity::pipeline {

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

bool VerifySignature(std::string_view secret, std::string_view body,
                     std::string_view signature_header) {
  constexpr std::string_view kPrefix = "sha256=";
  if (signature_header.size() != kPrefix.size() + 64 ||
      signature_header.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  std::string given(signature_header.substr(kPrefix.size()));
  for (char& c : given) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string expected = HmacSha256Hex(secret, body);
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

Result<PushEvent> ParsePushEvent(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error("request body is not valid JSON");
  if (!j.is_object()) return Status::Error("push event must be a JSON object");
  PushEvent ev;
  if (!j.contains("ref") || !j["ref"].is_string()) {
    return Status::Error("push event lacks a string 'ref'");
  }
  ev.ref = j["ref"].get<std::string>();
  constexpr std::string_view kHeads = "refs/heads/";
  if (ev.ref.rfind(kHeads, 0) == 0) ev.branch = ev.ref.substr(kHeads.size());
  if (j.contains("after") && j["after"].is_string()) ev.after = j["after"].get<std::string>();
  if (j.contains("deleted") && j["deleted"].is_boolean()) ev.deleted = j["deleted"].get<bool>();
  if (ev.after == std::string(40, '0')) ev.deleted = true;
  return ev;
}

}  // namespace gravity::pipeline
