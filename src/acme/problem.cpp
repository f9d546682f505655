#include "acme/problem.h"

#include <curl/curl.h>

#include <cctype>
#include <nlohmann/json.hpp>

namespace gravity::acme {

namespace {

std::string Str(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string FormatSubproblems(const nlohmann::json& list) {
  std::string out;
  for (const auto& sub : list) {
    if (!sub.is_object()) continue;
    std::string id;
    if (auto it = sub.find("identifier"); it != sub.end() && it->is_object())
      id = Str(*it, "value") + ": ";
    out += "; " + id + Str(sub, "type") + ": " + Str(sub, "detail");
  }
  return out;
}

}  // namespace

std::string Problem::Describe() const {
  std::string text = type.empty() ? "(no problem type)" : type;
  if (!detail.empty()) text += ": " + detail;
  return text + subproblems;
}

std::optional<Problem> ParseProblem(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("type")) return std::nullopt;
  Problem p{Str(doc, "type"), Str(doc, "detail"), ""};
  if (auto it = doc.find("subproblems"); it != doc.end() && it->is_array())
    p.subproblems = FormatSubproblems(*it);
  return p;
}

std::optional<std::chrono::seconds> ParseRetryAfter(const std::string& value,
                                                    std::chrono::system_clock::time_point now) {
  if (value.empty()) return std::nullopt;
  bool digits = true;
  for (char c : value) digits = digits && std::isdigit(static_cast<unsigned char>(c)) != 0;
  if (digits) {
    if (value.size() > 9) return std::chrono::seconds(999'999'999);
    return std::chrono::seconds(std::stol(value));
  }
  time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  auto delta = std::chrono::system_clock::from_time_t(when) - now;
  return std::max(std::chrono::seconds(0), std::chrono::duration_cast<std::chrono::seconds>(delta));
}

}  // namespace gravity::acme
