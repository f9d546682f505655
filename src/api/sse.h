#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace gravity::api {

// One server-sent event (https://html.spec.whatwg.org/#server-sent-events): `data` may hold
// several lines (each becomes a `data:` line); `id` is what a reconnecting client sends back
// as Last-Event-ID.
struct SseEvent {
  std::string id;     // "" = none
  std::string event;  // "" = the default "message"
  std::string data;
};

// The wire form of one event, ending in the blank line. CR and LF in `id` and `event` are
// dropped (they would end the field); CR LF and CR in `data` count as line ends.
std::string FormatSse(const SseEvent& event);

// One client's bounded buffer of formatted events, filled by an EventStream's poll and
// emptied by the connection that writes to the client. A producer that outpaces the
// client is refused (Push returns false) instead of growing memory: it keeps its cursor
// and offers the same events again on a later poll.
// Not thread-safe: one connection thread owns it.
class SseBuffer {
 public:
  explicit SseBuffer(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  // False, and nothing added, when the event would take the buffer past max_bytes (an
  // event larger than max_bytes on its own is accepted into an empty buffer, so one
  // oversized line cannot stall a stream forever).
  bool Push(const SseEvent& event);
  // Whether an event of `bytes` formatted bytes would be accepted now.
  bool HasRoomFor(std::size_t bytes) const;
  // Moves everything buffered out (the connection writes it).
  std::string Take();
  std::size_t size() const { return bytes_.size(); }
  std::size_t max_bytes() const { return max_bytes_; }

 private:
  const std::size_t max_bytes_;
  std::string bytes_;
};

// A long-lived text/event-stream answer (Response::stream). The connection thread calls
// `poll` at once and then every `poll_interval`; poll pushes what is new into the buffer
// and returns false once the stream has ended (its last events are still written). While
// nothing is written for `heartbeat`, a comment line keeps the connection (and proxies on
// the way) alive and lets the server notice a client that went away. A client that takes
// nothing for `write_timeout` is disconnected; so is every client when the server stops.
struct EventStream {
  std::function<bool(SseBuffer&)> poll;
  std::chrono::milliseconds poll_interval{250};
  std::chrono::milliseconds heartbeat{15000};
  std::chrono::milliseconds write_timeout{30000};
  std::size_t max_buffer_bytes = 256 << 10;
  // Sent first: how long a browser's EventSource waits before reconnecting.
  std::chrono::milliseconds retry{2000};
};

}  // namespace gravity::api
