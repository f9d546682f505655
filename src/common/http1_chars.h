#pragma once

// Character classes and small helpers shared by the http1_*.cpp files; not part of the
// public interface (common/http1.h).

#include <array>
#include <string_view>

namespace gravity::http1::internal {

// Character classes (RFC 9110 5.6.2 tchar, 5.5 field-vchar / obs-text).
constexpr std::array<bool, 256> MakeTchar() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> MakeFieldChar() {
  std::array<bool, 256> t{};
  t['\t'] = true;
  for (int c = 0x20; c <= 0x7e; ++c) t[c] = true;
  for (int c = 0x80; c <= 0xff; ++c) t[c] = true;
  return t;
}
constexpr std::array<bool, 256> MakeTargetChar() {
  std::array<bool, 256> t{};
  for (int c = 0x21; c <= 0x7e; ++c) t[c] = true;  // visible ASCII; raw bytes >= 0x80 refused
  return t;
}
constexpr std::array<bool, 256> MakeRegNameChar() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  // unreserved and sub-delims (RFC 3986 3.2.2)
  for (char c : std::string_view("-._~!$&'()*+,;=")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
inline constexpr auto kTchar = MakeTchar();
inline constexpr auto kFieldChar = MakeFieldChar();
inline constexpr auto kTargetChar = MakeTargetChar();
inline constexpr auto kRegNameChar = MakeRegNameChar();

inline bool IsTchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }
inline bool IsFieldChar(char c) { return kFieldChar[static_cast<unsigned char>(c)]; }
inline bool IsTargetChar(char c) { return kTargetChar[static_cast<unsigned char>(c)]; }
inline bool IsOws(char c) { return c == ' ' || c == '\t'; }
inline bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace gravity::http1::internal
