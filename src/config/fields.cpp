#include "config/fields.h"

#include <charconv>

#include "common/duration.h"
#include "common/fs.h"
#include "config/values.h"

namespace gravity::config {

const char* KindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "an undefined value";
  }
}

YAML::Mark MarkOf(const Entry& e) { return e.value.IsNull() ? e.key_node.Mark() : e.value.Mark(); }

std::string Join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

bool ReadString(Checker& c, const Entry& e, const std::string& where, std::string& out,
                bool allow_empty) {
  if (!e.value.IsScalar()) {
    c.Error(MarkOf(e), where, std::string("expected a string, got ") + KindName(e.value));
    return false;
  }
  if (!allow_empty && e.value.Scalar().empty()) {
    c.Error(e.value.Mark(), where, "must not be empty");
    return false;
  }
  out = e.value.Scalar();
  return true;
}

bool ReadInt(Checker& c, const Entry& e, const std::string& where, int min, int max, int& out) {
  if (!e.value.IsScalar()) {
    c.Error(MarkOf(e), where, std::string("expected a whole number, got ") + KindName(e.value));
    return false;
  }
  const std::string& s = e.value.Scalar();
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
    c.Error(e.value.Mark(), where, "expected a whole number, got " + Quote(s));
    return false;
  }
  if (v < min || v > max) {
    c.Error(
        e.value.Mark(), where,
        "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool ReadDuration(Checker& c, const Entry& e, const std::string& where,
                  std::chrono::milliseconds min, std::chrono::milliseconds max,
                  std::chrono::milliseconds& out) {
  if (!e.value.IsScalar()) {
    c.Error(MarkOf(e), where,
            std::string("expected a duration such as 2s, got ") + KindName(e.value));
    return false;
  }
  auto d = ParseDuration(e.value.Scalar());
  if (!d.ok()) {
    c.Error(e.value.Mark(), where, d.error());
    return false;
  }
  if (*d < min || *d > max) {
    std::string range = min.count() == 0
                            ? "at most " + FormatDuration(max)
                            : "between " + FormatDuration(min) + " and " + FormatDuration(max);
    c.Error(e.value.Mark(), where, "must be " + range + ", got " + e.value.Scalar());
    return false;
  }
  out = *d;
  return true;
}

bool IsMapOrNull(Checker& c, const Entry& e, const std::string& where) {
  if (e.value.IsMap() || e.value.IsNull()) return true;
  c.Error(e.value.Mark(), where, std::string("expected a mapping, got ") + KindName(e.value));
  return false;
}

std::optional<std::string> ReadFileField(Checker& c, const Entry& e, const std::string& f,
                                         const std::string& base_dir, std::string* abs) {
  std::string p;
  if (!ReadString(c, e, f, p)) return std::nullopt;
  *abs = Resolve(base_dir, p);
  auto content = ReadFile(*abs);
  if (!content.ok()) {
    c.Error(e.value.Mark(), f, "cannot read " + Quote(*abs) + ": " + content.error());
    return std::nullopt;
  }
  return std::move(*content);
}

void ReadPemFile(Checker& c, const Entry& e, const std::string& f, const std::string& base_dir,
                 const char* kind, std::string& out) {
  std::string abs;
  auto content = ReadFileField(c, e, f, base_dir, &abs);
  if (!content) return;
  if (content->find("-----BEGIN ") == std::string::npos ||
      content->find(std::string(kind) + "-----") == std::string::npos) {
    c.Error(e.value.Mark(), f, Quote(abs) + " is not a PEM " + kind + " file");
    return;
  }
  out = abs;
}

}  // namespace gravity::config
