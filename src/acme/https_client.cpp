#include "acme/https_client.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "acme/openssl_util.h"

namespace gravity::acme {

namespace {

constexpr std::size_t kMaxBody = 4 << 20;

struct Exchange {
  HttpsResponse response;
  bool too_large = false;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  if (ex->response.body.size() + size * n > kMaxBody) {
    ex->too_large = true;
    return 0;  // makes libcurl abort the transfer
  }
  ex->response.body.append(data, size * n);
  return size * n;
}

std::string Trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    ex->response.headers.clear();  // a new response (after 100 Continue): start over
    return size * n;
  }
  std::size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  ex->response.headers[Trim(name)] = Trim(line.substr(colon + 1));
  return size * n;
}

// Adds the certificates of the bundle file to the handshake's trust store, after libcurl
// loaded the system's: extra trust, not a replacement.
CURLcode AddTrust(CURL*, void* ssl_ctx, void* user) {
  const auto* bundle = static_cast<const std::string*>(user);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (X509_STORE_load_file(store, bundle->c_str()) != 1) {
    internal::ClearOpenSslErrors();
    return CURLE_SSL_CACERT_BADFILE;
  }
  return CURLE_OK;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string HttpsResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

HttpsClient::HttpsClient(std::string ca_bundle, std::chrono::seconds timeout)
    : ca_bundle_(std::move(ca_bundle)), timeout_(timeout) {
  GlobalInit();
  curl_ = curl_easy_init();
}

HttpsClient::~HttpsClient() {
  if (curl_ != nullptr) curl_easy_cleanup(curl_);
}

Result<HttpsResponse> HttpsClient::Get(const std::string& url) { return Perform("GET", url); }

Result<HttpsResponse> HttpsClient::Head(const std::string& url) { return Perform("HEAD", url); }

Result<HttpsResponse> HttpsClient::Post(const std::string& url, const std::string& body,
                                        const std::string& content_type,
                                        const std::string& accept) {
  curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  if (!accept.empty()) headers = curl_slist_append(headers, ("Accept: " + accept).c_str());
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  Result<HttpsResponse> result = Perform("POST", url);
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  return result;
}

Result<HttpsResponse> HttpsClient::Perform(const std::string& method, const std::string& url) {
  if (curl_ == nullptr) return Status::Error("libcurl could not be initialized");
  if (!ca_bundle_.empty() && ::access(ca_bundle_.c_str(), R_OK) != 0)
    return Status::InvalidArgument("CA bundle " + ca_bundle_ + " cannot be read");
  Exchange ex;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_NOBODY, method == "HEAD" ? 1L : 0L);
  if (method == "GET") curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
  if (method == "POST") curl_easy_setopt(curl_, CURLOPT_POST, 1L);
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count() * 1000));
  curl_easy_setopt(curl_, CURLOPT_USERAGENT, "gravity-acme/1");
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &ex);
  if (!ca_bundle_.empty()) {
    // The trust store is changed per handshake: libcurl must not cache and share it.
    curl_easy_setopt(curl_, CURLOPT_CA_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(curl_, CURLOPT_SSL_CTX_FUNCTION, AddTrust);
    curl_easy_setopt(curl_, CURLOPT_SSL_CTX_DATA, &ca_bundle_);
  }
  CURLcode rc = curl_easy_perform(curl_);
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, nullptr);
  if (ex.too_large) return Status::Error(method + " " + url + ": response larger than 4 MiB");
  if (rc != CURLE_OK) {
    std::string why = error[0] != '\0' ? error : curl_easy_strerror(rc);
    return Status::Unavailable(method + " " + url + ": " + why);
  }
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &ex.response.status);
  return std::move(ex.response);
}

}  // namespace gravity::acme
