#include "api/sse.h"

namespace gravity::api {

namespace {

std::string OneLine(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return out;
}

}  // namespace

std::string FormatSse(const SseEvent& event) {
  std::string out;
  if (!event.id.empty()) out += "id: " + OneLine(event.id) + "\n";
  if (!event.event.empty()) out += "event: " + OneLine(event.event) + "\n";
  std::size_t start = 0;
  const std::string& d = event.data;
  for (;;) {
    std::size_t end = d.find_first_of("\r\n", start);
    out += "data: " + d.substr(start, end == std::string::npos ? std::string::npos : end - start);
    out += "\n";
    if (end == std::string::npos) break;
    start = end + ((d[end] == '\r' && end + 1 < d.size() && d[end + 1] == '\n') ? 2 : 1);
    if (start >= d.size()) break;  // a trailing line end adds no empty data line
  }
  out += "\n";
  return out;
}

bool SseBuffer::HasRoomFor(std::size_t bytes) const {
  return bytes_.empty() || bytes_.size() + bytes <= max_bytes_;
}

bool SseBuffer::Push(const SseEvent& event) {
  std::string wire = FormatSse(event);
  if (!HasRoomFor(wire.size())) return false;
  bytes_ += wire;
  return true;
}

std::string SseBuffer::Take() {
  std::string out;
  out.swap(bytes_);
  return out;
}

}  // namespace gravity::api
