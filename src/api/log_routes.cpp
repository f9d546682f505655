#include "api/log_routes.h"

#include "logs/query.h"

namespace gravity::api {

namespace {

std::int64_t WallNs(Clock& c) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(c.WallNow().time_since_epoch())
      .count();
}

std::string Event(const logs::Entry& e) {
  return "id: " + std::to_string(e.id) + "\ndata: " + logs::EntryJson(e).dump() + "\n\n";
}

}  // namespace

void AddLogRoutes(Router& router, logs::LogStore& store, Clock& clock) {
  router.Add("GET", "/v1/logs", [&store, &clock](const Request& req) {
    auto q = logs::ParseQuery(req.query, WallNs(clock));
    if (!q.ok()) return Response::Error(400, q.error());
    if (q->filter.limit == 0 && !req.query.count("n")) q->filter.limit = 1000;
    auto lines = logs::RunQuery(store, *q);
    if (!lines.ok()) return Response::Error(500, lines.error());
    auto usage = store.Usage(q->filter.app);
    nlohmann::json out = {{"app", q->filter.app},
                          {"lines", nlohmann::json::array()},
                          {"dropped_lines", usage.ok() ? usage->dropped_lines : 0}};
    for (const auto& e : *lines) out["lines"].push_back(logs::EntryJson(e));
    return Response::Json(200, out);
  });

  router.Add("GET", "/v1/logs/stream", [&store, &clock](const Request& req) {
    auto q = logs::ParseQuery(req.query, WallNs(clock));
    if (!q.ok()) return Response::Error(400, q.error());
    Response r;
    r.content_type = "text/event-stream";
    // A reconnecting EventSource says where it was.
    if (std::string last = req.Header("last-event-id"); !last.empty()) {
      q->filter.after_id = std::strtoll(last.c_str(), nullptr, 10);
    }
    if (q->filter.limit == 0 && q->filter.after_id == 0) q->filter.limit = 100;
    r.stream = [&store, &clock, q = *q](const Response::Writer& write) mutable {
      int idle = 0;
      for (;;) {
        auto lines = logs::RunQuery(store, q);
        if (!lines.ok()) {
          write("event: error\ndata: " + nlohmann::json(lines.error()).dump() + "\n\n");
          return;
        }
        for (const auto& e : *lines) {
          if (!write(Event(e))) return;
          q.filter.after_id = std::max(q.filter.after_id, e.id);
        }
        // Only lines stored after the last one sent, all of them, from now on.
        q.filter.limit = 0;
        q.filter.since_ns.reset();
        if (lines->empty() && ++idle >= 60) {  // about every 15 s: is the client there?
          idle = 0;
          if (!write(": keep-alive\n\n")) return;
        }
        if (!lines->empty()) idle = 0;
        clock.SleepFor(std::chrono::milliseconds(250));
      }
    };
    return r;
  });
}

}  // namespace gravity::api
