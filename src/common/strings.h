#pragma once

#include <string>
#include <vector>

namespace gravity {

// The parts joined with `sep` between them ("" for none).
std::string Join(const std::vector<std::string>& parts, const std::string& sep);

// Every field between `sep`s, empty ones kept: "a,,b" -> {"a", "", "b"}, "" -> {""}.
std::vector<std::string> Split(const std::string& s, char sep);

// The non-empty fields between `sep`s: "a,,b," -> {"a", "b"}, "" -> {}.
std::vector<std::string> SplitNonEmpty(const std::string& s, char sep);

// `s` with every `from` (non-empty) replaced by `to`, left to right, not rescanned.
std::string ReplaceAll(std::string s, const std::string& from, const std::string& to);

}  // namespace gravity
