#pragma once

// Readers of one field each, for the gravity.yml and stack.yml parsers. Each reports its
// own errors to the Checker (at the value, or at the key when the value is missing) and
// leaves `out` unchanged on error. `where` is the dotted path of the field
// ("health.interval"). Internal to src/config.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <optional>
#include <string>

#include "config/checker.h"

namespace gravity::config {

// "a mapping", "a list", "a scalar", "nothing": what a node is, for messages.
const char* KindName(const YAML::Node& n);

// Where a problem with the entry as a whole is reported: its value, or its key when the
// value is empty (an empty value has no useful position).
YAML::Mark MarkOf(const Entry& e);

// "a.b" from "a" and "b"; "b" when `a` is empty.
std::string Join(const std::string& a, const std::string& b);

bool ReadString(Checker& c, const Entry& e, const std::string& where, std::string& out,
                bool allow_empty = false);

// A whole number in [min, max].
bool ReadInt(Checker& c, const Entry& e, const std::string& where, int min, int max, int& out);

// A duration ("500ms", "2s", "10m", "1h") in [min, max].
bool ReadDuration(Checker& c, const Entry& e, const std::string& where,
                  std::chrono::milliseconds min, std::chrono::milliseconds max,
                  std::chrono::milliseconds& out);

// A section that must be a mapping. `null` (an empty section) is accepted as an empty
// mapping so that its required fields are reported.
bool IsMapOrNull(Checker& c, const Entry& e, const std::string& where);

// A field naming a file, resolved against `base_dir` (the stack file's directory): its
// content, with its absolute path in *abs; nullopt with the error reported (the value is
// not a string, or the file is unreadable).
std::optional<std::string> ReadFileField(Checker& c, const Entry& e, const std::string& where,
                                         const std::string& base_dir, std::string* abs);

// A PEM file the proxy will load: it must be readable and look like PEM of `kind`
// ("CERTIFICATE", "PRIVATE KEY"); `out` gets its absolute path. The proxy checks the rest
// (the key matches, the chain).
void ReadPemFile(Checker& c, const Entry& e, const std::string& where, const std::string& base_dir,
                 const char* kind, std::string& out);

}  // namespace gravity::config
