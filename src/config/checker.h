#pragma once

// The YAML checker shared by the gravity.yml and stack.yml parsers: it collects problems
// with their `FILE:LINE:COL` positions, walks mappings (reporting unknown keys with a
// suggestion, misplaced keys with where they belong, and duplicate keys), and turns the
// problems into one Status. Internal to src/config; no other folder includes it.

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gravity::config {

// Which file is being checked: decides where a misplaced key is said to belong.
enum class FileKind { kApp, kStack };

// One key/value pair of a mapping, with the key's node for its position.
struct Entry {
  std::string key;
  // A copy, not a reference: yaml-cpp's map iterator yields a temporary key/value pair,
  // so a reference into it dangles once the loop moves on.
  YAML::Node key_node;
  YAML::Node value;
};

// User text quoted for a message: at most 80 characters.
std::string Quote(std::string_view s);

// One error is one line: control characters from the file are shown escaped ("\n", "\x01").
std::string OneLine(const std::string& s);

// Where a key that is unknown at one place of a `kind` file belongs instead ("it belongs
// under health:"), or "" when it is unknown everywhere.
std::string Misplaced(FileKind kind, const std::string& key);

// The closest of `allowed` to `key` (compared in lowercase) when it is close enough to be
// a likely misspelling, else "".
std::string Suggest(std::string_view key, const std::vector<std::string_view>& allowed);

// Collects errors with their positions. Not thread-safe; one per parse.
class Checker {
 public:
  Checker(std::string file, FileKind kind) : file_(std::move(file)), kind_(kind) {}

  // Records `FILE:LINE:COL: where: what` (no position when `mark` is null; no `where: `
  // when `where` is empty). Beyond kMaxErrors only notes that more were found.
  void Error(const YAML::Mark& mark, const std::string& where, const std::string& what);

  bool ok() const { return errors_.empty(); }

  // All errors, in the order of their position in the file, one per line.
  Status ToStatus() const;

  // The entries of a mapping, in file order. Reports keys that are not scalars, keys not
  // in `allowed` (with a suggestion when one is close; skipped when `allowed` is empty),
  // and duplicate keys (the first one wins).
  std::vector<Entry> Entries(const YAML::Node& map, const std::string& where,
                             const std::vector<std::string_view>& allowed);

 private:
  struct Problem {
    int line;
    int column;
    std::string text;
  };

  std::string UnknownKeyMessage(const std::string& key,
                                const std::vector<std::string_view>& allowed) const;

  std::string file_;
  FileKind kind_;
  std::vector<Problem> errors_;
  bool truncated_ = false;
};

}  // namespace gravity::config
