#include "api/log_routes.h"

#include "logs/query.h"

#include <algorithm>
#include <memory>

#include "api/sse.h"

namespace gravity::api {

namespace {

std::int64_t WallNs(Clock& c) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(c.WallNow().time_since_epoch())
      .count();
}

SseEvent Event(const logs::Entry& e) {
  return SseEvent{std::to_string(e.id), "", logs::EntryJson(e).dump()};
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
    // A reconnecting EventSource says where it was.
    if (std::string last = req.Header("last-event-id"); !last.empty()) {
      q->filter.after_id = std::strtoll(last.c_str(), nullptr, 10);
    }
    if (q->filter.limit == 0 && q->filter.after_id == 0) q->filter.limit = 100;
    auto stream = std::make_shared<EventStream>();
    // Each poll sends the lines stored after the last one sent; a client that is slow
    // fills its buffer, and the rest waits (the cursor stays) for the next poll.
    stream->poll = [&store, q = *q](SseBuffer& out) mutable {
      auto lines = logs::RunQuery(store, q);
      if (!lines.ok()) {
        out.Push(SseEvent{"", "error", nlohmann::json(lines.error()).dump()});
        return false;
      }
      for (const auto& e : *lines) {
        if (!out.Push(Event(e))) break;
        q.filter.after_id = std::max(q.filter.after_id, e.id);
      }
      // From now on: every line stored after the last one sent.
      q.filter.limit = 0;
      q.filter.since_ns.reset();
      return true;
    };
    r.stream = std::move(stream);
    return r;
  });
}

}  // namespace gravity::api
