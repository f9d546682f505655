#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/sse.h"

namespace gravity::api {

// One HTTP request as handlers see it.
struct Request {
  std::string method;                          // "GET"
  std::string target;                          // "/v1/runs?app=site"
  std::string path;                            // "/v1/runs" (percent-decoded)
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::map<std::string, std::string> params;  // from the route pattern: ":id" -> params["id"]

  std::string Header(const std::string& lower_name) const;
  std::string Query(const std::string& name, const std::string& fallback = "") const;
  std::string Param(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the answer is a long-lived text/event-stream (status 200; body and content_type
  // are ignored) that the server feeds from stream->poll until it ends or the client
  // leaves (see EventStream).
  std::shared_ptr<EventStream> stream;

  static Response Json(int status, const nlohmann::json& body);
  // {"ok":false,"error":message}
  static Response Error(int status, const std::string& message);
};

enum class Auth {
  kDefault,  // GET/HEAD: none; anything else: bearer token
  kNone,     // e.g. webhooks, authenticated by their own signature
  kToken,    // bearer token required
};

// Routes requests to handlers by method and path pattern ("/v1/runs/:id"). Adding routes
// is done before the server starts; Handle() is then thread-safe (read-only).
// Unknown path: 404; known path, other method: 405; missing/wrong bearer token on a route
// that needs it: 401. Handlers return Responses; an exception escaping one becomes 500.
class Router {
 public:
  using Handler = std::function<Response(const Request&)>;

  void Add(const std::string& method, const std::string& pattern, Handler handler,
           Auth auth = Auth::kDefault);
  // The bearer token required by authenticated routes (compared in constant time).
  void SetToken(std::string token) { token_ = std::move(token); }
  // Reads (kDefault GET/HEAD routes) need the token too: for an API that listens beyond
  // loopback, where its runs, logs and paths would otherwise be public.
  void RequireTokenForReads(bool on) { reads_need_token_ = on; }
  // Requests whose Host is not a loopback name (127.0.0.0/8, [::1], localhost, with any
  // port) get 421: for an API on loopback, where such a request can only come from a
  // browser page that rebound its own name to 127.0.0.1.
  void RequireLoopbackHost(bool on) { loopback_host_only_ = on; }

  Response Handle(Request request) const;

  // Splits a target into path and decoded query; false when it is malformed.
  static bool ParseTarget(const std::string& target, std::string* path,
                          std::map<std::string, std::string>* query);

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    Auth auth;
    bool needs_token;  // whatever RequireTokenForReads says
  };
  static bool Match(const Route& route, const std::vector<std::string>& segments,
                    std::map<std::string, std::string>* params);

  std::vector<Route> routes_;
  std::string token_;
  bool reads_need_token_ = false;
  bool loopback_host_only_ = false;
};

}  // namespace gravity::api
