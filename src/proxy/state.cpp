#include "proxy/state.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace gravity::proxy {

using nlohmann::json;

namespace {
bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}
}  // namespace

Result<std::vector<ServiceSpec>> ParseState(const std::string& content) {
  json j = json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error("not valid JSON");
  if (!j.is_object() || !j.contains("services") || !j["services"].is_array()) {
    return Status::Error("expected an object with a 'services' array");
  }
  if (!j.contains("version") || j["version"] != 1) return Status::Error("unknown 'version'");
  std::vector<ServiceSpec> out;
  std::size_t i = 0;
  for (const auto& s : j["services"]) {
    auto spec = ServiceFromJson(s);
    if (!spec.ok()) return spec.status().Prefixed("services[" + std::to_string(i) + "]");
    out.push_back(std::move(spec).value());
    ++i;
  }
  return out;
}

Status SaveState(const std::string& path, const std::vector<ServiceSpec>& services) {
  json j{{"version", 1}, {"services", json::array()}};
  for (const auto& s : services) j["services"].push_back(ServiceToJson(s));
  std::string content = j.dump(2) + "\n";
  // Keep the current file as the last good copy when it is good.
  if (Exists(path)) {
    auto old = ReadFile(path);
    if (old.ok() && ParseState(*old).ok()) {
      RETURN_IF_ERROR(WriteFileAtomic(path + ".bak", *old, 0600));
    }
  }
  return WriteFileAtomic(path, content, 0600);
}

Result<LoadedState> LoadState(const std::string& path) {
  LoadedState out;
  if (!Exists(path) && !Exists(path + ".bak")) return out;
  std::string problem;
  if (Exists(path)) {
    auto content = ReadFile(path);
    if (content.ok()) {
      auto parsed = ParseState(*content);
      if (parsed.ok()) {
        out.services = std::move(parsed).value();
        return out;
      }
      problem = "state file " + path + " is corrupt: " + parsed.error();
    } else {
      problem = content.error();
    }
  } else {
    problem = "state file " + path + " is missing";
  }
  const std::string bak = path + ".bak";
  auto content = ReadFile(bak);
  if (!content.ok()) return Status::Error(problem + "; no usable backup: " + content.error());
  auto parsed = ParseState(*content);
  if (!parsed.ok()) {
    return Status::Error(problem + "; backup " + bak + " is corrupt too: " + parsed.error());
  }
  out.services = std::move(parsed).value();
  out.warning = problem + "; using the last good copy " + bak;
  return out;
}

}  // namespace gravity::proxy
