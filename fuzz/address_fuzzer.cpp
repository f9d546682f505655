// Addresses on arbitrary text: listen addresses of stack.yml (config::ParseListenAddress)
// and upstream targets of the proxy (proxy::ParseAddress).
//
// Properties: a listen address prints back to itself (ListenAddress::ToString) and has a
// port 1-65535; an upstream target's host is a numeric IP address and its port 1-65535.

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "fuzz_check.h"
#include "proxy/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(bytes), size);
  auto listen = gravity::config::ParseListenAddress(text);
  if (listen.ok()) {
    FUZZ_CHECK(listen->port >= 1 && !listen->host.empty());
    auto again = gravity::config::ParseListenAddress(listen->ToString());
    FUZZ_CHECK(again.ok() && *again == *listen);
  }
  auto target = gravity::proxy::ParseAddress(text);
  if (target.ok()) {
    FUZZ_CHECK(target->port >= 1 && target->text == text);
    unsigned char buf[16];
    FUZZ_CHECK(inet_pton(AF_INET, target->host.c_str(), buf) == 1 ||
               inet_pton(AF_INET6, target->host.c_str(), buf) == 1);
  } else {
    FUZZ_CHECK(!target.error().empty());
  }
  return 0;
}
