#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace gravity::acme {

// Why an ACME exchange failed, for a caller that decides what to do next (a certificate
// manager scheduling its retry). The Status returned alongside says the same in words.
struct AcmeFailure {
  // The problem document's type (RFC 8555 §6.7), e.g.
  // "urn:ietf:params:acme:error:rejectedIdentifier"; for an authorization that became
  // invalid, the failed challenge's error type. Empty when no problem document came
  // (a network error, a timeout).
  std::string problem_type;
  std::string detail;
  long http_status = 0;  // 0 when no HTTP response was involved
  // Set when the server said when to come back (a 429 or 503 with Retry-After).
  std::optional<std::chrono::seconds> retry_after;
};

// RFC 7807 problem document (application/problem+json) as ACME servers send them.
struct Problem {
  std::string type;
  std::string detail;
  // "type: detail", with the subproblems' identifiers and details after it when present.
  std::string Describe() const;
  std::string subproblems;  // already formatted: "; <identifier>: <type>: <detail>" ...
};

// Parses a problem document from JSON text; nullopt when it is not one.
std::optional<Problem> ParseProblem(const std::string& body);

// The delay a Retry-After header value asks for: delta-seconds or an HTTP-date
// (RFC 9110 §10.2.3) compared with `now`; nullopt for anything else.
std::optional<std::chrono::seconds> ParseRetryAfter(const std::string& value,
                                                    std::chrono::system_clock::time_point now);

}  // namespace gravity::acme
