// stack.yml: the environment template. Sections are parsed one function each, recording
// the positions the checks across sections (stack_checks.h) report at; the apps: section
// and its environments are in stack_apps.cpp.

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "common/fs.h"
#include "config/canary_spec.h"
#include "config/checker.h"
#include "config/config.h"
#include "config/document.h"
#include "config/fields.h"
#include "config/stack_apps.h"
#include "config/stack_checks.h"
#include "config/values.h"

namespace gravity::config {

namespace {

using std::chrono::seconds;

// ------------------------------------------------------------ listeners and ports

void ParseListenSection(Checker& c, const Entry& section, const std::string& w,
                        std::vector<std::string_view> keys, ListenAddress* listen,
                        std::optional<ListenAddress>* metrics,
                        std::map<std::string, YAML::Mark>& marks,
                        const std::function<void(const Entry&)>& https = {}) {
  if (!IsMapOrNull(c, section, w) || !section.value.IsMap()) return;
  for (const auto& e : c.Entries(section.value, w, keys)) {
    std::string f = Join(w, e.key);
    if (e.key == "https") {  // a section of its own (ParseHttps)
      if (https) https(e);
      continue;
    }
    std::string s;
    if (!ReadString(c, e, f, s)) continue;
    auto addr = ParseListenAddress(s);
    if (!addr.ok()) {
      c.Error(e.value.Mark(), f, addr.error());
      continue;
    }
    marks[f] = e.value.Mark();
    if (e.key == "listen") {
      *listen = *addr;
    } else if (e.key == "metrics" && metrics) {
      *metrics = *addr;
    }
  }
}

// proxy.https.acme: { directory: URL, email: ADDR, ca_bundle: FILE } (directory required).
void ParseAcme(Checker& c, const Entry& section, const std::string& base_dir, HttpsSpec& https) {
  const std::string w = "proxy.https.acme";
  if (!IsMapOrNull(c, section, w) || !section.value.IsMap()) {
    if (section.value.IsNull()) c.Error(section.key_node.Mark(), w, "needs a directory: (URL)");
    return;
  }
  AcmeSpec acme;
  for (const auto& e :
       c.Entries(section.value, w, {"directory", "email", "ca_bundle", "challenge"})) {
    std::string f = Join(w, e.key);
    std::string s;
    if (!ReadString(c, e, f, s)) continue;
    if (e.key == "directory") {
      if (s.rfind("https://", 0) != 0 || s.size() <= 8) {
        c.Error(e.value.Mark(), f, "must be the CA's https:// directory URL, got " + Quote(s));
        continue;
      }
      acme.directory = s;
    } else if (e.key == "email") {
      if (s.find('@') == std::string::npos || s.find_first_of(" \t\r\n<>") != std::string::npos) {
        c.Error(e.value.Mark(), f, Quote(s) + " is not an email address");
        continue;
      }
      acme.email = s;
    } else if (e.key == "challenge") {
      if (s != "http-01" && s != "tls-alpn-01") {
        c.Error(e.value.Mark(), f, "expected http-01 or tls-alpn-01, got " + Quote(s));
        continue;
      }
      acme.challenge = s;
    } else {
      ReadPemFile(c, e, f, base_dir, "CERTIFICATE", acme.ca_bundle);
    }
  }
  if (acme.directory.empty()) {
    if (!section.value["directory"]) {
      c.Error(section.key_node.Mark(), w, "needs a directory: (URL)");
    }
    return;
  }
  https.acme = acme;
}

// proxy.https: { listen: ADDR, redirect_http: BOOL, acme: {...} }
void ParseHttps(Checker& c, const Entry& section, const std::string& base_dir, StackSpec& stack,
                std::map<std::string, YAML::Mark>& marks) {
  const std::string w = "proxy.https";
  HttpsSpec https;
  if (!IsMapOrNull(c, section, w)) return;
  marks[w] = section.key_node.Mark();
  if (section.value.IsMap()) {
    for (const auto& e : c.Entries(section.value, w, {"listen", "redirect_http", "acme"})) {
      std::string f = Join(w, e.key);
      if (e.key == "acme") {
        ParseAcme(c, e, base_dir, https);
        continue;
      }
      std::string s;
      if (!ReadString(c, e, f, s)) continue;
      if (e.key == "redirect_http") {
        if (s != "true" && s != "false") {
          c.Error(e.value.Mark(), f, "expected true or false, got " + Quote(s));
        }
        https.redirect_http = s == "true";
        continue;
      }
      auto addr = ParseListenAddress(s);
      if (!addr.ok()) {
        c.Error(e.value.Mark(), f, addr.error());
        continue;
      }
      https.listen = *addr;
      marks[f] = e.value.Mark();
    }
  }
  stack.proxy_https = https;
}

// webhooks: { host: ci.example.com, listen: 127.0.0.1:7071 } (host required).
void ParseWebhooks(Checker& c, const Entry& section, StackSpec& stack,
                   std::map<std::string, YAML::Mark>& marks) {
  if (!IsMapOrNull(c, section, "webhooks") || !section.value.IsMap()) {
    if (section.value.IsNull()) c.Error(section.key_node.Mark(), "webhooks", "needs a host:");
    return;
  }
  WebhookRoute hooks;
  bool have_host = false, host_given = false;
  for (const auto& e : c.Entries(section.value, "webhooks", {"host", "listen"})) {
    std::string f = Join("webhooks", e.key);
    std::string s;
    if (!ReadString(c, e, f, s)) continue;
    if (e.key == "host") {
      host_given = true;
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string why = CheckRouteHost(s);
      if (why.empty() && s.find('*') != std::string::npos) {
        why = "the webhook host is one name, not a wildcard";
      }
      if (!why.empty()) {
        c.Error(e.value.Mark(), f, Quote(s) + ": " + why);
        continue;
      }
      hooks.host = s;
      have_host = true;
    } else {
      auto addr = ParseListenAddress(s);
      if (!addr.ok()) {
        c.Error(e.value.Mark(), f, addr.error());
        continue;
      }
      hooks.listen = *addr;
      marks[f] = e.value.Mark();
    }
  }
  if (!have_host) {
    if (!host_given) {
      c.Error(section.key_node.Mark(), "webhooks", "needs a host: (the public name webhooks use)");
    }
    return;
  }
  stack.webhooks = hooks;
}

// logs: { retention: { max_bytes: 1GiB, max_age: 14d } } — each app's share of the store.
// host:port of a forward URL after its scheme; false (and `why`) when it is not one.
bool ForwardHostPort(const std::string& rest, std::uint16_t default_port, std::string* host,
                     std::uint16_t* port, std::string* path, std::string* why) {
  std::size_t slash = rest.find('/');
  std::string hp = rest.substr(0, slash);
  *path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path->empty() && path->back() == '/') path->pop_back();
  std::size_t colon = hp.rfind(':');
  std::string p;
  if (!hp.empty() && hp.front() == '[') {
    std::size_t close = hp.find(']');
    if (close == std::string::npos) {
      *why = "an IPv6 address needs its ']'";
      return false;
    }
    *host = hp.substr(1, close - 1);
    if (close + 1 < hp.size() && hp[close + 1] == ':') p = hp.substr(close + 2);
  } else {
    *host = colon == std::string::npos ? hp : hp.substr(0, colon);
    if (colon != std::string::npos) p = hp.substr(colon + 1);
  }
  if (host->empty()) {
    *why = "needs a host";
    return false;
  }
  *port = default_port;
  if (!p.empty()) {
    int v = 0;
    auto r = std::from_chars(p.data(), p.data() + p.size(), v);
    if (r.ec != std::errc() || r.ptr != p.data() + p.size() || v < 1 || v > 65535) {
      *why = "port must be 1-65535, got '" + p + "'";
      return false;
    }
    *port = static_cast<std::uint16_t>(v);
  }
  return true;
}

// logs.forward: [ {syslog: tcp://h:514}, {syslog: udp://h}, {loki: http://h:3100}, {file: F} ]
void ParseForward(Checker& c, const Entry& e, const std::string& base_dir, StackSpec& stack) {
  if (!e.value.IsSequence()) {
    c.Error(MarkOf(e), "logs.forward",
            std::string("expected a list of destinations, got ") + KindName(e.value));
    return;
  }
  for (std::size_t i = 0; i < e.value.size(); ++i) {
    const YAML::Node item = e.value[i];
    std::string where = "logs.forward[" + std::to_string(i) + "]";
    if (!item.IsMap() || item.size() != 1) {
      c.Error(item.Mark(), where, "expected one of {syslog: URL}, {loki: URL}, {file: PATH}");
      continue;
    }
    for (const auto& d : c.Entries(item, where, {"syslog", "loki", "file"})) {
      std::string f = Join(where, d.key);
      std::string s;
      if (!ReadString(c, d, f, s)) continue;
      LogForward out;
      std::string why;
      if (d.key == "file") {
        out.kind = LogForward::Kind::kFile;
        out.path = Resolve(base_dir, s);
      } else if (d.key == "syslog") {
        bool tcp = s.rfind("tcp://", 0) == 0, udp = s.rfind("udp://", 0) == 0;
        std::string path;
        if (!tcp && !udp) {
          why = "expected tcp://HOST[:PORT] or udp://HOST[:PORT]";
        } else if (ForwardHostPort(s.substr(6), 514, &out.host, &out.port, &path, &why) &&
                   !path.empty()) {
          why = "a syslog address has no path";
        }
        out.kind = tcp ? LogForward::Kind::kSyslogTcp : LogForward::Kind::kSyslogUdp;
      } else {
        out.kind = LogForward::Kind::kLoki;
        if (s.rfind("http://", 0) != 0) {
          why = "expected http://HOST[:PORT][/PATH]";
        } else {
          ForwardHostPort(s.substr(7), 3100, &out.host, &out.port, &out.path, &why);
        }
      }
      if (!why.empty()) {
        c.Error(d.value.Mark(), f, Quote(s) + ": " + why);
        continue;
      }
      stack.logs.forward.push_back(out);
    }
  }
}

void ParseLogs(Checker& c, const Entry& section, const std::string& base_dir, StackSpec& stack) {
  if (!IsMapOrNull(c, section, "logs") || !section.value.IsMap()) return;
  for (const auto& e : c.Entries(section.value, "logs", {"retention", "forward"})) {
    if (e.key == "forward") {
      ParseForward(c, e, base_dir, stack);
      continue;
    }
    if (!IsMapOrNull(c, e, "logs.retention") || !e.value.IsMap()) continue;
    for (const auto& r : c.Entries(e.value, "logs.retention", {"max_bytes", "max_age"})) {
      std::string f = Join("logs.retention", r.key);
      if (r.key == "max_age") {
        std::chrono::milliseconds age{};
        if (ReadDuration(c, r, f, std::chrono::minutes(1), std::chrono::hours(24 * 3650), age)) {
          stack.logs.max_age = age;
        }
        continue;
      }
      std::string s;
      if (!ReadString(c, r, f, s)) continue;
      auto bytes = ParseByteSize(s);
      if (!bytes.ok()) {
        c.Error(r.value.Mark(), f, bytes.error());
      } else if (*bytes < (1LL << 20)) {
        c.Error(r.value.Mark(), f, Quote(s) + " is too small (at least 1 MiB)");
      } else {
        stack.logs.max_bytes = *bytes;
      }
    }
  }
}

// instance_ports: "20000-29999", unprivileged and in order.
void ReadInstancePorts(Checker& c, const Entry& e, StackSpec& stack, StackMarks& marks) {
  std::string s;
  if (!ReadString(c, e, e.key, s)) return;
  size_t dash = s.find('-');
  int first = 0, last = 0;
  bool parsed = false;
  if (dash != std::string::npos) {
    auto r1 = std::from_chars(s.data(), s.data() + dash, first);
    auto r2 = std::from_chars(s.data() + dash + 1, s.data() + s.size(), last);
    parsed = dash > 0 && r1.ec == std::errc() && r1.ptr == s.data() + dash &&
             r2.ec == std::errc() && r2.ptr == s.data() + s.size();
  }
  if (!parsed) {
    c.Error(e.value.Mark(), e.key, "expected a port range such as 20000-29999, got " + Quote(s));
  } else if (first < 1024 || last > 65535 || first > last) {
    c.Error(e.value.Mark(), e.key,
            "must be FIRST-LAST with 1024 <= FIRST <= LAST <= 65535, got " + s);
  } else {
    stack.instance_ports = {static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)};
    marks.have_ports = true;
    marks.ports = e.value.Mark();
  }
}

