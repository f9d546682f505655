#include "daemon/token.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include "common/fs.h"

namespace gravity::daemon {

std::string TrimToken(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

std::string ReadToken(const std::string& path) {
  auto text = ReadFile(path);
  return text.ok() ? TrimToken(*text) : "";
}

Result<std::string> LoadOrMakeToken(const std::string& path) {
  if (std::string existing = ReadToken(path); existing.size() >= 32) {
    ::chmod(path.c_str(), 0600);
    return existing;
  }
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status::Error("no randomness for the token");
  static const char kHex[] = "0123456789abcdef";
  std::string t;
  for (unsigned char b : bytes) {
    t.push_back(kHex[b >> 4]);
    t.push_back(kHex[b & 0xf]);
  }
  RETURN_IF_ERROR(WriteFileAtomic(path, t + "\n", 0600));
  return t;
}

}  // namespace gravity::daemon
