#include "config/document.h"

#include <yaml-cpp/eventhandler.h>

#include <sstream>
#include <string>

#include "config/config.h"
#include "config/fields.h"

namespace gravity::config {

namespace {

// Sees where each document starts, and nothing else.
class DocumentProbe : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark start = YAML::Mark::null_mark();
};

// The number of documents in `text` (0, 1, or 2 meaning "more than one"), or -1 after
// reporting a stray character. Takes a bounded number of steps: yaml-cpp 0.7 never gets
// past a stray ',' at the top level (YAML::LoadAll loops forever on "{a: b},"), which
// shows as a document that starts where the previous one did. Throws YAML::Exception.
int CountDocuments(Checker& c, const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  int documents = 0;
  YAML::Mark previous = YAML::Mark::null_mark();
  for (int i = 0; i < 3; ++i) {
    DocumentProbe probe;
    if (!parser.HandleNextDocument(probe)) break;
    if (documents > 0 && probe.start.pos == previous.pos) {
      char ch = probe.start.pos >= 0 && static_cast<size_t>(probe.start.pos) < text.size()
                    ? text[static_cast<size_t>(probe.start.pos)]
                    : '?';
      c.Error(probe.start, "", std::string("invalid YAML: unexpected '") + ch + "'");
      return -1;
    }
    previous = probe.start;
    ++documents;
  }
  return documents;
}

// Parses `text` into `root` (null for no document). Returns false after reporting.
bool ParseYaml(Checker& c, std::string_view text, YAML::Node& root) {
  try {
    std::string copy(text);
    int documents = CountDocuments(c, copy);
    if (documents < 0) return false;
    if (documents > 1) {
      c.Error(YAML::Mark::null_mark(), "", "holds more than one YAML document ('---')");
      return false;
    }
    root = documents == 0 ? YAML::Node() : YAML::Load(copy);
    return true;
  } catch (const YAML::ParserException& e) {
    std::string msg = e.msg;
    if (msg.find("alias") != std::string::npos || msg.find("anchor") != std::string::npos) {
      msg += " (a value starting with '*' or '&' must be quoted, e.g. host: \"*\")";
    }
    c.Error(e.mark, "", "invalid YAML: " + msg);
  } catch (const YAML::Exception& e) {
    c.Error(e.mark, "", std::string("invalid YAML: ") + e.msg);
  }
  return false;
}

}  // namespace

bool LoadRoot(Checker& c, std::string_view text, YAML::Node& root) {
  if (text.size() > kMaxFileBytes) {
    c.Error(YAML::Mark::null_mark(), "",
            "file is larger than " + std::to_string(kMaxFileBytes) + " bytes");
    return false;
  }
  if (!ParseYaml(c, text, root)) return false;
  if (!root.IsMap()) {
    c.Error(root.IsNull() ? YAML::Mark() : root.Mark(), "",
            root.IsNull() ? "the file is empty"
                          : std::string("expected a mapping at the top, got ") + KindName(root));
    return false;
  }
  return true;
}

}  // namespace gravity::config
