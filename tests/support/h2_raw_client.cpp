#include "support/h2_raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

namespace gravity::test {

namespace h2 {

namespace {

// HPACK integer with an N-bit prefix (RFC 7541 5.1).
void Integer(std::string* out, std::uint8_t first, int bits, std::size_t v) {
  const std::size_t max = (1u << bits) - 1;
  if (v < max) {
    out->push_back(static_cast<char>(first | v));
    return;
  }
  out->push_back(static_cast<char>(first | max));
  v -= max;
  while (v >= 128) {
    out->push_back(static_cast<char>((v % 128) + 128));
    v /= 128;
  }
  out->push_back(static_cast<char>(v));
}

void String(std::string* out, std::string_view s) {
  Integer(out, 0, 7, s.size());
  out->append(s);
}

// A literal field without indexing, with a literal name.
void Literal(std::string* out, std::string_view name, std::string_view value) {
  out->push_back(0);
  String(out, name);
  String(out, value);
}

void Put32(std::string* out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

}  // namespace

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
  std::string f;
  const std::size_t n = payload.size();
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  Put32(&f, stream & 0x7fffffff);
  f.append(payload);
  return f;
}

std::string Preface() { return std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + Settings({}); }

std::string Settings(const std::vector<std::pair<std::uint16_t, std::uint32_t>>& entries) {
  std::string p;
  for (auto [id, value] : entries) {
    p.push_back(static_cast<char>(id >> 8));
    p.push_back(static_cast<char>(id));
    Put32(&p, value);
  }
  return Frame(kSettings, 0, 0, p);
}

std::string RequestBlock(std::string_view authority, std::string_view path,
                         const std::vector<std::pair<std::string, std::string>>& extra,
                         std::string_view method) {
  std::string b;
  Literal(&b, ":method", method);
  Literal(&b, ":scheme", "https");
  Literal(&b, ":authority", authority);
  Literal(&b, ":path", path);
  for (const auto& [n, v] : extra) Literal(&b, n, v);
  return b;
}

std::string RstStream(std::uint32_t stream, std::uint32_t code) {
  std::string p;
  Put32(&p, code);
  return Frame(kRstStream, 0, stream, p);
}

std::string WindowUpdate(std::uint32_t stream, std::uint32_t increment) {
  std::string p;
  Put32(&p, increment);
  return Frame(kWindowUpdate, 0, stream, p);
}

std::uint32_t ErrorCode(const H2Frame& f) {
  const std::size_t at = f.type == kGoAway ? 4 : 0;
  if (f.payload.size() < at + 4) return 0xffffffff;
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(f.payload[at + i]);
  return v;
}

}  // namespace h2

RawH2Client::RawH2Client(int port, std::string sni, std::string ca_file)
    : port_(port), sni_(std::move(sni)), ca_file_(std::move(ca_file)) {}

RawH2Client::~RawH2Client() {
  if (inflater_) nghttp2_hd_inflate_del(static_cast<nghttp2_hd_inflater*>(inflater_));
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

Status RawH2Client::Connect() {
  // Hostile tests write into connections the server has already cut: an error, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port_));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return Status::Error("connect failed");
  }
  timeval tv{10, 0};  // blocking I/O, bounded
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx_, ca_file_.c_str(), nullptr);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof(kAlpn));
  ssl_ = SSL_new(ctx_);
  SSL_set_tlsext_host_name(ssl_, sni_.c_str());
  SSL_set_fd(ssl_, fd_);
  if (SSL_connect(ssl_) != 1) {
    char err[256];
    ERR_error_string_n(ERR_get_error(), err, sizeof(err));
    return Status::Error(std::string("TLS handshake: ") + err);
  }
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  if (std::string_view(reinterpret_cast<const char*>(p), len) != "h2") {
    return Status::Error("ALPN did not agree on h2");
  }
  return Status::Ok();
}

Status RawH2Client::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    std::size_t n = 0;
    if (SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n) != 1) {
      ERR_clear_error();
      return Status::Error("write failed (the server closed?)");
    }
    bytes.remove_prefix(n);
  }
  return Status::Ok();
}

RawH2Client::ReadResult RawH2Client::Read(const std::function<bool(const H2Frame&)>& stop,
                                          std::chrono::milliseconds timeout) {
  ReadResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (buf_.size() >= 9) {
      const auto* b = reinterpret_cast<const std::uint8_t*>(buf_.data());
      const std::size_t len = (std::size_t{b[0]} << 16) | (std::size_t{b[1]} << 8) | b[2];
      if (buf_.size() < 9 + len) break;
      H2Frame f;
      f.type = b[3];
      f.flags = b[4];
      f.stream = ((std::uint32_t{b[5]} << 24) | (b[6] << 16) | (b[7] << 8) | b[8]) & 0x7fffffff;
      f.payload = buf_.substr(9, len);
      buf_.erase(0, 9 + len);
      r.frames.push_back(std::move(f));
      if (stop && stop(r.frames.back())) {
        r.stopped = true;
        return r;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return r;
    if (SSL_pending(ssl_) == 0) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    }
    char tmp[16384];
    std::size_t n = 0;
    if (SSL_read_ex(ssl_, tmp, sizeof(tmp), &n) != 1) {
      ERR_clear_error();
      r.closed = true;
      return r;
    }
    buf_.append(tmp, n);
  }
}

std::vector<std::pair<std::string, std::string>> RawH2Client::DecodeHeaders(const H2Frame& f) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!inflater_) {
    nghttp2_hd_inflater* i = nullptr;
    if (nghttp2_hd_inflate_new(&i) != 0) return out;
    inflater_ = i;
  }
  auto* inflater = static_cast<nghttp2_hd_inflater*>(inflater_);
  std::string_view block = f.payload;
  if (f.flags & 0x8) {  // PADDED
    const std::size_t pad = static_cast<std::uint8_t>(block[0]);
    block = block.substr(1, block.size() - 1 - pad);
  }
  if (f.flags & 0x20) block.remove_prefix(5);  // PRIORITY
  const auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
  std::size_t left = block.size();
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    const auto n = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left,
                                          (f.flags & h2::kEndHeaders) != 0);
    if (n < 0) return {};
    in += n;
    left -= static_cast<std::size_t>(n);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      out.emplace_back(std::string(reinterpret_cast<char*>(nv.name), nv.namelen),
                       std::string(reinterpret_cast<char*>(nv.value), nv.valuelen));
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inflater);
      break;
    }
    if ((flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) break;
  }
  return out;
}

}  // namespace gravity::test
