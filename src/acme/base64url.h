#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gravity::acme {

// base64url (RFC 4648 §5) without padding, as JOSE (RFC 7515 §2) and ACME use it.
std::string Base64UrlEncode(std::string_view bytes);
// Decodes unpadded (or padded) base64url; nullopt on a character outside the alphabet or
// an impossible length.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace gravity::acme
