#pragma once

#include <memory>
#include <string>

#include "deploy/proxy_control.h"

namespace gravity::deploy {

// ProxyControl over the proxy's control socket (proxy::ControlClient).
std::unique_ptr<ProxyControl> MakeProxyControl(const std::string& socket_path);

}  // namespace gravity::deploy
