// What a server install needs: `gravity version`, the systemd unit of
// `gravity install-service` (checked with systemd-analyze verify; systemd is not PID 1
// here, so the unit is not started), and the Debian package (built with CPack from this
// build tree, unpacked with dpkg -x, its binary's libraries checked with ldd and against
// the package's Depends).

// GCC 12 reports -Wmaybe-uninitialized inside libstdc++'s <regex> (std::function moved in
// the NFA builder) when this file is compiled with -fsanitize=address at -O1: a false
// positive in library code, silenced for this file only (the only user of <regex>).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/fs.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace gravity::test {
namespace {

using std::chrono::seconds;

TEST(Version, PrintsVersionCommitAndBuildType) {
  auto r = RunCommand({GRAVITY_BIN, "version"});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_TRUE(std::regex_search(
      r->out, std::regex(R"(^gravity \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown), \w+ build\)\n$)")))
      << r->out;
  auto j = RunCommand({GRAVITY_BIN, "version", "--json"});
  ASSERT_TRUE(j.ok());
  EXPECT_NE(j->out.find("\"build_type\""), std::string::npos) << j->out;
}

TEST(InstallService, WritesAUnitThatSystemdAnalyzeVerifies) {
  TempDir dir("gravity-service");
  std::string stack = dir.Write("srv/stack.yml",
                                "state_dir: state\n"
                                "proxy: { listen: 127.0.0.1:18080 }\n"
                                "admin: { listen: 127.0.0.1:17070 }\n"
                                "apps:\n"
                                "  site:\n"
                                "    repo: ./site.git\n"
                                "    environments:\n"
                                "      staging: { branch: staging }\n");
  auto r = RunCommand({GRAVITY_BIN, "install-service", "-f", stack, "--dir", dir.Join("units"),
                       "--name", "gravity-test"},
                      dir.path());
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
  std::string unit_path = dir.Join("units/gravity-test.service");
  auto unit = ReadFile(unit_path);
  ASSERT_TRUE(unit.ok()) << r->out;
  EXPECT_NE(unit->find("Restart=always"), std::string::npos) << *unit;
  EXPECT_NE(unit->find(" supervise -f \"" + stack + "\""), std::string::npos) << *unit;
  EXPECT_NE(unit->find(" down -f \"" + stack + "\""), std::string::npos) << *unit;
  EXPECT_NE(unit->find("ReadWritePaths=\"" + dir.Join("srv/state") + "\""), std::string::npos)
      << *unit;
  EXPECT_NE(unit->find("Delegate=yes"), std::string::npos) << *unit;
  // Nothing that would take the sandbox's namespaces, /proc or cgroups away.
  for (const char* option : {"RestrictNamespaces=", "PrivateUsers=", "ProtectControlGroups=",
                             "ProtectKernelTunables=", "SystemCallFilter=", "ProtectProc="}) {
    EXPECT_EQ(unit->find(std::string("\n") + option), std::string::npos) << option;
  }

  auto v = RunCommand({"systemd-analyze", "verify", unit_path}, dir.path(), {},
                      seconds(60));
  ASSERT_TRUE(v.ok()) << v.error() << " (scripts/setup.sh installs systemd-analyze)";
  EXPECT_EQ(v->exit_code, 0) << v->out << v->err;
  EXPECT_EQ(v->err.find("gravity-test.service"), std::string::npos)
      << "systemd-analyze has something to say about the unit:\n" << v->err;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The package names in a Depends field ("libc6 (>= 2.34), libfmt9 (>= 9.1.0+ds1), ...").
std::vector<std::string> Split(const std::string& depends) {
  std::vector<std::string> out;
  std::regex item(R"((?:^|,)\s*([a-z0-9][a-z0-9.+-]+))");
  for (std::sregex_iterator it(depends.begin(), depends.end(), item), end; it != end; ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

TEST(Package, DebUnpacksWithEveryLibraryResolvedAndListedInDepends) {
  TempDir dir("gravity-package");
  auto cp = RunCommand({"cpack", "-G", "DEB", "--config",
                        std::string(GRAVITY_BUILD_DIR) + "/CPackConfig.cmake", "-B",
                        dir.Join("out")},
                       dir.path(), {}, seconds(240));
  ASSERT_TRUE(cp.ok()) << cp.error();
  ASSERT_EQ(cp->exit_code, 0) << cp->out << cp->err;
  std::string deb;
  for (const auto& e : std::filesystem::directory_iterator(dir.Join("out"))) {
    std::string name = e.path().filename().string();
    if (std::regex_match(name, std::regex(R"(gravity_\d+\.\d+\.\d+_amd64\.deb)"))) {
      deb = e.path().string();
    }
  }
  ASSERT_FALSE(deb.empty()) << cp->out;

  auto depends = RunOk({"dpkg-deb", "-f", deb, "Depends"});
  ASSERT_TRUE(depends.ok()) << depends.error();
  ASSERT_TRUE(RunOk({"dpkg-deb", "-x", deb, dir.Join("root")}).ok());
  std::string bin = dir.Join("root/usr/bin/gravity");
  ASSERT_TRUE(std::filesystem::exists(bin));
  EXPECT_TRUE(std::filesystem::exists(dir.Join("root/usr/share/doc/gravity/README.md")));
  auto version = RunOk({bin, "version"});
  ASSERT_TRUE(version.ok()) << version.error();

  auto ldd = RunOk({"ldd", bin});
  ASSERT_TRUE(ldd.ok()) << ldd.error();
  EXPECT_EQ(ldd->find("not found"), std::string::npos) << *ldd;
  // Every library the binary loads resolves to a file of an installed Debian package, and
  // the package of each library it links directly (NEEDED) is in Depends, by name or by a
  // name it Provides (libspdlog1.10 provides libspdlog1.10-fmt9).
  std::map<std::string, std::string> package_of;  // soname -> package
  for (const auto& line : Lines(*ldd)) {
    std::smatch m;
    if (!std::regex_search(line, m, std::regex(R"(^\s*(\S+) => (/\S+))"))) continue;
    std::string path = m[2].str();
    auto owner = RunOk({"dpkg", "-S", path});
    if (!owner.ok()) {
      // /lib is a symlink to /usr/lib on Debian 12: dpkg may know the other spelling.
      path = path.rfind("/usr/", 0) == 0 ? path.substr(4) : "/usr" + path;
      owner = RunOk({"dpkg", "-S", path});
    }
    ASSERT_TRUE(owner.ok()) << line << " comes from no Debian package: " << owner.error();
    package_of[m[1].str()] = owner->substr(0, owner->find(':'));
  }
  auto dynamic = RunOk({"readelf", "-d", bin});
  ASSERT_TRUE(dynamic.ok()) << dynamic.error();
  int needed = 0;
  for (const auto& line : Lines(*dynamic)) {
    std::smatch m;
    if (!std::regex_search(line, m, std::regex(R"(\(NEEDED\).*\[(\S+)\])"))) continue;
    ++needed;
    const std::string pkg = package_of[m[1].str()];
    ASSERT_FALSE(pkg.empty()) << m[1].str() << " not in ldd's answer:\n" << *ldd;
    auto provides = RunOk({"dpkg-query", "-W", "-f=${Provides}", pkg});
    std::vector<std::string> names = {pkg};
    if (provides.ok()) {
      std::regex word(R"([a-z0-9][a-z0-9.+-]+)");
      for (std::sregex_iterator it(provides->begin(), provides->end(), word), end; it != end;
           ++it) {
        names.push_back(it->str());
      }
    }
    bool listed = false;
    for (const auto& name : names) {
      for (const auto& dep : Split(*depends)) listed = listed || dep == name;
    }
    EXPECT_TRUE(listed) << m[1].str() << " (package " << pkg << ") is not in Depends: "
                        << *depends;
  }
  EXPECT_GE(needed, 5) << *dynamic;
}

}  // namespace
}  // namespace gravity::test
