#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace gravity::api {

// One file of src/api/dashboard/, compiled into the binary (cmake/embed_assets.cmake).
struct EmbeddedAsset {
  const char* path;  // relative to src/api/dashboard/: "app.js", "views/runs.js"
  const unsigned char* data;
  std::size_t size;
  const char* etag;  // the first 16 hex digits of the file's SHA-256

  std::string_view bytes() const { return {reinterpret_cast<const char*>(data), size}; }
};

// Every dashboard file, sorted by path.
std::span<const EmbeddedAsset> DashboardAssets();

}  // namespace gravity::api
