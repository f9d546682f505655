#include "proxy/canary_split.h"

#include <string_view>

namespace gravity::proxy {

namespace {
constexpr std::string_view kCookie = "gravity_bucket=";
}

std::string_view CandidateHeader(const http1::RequestHead& head) {
  for (const auto& h : head.headers) {
    if (http1::EqualsIgnoreCase(h.name, "x-gravity-candidate")) return h.value;
  }
  return {};
}

int CookieBucket(const http1::RequestHead& head) {
  for (const auto& h : head.headers) {
    if (!http1::EqualsIgnoreCase(h.name, "cookie")) continue;
    std::string_view v = h.value;
    for (std::size_t p = v.find(kCookie); p != std::string_view::npos;
         p = v.find(kCookie, p + 1)) {
      if (p != 0 && v[p - 1] != ' ' && v[p - 1] != ';') continue;  // "xgravity_bucket="
      int n = 0;
      int digits = 0;
      for (std::size_t i = p + kCookie.size(); i < v.size() && digits < 3; ++i, ++digits) {
        if (v[i] < '0' || v[i] > '9') break;
        n = n * 10 + (v[i] - '0');
      }
      return digits > 0 && n < 100 ? n : -1;
    }
  }
  return -1;
}

std::string CanaryCookie(int bucket) {
  return "gravity_bucket=" + std::to_string(bucket) + "; Path=/; Max-Age=2592000; HttpOnly";
}

PoolChoice ChoosePool(const ServiceSnapshot& service, int cookie_bucket, std::uint64_t random) {
  PoolChoice c;
  c.pool = service.main.get();
  if (!service.canary || service.canary_weight <= 0) return c;
  int bucket = cookie_bucket;
  if (bucket < 0) {
    bucket = static_cast<int>(random % 100);
    c.set_cookie_bucket = bucket;
  }
  if (bucket < service.canary_weight) {
    c.pool = service.canary.get();
    c.name = "canary";
  } else if (service.baseline && bucket < 2 * service.canary_weight) {
    c.pool = service.baseline.get();
    c.name = "baseline";
  }
  return c;
}

}  // namespace gravity::proxy