// The top-level sections. Sets `have_apps` as soon as `apps` is seen.
void ParseSections(Checker& c, const YAML::Node& root, const std::string& base_dir,
                   StackSpec& stack, StackMarks& marks, bool& have_apps) {
  for (const auto& e :
       c.Entries(root, "",
                 {"state_dir", "proxy", "admin", "webhooks", "instance_ports", "logs", "apps"})) {
    if (e.key == "state_dir") {
      std::string s;
      if (ReadString(c, e, e.key, s)) stack.state_dir = Resolve(base_dir, s);
    } else if (e.key == "proxy") {
      ParseListenSection(c, e, "proxy", {"listen", "metrics", "https"}, &stack.proxy_listen,
                         &stack.proxy_metrics, marks.listen,
                         [&](const Entry& h) { ParseHttps(c, h, base_dir, stack, marks.listen); });
    } else if (e.key == "admin") {
      ParseListenSection(c, e, "admin", {"listen"}, &stack.admin_listen, nullptr, marks.listen);
    } else if (e.key == "webhooks") {
      ParseWebhooks(c, e, stack, marks.listen);
    } else if (e.key == "instance_ports") {
      ReadInstancePorts(c, e, stack, marks);
    } else if (e.key == "logs") {
      ParseLogs(c, e, base_dir, stack);
    } else if (e.key == "apps") {
      have_apps = true;
      ParseApps(c, e, base_dir, stack, marks);
    }
  }
}

}  // namespace

Result<StackSpec> ParseStackSpec(std::string_view yaml, const std::string& stack_path) {
  Checker c(stack_path, FileKind::kStack);
  YAML::Node root;
  if (!LoadRoot(c, yaml, root)) return c.ToStatus();

  StackSpec stack;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(stack_path, ec);
  stack.file = abs.lexically_normal().string();
  std::string base_dir = abs.lexically_normal().parent_path().string();
  stack.state_dir = Resolve(base_dir, ".gravity");

  StackMarks marks;
  bool have_apps = false;
  try {
    ParseSections(c, root, base_dir, stack, marks, have_apps);
  } catch (const YAML::Exception& e) {
    c.Error(e.mark, "", std::string("invalid YAML: ") + e.msg);
  }
  if (!have_apps) c.Error(root.Mark(), "", "missing required section 'apps'");

  CheckStack(c, stack, marks);

  if (!c.ok()) return c.ToStatus();
  return stack;
}

Result<StackSpec> LoadStackSpec(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return Status::Error(path + ": " + text.error());
  return ParseStackSpec(*text, path);
}

}  // namespace gravity::config
