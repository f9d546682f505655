#include "acme/session.h"

#include "common/clock.h"

namespace gravity::acme::internal {

namespace {

constexpr char kBadNonce[] = "urn:ietf:params:acme:error:badNonce";

bool IsBadNonce(const HttpsResponse& r) {
  if (r.status != 400) return false;
  std::optional<Problem> p = ParseProblem(r.body);
  return p && p->type == kBadNonce;
}

std::string Excerpt(const std::string& body) {
  return body.size() <= 200 ? body : body.substr(0, 200) + "...";
}

}  // namespace

std::string JsonString(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

Session::Session(HttpsClient& http, AccountKey key, std::string directory_url)
    : http_(http), key_(std::move(key)), directory_url_(std::move(directory_url)) {}

Status Session::LoadDirectory() {
  if (have_directory_) return Status::Ok();
  Result<HttpsResponse> r = http_.Get(directory_url_);
  if (!r.ok()) return NetworkError(r.status()).Prefixed("ACME directory");
  if (r->status != 200) return ResponseError(*r).Prefixed("ACME directory " + directory_url_);
  auto doc = nlohmann::json::parse(r->body, nullptr, false);
  directory_ = {JsonString(doc, "newNonce"), JsonString(doc, "newAccount"),
                JsonString(doc, "newOrder")};
  if (directory_.new_nonce.empty() || directory_.new_account.empty() ||
      directory_.new_order.empty()) {
    failure_ = {"", "", r->status, std::nullopt};
    return Status::FailedPrecondition(
        "ACME directory " + directory_url_ +
        " lacks newNonce, newAccount or newOrder: " + Excerpt(r->body));
  }
  have_directory_ = true;
  return Status::Ok();
}

Result<std::string> Session::TakeNonce() {
  if (nonce_.empty()) {
    Result<HttpsResponse> r = http_.Head(directory_.new_nonce);
    if (!r.ok()) return NetworkError(r.status()).Prefixed("ACME newNonce");
    nonce_ = r->Header("replay-nonce");
    if (nonce_.empty()) {
      failure_ = {"", "", r->status, std::nullopt};
      return Status::FailedPrecondition("ACME newNonce " + directory_.new_nonce + " (HTTP " +
                                        std::to_string(r->status) + ") sent no Replay-Nonce");
    }
  }
  return std::exchange(nonce_, "");
}

Result<HttpsResponse> Session::PostOnce(const std::string& url, const std::string& payload,
                                        const std::string& accept) {
  ASSIGN_OR_RETURN(std::string nonce, TakeNonce());
  ASSIGN_OR_RETURN(std::string jws, key_.SignJws({url, nonce, kid_}, payload));
  Result<HttpsResponse> r = http_.Post(url, jws, "application/jose+json", accept);
  if (!r.ok()) return NetworkError(r.status());
  // Every response's nonce serves the next request, errors' included (§7.2).
  if (std::string next = r->Header("replay-nonce"); !next.empty()) nonce_ = next;
  return r;
}

Result<AcmeResponse> Session::Post(const std::string& url,
                                   const std::optional<nlohmann::json>& payload,
                                   const std::string& accept) {
  RETURN_IF_ERROR(LoadDirectory());
  std::string body = payload ? payload->dump() : "";
  Result<HttpsResponse> r = PostOnce(url, body, accept);
  for (int retry = 0; r.ok() && IsBadNonce(*r) && retry < kBadNonceRetries; ++retry) {
    ++bad_nonce_retries_;
    r = PostOnce(url, body, accept);
  }
  if (!r.ok()) return r.status();
  if (r->status < 200 || r->status > 299) return ResponseError(*r);
  AcmeResponse out;
  out.status = r->status;
  out.location = r->Header("location");
  out.retry_after = ParseRetryAfter(r->Header("retry-after"), Clock::Real().WallNow());
  out.json = nlohmann::json::parse(r->body, nullptr, false);
  if (out.json.is_discarded()) out.json = nullptr;
  out.body = std::move(r->body);
  return out;
}

Status Session::ResponseError(const HttpsResponse& r) {
  std::optional<Problem> problem = ParseProblem(r.body);
  std::optional<std::chrono::seconds> retry_after =
      ParseRetryAfter(r.Header("retry-after"), Clock::Real().WallNow());
  failure_ = {problem ? problem->type : "", problem ? problem->detail : "", r.status,
              (r.status == 429 || r.status == 503) ? retry_after : std::nullopt};
  std::string what =
      problem ? problem->Describe() : "HTTP " + std::to_string(r.status) + ": " + Excerpt(r.body);
  if (failure_.retry_after) {
    return Status::Unavailable("rate limited, retry after " +
                               std::to_string(failure_.retry_after->count()) + " s: " + what);
  }
  if (r.status >= 500) return Status::Unavailable(what);
  return Status::FailedPrecondition(what);
}

Status Session::NetworkError(const Status& status) {
  failure_ = {};
  return status;
}

}  // namespace gravity::acme::internal
