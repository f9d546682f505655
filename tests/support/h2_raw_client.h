#pragma once

// A raw HTTP/2 client for hostile tests: a TLS connection that offers only h2, hand-built
// frames (with a minimal HPACK encoder: literals without indexing), and a frame reader
// that stops on a condition, at the server's close, or at a deadline. It never answers
// anything on its own (no SETTINGS ACK, no WINDOW_UPDATE): the tests decide.
// Not thread-safe.

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gravity::test {

struct H2Frame {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t stream = 0;
  std::string payload;
};

namespace h2 {
inline constexpr std::uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4,
                              kPing = 6, kGoAway = 7, kWindowUpdate = 8, kContinuation = 9;
inline constexpr std::uint8_t kEndStream = 0x1, kEndHeaders = 0x4, kAck = 0x1;

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload);
std::string Preface();  // the client magic and an empty SETTINGS
std::string Settings(const std::vector<std::pair<std::uint16_t, std::uint32_t>>& entries);
// A header block for GET `path` on `authority` plus `extra` fields (HPACK literals).
std::string RequestBlock(std::string_view authority, std::string_view path,
                         const std::vector<std::pair<std::string, std::string>>& extra = {},
                         std::string_view method = "GET");
std::string RstStream(std::uint32_t stream, std::uint32_t code);
std::string WindowUpdate(std::uint32_t stream, std::uint32_t increment);
std::uint32_t ErrorCode(const H2Frame& f);  // RST_STREAM's or GOAWAY's
}  // namespace h2

class RawH2Client {
 public:
  RawH2Client(int port, std::string sni, std::string ca_file);
  ~RawH2Client();
  RawH2Client(const RawH2Client&) = delete;
  RawH2Client& operator=(const RawH2Client&) = delete;

  Status Connect();  // TCP and TLS; ALPN must come back h2
  Status Send(std::string_view bytes);
  struct ReadResult {
    std::vector<H2Frame> frames;
    bool closed = false;   // the server closed (or reset) the connection
    bool stopped = false;  // `stop` returned true for the last frame
  };
  ReadResult Read(const std::function<bool(const H2Frame&)>& stop,
                  std::chrono::milliseconds timeout);
  // The fields of a HEADERS frame the server sent (frames in the order received; the
  // decoder keeps the connection's HPACK state). Empty after a decoding error.
  std::vector<std::pair<std::string, std::string>> DecodeHeaders(const H2Frame& f);

 private:
  int port_;
  std::string sni_;
  std::string ca_file_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
  void* inflater_ = nullptr;  // nghttp2_hd_inflater*
};

}  // namespace gravity::test
