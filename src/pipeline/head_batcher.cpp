#include "pipeline/head_batcher.h"

#include <algorithm>
#include <utility>

namespace gravity::pipeline {

HeadLineBatcher::HeadLineBatcher(const Clock& clock, std::string prefix, Sink sink)
    : clock_(clock), prefix_(std::move(prefix)), sink_(std::move(sink)), last_flush_(clock.Now()) {}

void HeadLineBatcher::AttachTo(CommandOptions& o) {
  o.on_head_line = [this](const LogLine& line) { Add(line); };
  o.on_poll = [this] { Poll(); };
}

void HeadLineBatcher::Add(LogLine line) {
  line.text = prefix_ + line.text;
  pending_.push_back(std::move(line));
  if (pending_.size() >= kMaxPending) Flush();
}

void HeadLineBatcher::Poll() {
  if (!pending_.empty() && clock_.Now() - last_flush_ > kMaxAge) Flush();
}

void HeadLineBatcher::Flush() {
  if (!pending_.empty()) sink_(pending_);
  streamed_ += pending_.size();
  pending_.clear();
  last_flush_ = clock_.Now();
}

std::vector<LogLine> HeadLineBatcher::Unstreamed(const std::vector<LogLine>& all) const {
  std::vector<LogLine> rest(all.begin() + std::min(streamed_, all.size()), all.end());
  for (auto& l : rest) l.text = prefix_ + l.text;
  return rest;
}

}  // namespace gravity::pipeline
