// gravity static, as a real process answering real requests on loopback.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>

#include "common/process.h"
#include "support/support.h"

namespace gravity::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kIndex = "<h1>Automation for the people</h1>\n";
constexpr const char* kSecret = "TOP-SECRET-OUTSIDE-THE-ROOT";

// A served directory `site/` next to files that must never be served.
class StaticServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("site/index.html", kIndex);
    dir_.Write("site/docs/index.html", "docs index\n");
    dir_.Write("site/empty-dir/.keep", "");
    std::filesystem::remove(dir_.Join("site/empty-dir/.keep"));
    dir_.Write("site/style.css", "body{}\n");
    dir_.Write("site/app.js", "1;\n");
    dir_.Write("site/img.png", "\x89PNG");
    dir_.Write("site/data.unknownext", "x");
    dir_.Write("site/digits.txt", "0123456789");
    dir_.Write("site/sub dir/a file.txt", "spaced\n");
    dir_.Write("secret.txt", kSecret);
    dir_.Write("outside/index.html", kSecret);
    // Symlinks: one leading out to a file, one to a directory, one absolute, one inside.
    symlink("../secret.txt", dir_.Join("site/leak.txt").c_str());
    symlink("../outside", dir_.Join("site/outdir").c_str());
    symlink(dir_.Join("secret.txt").c_str(), dir_.Join("site/abs.txt").c_str());
    symlink("digits.txt", dir_.Join("site/inside-link.txt").c_str());
    Start();
  }

  void Start() {
    auto p = Subprocess::Start({{GRAVITY_BIN, "static", dir_.Join("site"), "--port", "0",
                                 "--idle-timeout", "5s", "--header-timeout", "2s"}});
    ASSERT_TRUE(p.ok()) << p.error();
    server_ = std::move(p).value();
    ASSERT_TRUE(server_->WaitForOutput("/\n", seconds(30))) << server_->Output();
    std::string out = server_->Output();
    size_t colon = out.rfind(':');
    port_ = std::stoi(out.substr(colon + 1));
    ASSERT_GT(port_, 0);
  }

  HttpResponse Get(const std::string& target, HttpHeaders headers = {},
                   const std::string& method = "GET") {
    HttpClient c("127.0.0.1", port_);
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.headers = std::move(headers);
    auto r = c.Send(req);
    EXPECT_TRUE(r.ok()) << target << ": " << r.error();
    return r.ok() ? *r : HttpResponse{};
  }

  // Sends raw bytes on a fresh connection and returns everything until the server closes.
  std::string Raw(const std::string& bytes) {
    HttpClient c("127.0.0.1", port_);
    EXPECT_TRUE(c.SendRaw(bytes).ok());
    auto r = c.ReadUntilClose();
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? *r : "";
  }

  TempDir dir_{"static-test"};
  std::unique_ptr<Subprocess> server_;
  int port_ = 0;
};

TEST_F(StaticServer, ServesIndexWithValidators) {
  HttpResponse r = Get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kIndex);
  EXPECT_EQ(r.HeaderOr("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.HeaderOr("Content-Length"), std::to_string(std::string(kIndex).size()));
  EXPECT_THAT(r.HeaderOr("ETag"), ::testing::MatchesRegex("\"[0-9a-f-]+\""));
  EXPECT_THAT(r.HeaderOr("Last-Modified"), HasSubstr(" GMT"));
  EXPECT_EQ(r.HeaderOr("Accept-Ranges"), "bytes");
  EXPECT_EQ(Get("/index.html").body, kIndex);
  EXPECT_EQ(Get("/?q=1").body, kIndex);
}

TEST_F(StaticServer, DirectoriesRedirectToSlashAndServeIndex) {
  HttpResponse r = Get("/docs");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.HeaderOr("Location"), "/docs/");
  EXPECT_EQ(Get("/docs?x=1").HeaderOr("Location"), "/docs/?x=1");
  EXPECT_EQ(Get("/docs/").body, "docs index\n");
  EXPECT_EQ(Get("/empty-dir/").status, 404);  // no listing
  EXPECT_EQ(Get("/style.css/").status, 404);
}

TEST_F(StaticServer, ContentTypesByExtension) {
  EXPECT_EQ(Get("/style.css").HeaderOr("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(Get("/app.js").HeaderOr("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Get("/img.png").HeaderOr("Content-Type"), "image/png");
  EXPECT_EQ(Get("/digits.txt").HeaderOr("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(Get("/data.unknownext").HeaderOr("Content-Type"), "application/octet-stream");
  EXPECT_EQ(Get("/sub%20dir/a%20file.txt").body, "spaced\n");
}

TEST_F(StaticServer, HeadHasHeadersButNoBodyAndKeepsTheConnection) {
  HttpClient c("127.0.0.1", port_);
  HttpRequest head;
  head.method = "HEAD";
  head.target = "/digits.txt";
  auto h = c.Send(head);
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->HeaderOr("Content-Length"), "10");
  EXPECT_EQ(h->body, "");
  auto g = c.Get("/digits.txt");
  ASSERT_TRUE(g.ok()) << g.error();
  EXPECT_EQ(g->body, "0123456789");
  EXPECT_EQ(c.connections_opened(), 1);
}

TEST_F(StaticServer, ManyRequestsOnOneKeepAliveConnection) {
  HttpClient c("127.0.0.1", port_);
  for (int i = 0; i < 200; ++i) {
    auto r = c.Get(i % 2 ? "/digits.txt" : "/nope");
    ASSERT_TRUE(r.ok()) << r.error();
    ASSERT_EQ(r->status, i % 2 ? 200 : 404);
  }
  EXPECT_EQ(c.connections_opened(), 1);
}

TEST_F(StaticServer, PipelinedRequestsAreAnsweredInOrder) {
  HttpClient c("127.0.0.1", port_);
  ASSERT_TRUE(c.SendRaw("GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                        "HEAD /style.css HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n")
                  .ok());
  auto a = c.ReadResponse();
  auto b = c.ReadResponse(/*head=*/true);
  auto d = c.ReadResponse();
  ASSERT_TRUE(a.ok() && b.ok() && d.ok());
  EXPECT_EQ(a->body, "0123456789");
  EXPECT_EQ(b->HeaderOr("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(d->body, "docs index\n");
}

TEST_F(StaticServer, ConditionalRequestsAnswer304) {
  HttpResponse first = Get("/digits.txt");
  std::string etag = first.HeaderOr("ETag");
  ASSERT_FALSE(etag.empty());
  HttpResponse r = Get("/digits.txt", {{"If-None-Match", etag}});
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.HeaderOr("ETag"), etag);
  EXPECT_EQ(Get("/digits.txt", {{"If-None-Match", "\"other\", W/" + etag}}).status, 304);
  EXPECT_EQ(Get("/digits.txt", {{"If-None-Match", "*"}}).status, 304);
  EXPECT_EQ(Get("/digits.txt", {{"If-None-Match", "\"other\""}}).status, 200);
  std::string lm = first.HeaderOr("Last-Modified");
  EXPECT_EQ(Get("/digits.txt", {{"If-Modified-Since", lm}}).status, 304);
  EXPECT_EQ(Get("/digits.txt", {{"If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"}}).status,
            200);
  EXPECT_EQ(Get("/digits.txt", {{"If-Modified-Since", "garbage"}}).status, 200);
}

TEST_F(StaticServer, SingleRangesAnswer206And416) {
  HttpResponse r = Get("/digits.txt", {{"Range", "bytes=2-4"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "234");
  EXPECT_EQ(r.HeaderOr("Content-Range"), "bytes 2-4/10");
  EXPECT_EQ(Get("/digits.txt", {{"Range", "bytes=7-"}}).body, "789");
  EXPECT_EQ(Get("/digits.txt", {{"Range", "bytes=-3"}}).body, "789");
  EXPECT_EQ(Get("/digits.txt", {{"Range", "bytes=8-100"}}).body, "89");
  HttpResponse bad = Get("/digits.txt", {{"Range", "bytes=10-"}});
  EXPECT_EQ(bad.status, 416);
  EXPECT_EQ(bad.HeaderOr("Content-Range"), "bytes */10");
  // Several ranges, other units and nonsense: the whole file.
  EXPECT_EQ(Get("/digits.txt", {{"Range", "bytes=0-1,4-5"}}).status, 200);
  EXPECT_EQ(Get("/digits.txt", {{"Range", "lines=1-2"}}).status, 200);
  EXPECT_EQ(Get("/digits.txt", {{"Range", "bytes=5-2"}}).body, "0123456789");
  // If-Range with a stale validator: the whole file.
  EXPECT_EQ(Get("/digits.txt", {{"Range", "bytes=0-1"}, {"If-Range", "\"old\""}}).status, 200);
  std::string etag = Get("/digits.txt").HeaderOr("ETag");
  EXPECT_EQ(Get("/digits.txt", {{"Range", "bytes=0-1"}, {"If-Range", etag}}).status, 206);
}

TEST_F(StaticServer, OtherMethodsAnswer405WithAllow) {
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    HttpResponse r = Get("/index.html", {}, m);
    EXPECT_EQ(r.status, 405) << m;
    EXPECT_EQ(r.HeaderOr("Allow"), "GET, HEAD") << m;
  }
  HttpResponse missing = Get("/nope.html");
  EXPECT_EQ(missing.status, 404);
}

TEST_F(StaticServer, NeverServesOutsideTheDirectory) {
  const char* attempts[] = {
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E/secret.txt",
      "/docs/../../secret.txt",
      "/docs/%2e%2e/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/%2e%2e%2fsecret.txt",
      "/./../secret.txt",
      "/leak.txt",
      "/abs.txt",
      "/outdir/",
      "/outdir/index.html",
      "/outdir",
      "//../secret.txt",
      "/..\\secret.txt",
      "/%252e%252e/secret.txt",
      "/docs/..%00/secret.txt",
      "http://x/../secret.txt",
  };
  for (const char* target : attempts) {
    std::string out = Raw(std::string("GET ") + target +
                          " HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n");
    EXPECT_THAT(out, Not(HasSubstr(kSecret))) << target;
    EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.1 4")) << target << "\n" << out;
  }
  // A symlink that stays inside is fine.
  EXPECT_EQ(Get("/inside-link.txt").body, "0123456789");
  // ".." that stays inside is resolved.
  EXPECT_EQ(Get("/docs/../digits.txt").body, "0123456789");
  // A symlink swapped to lead out after being served is refused once the cached entry is
  // revalidated (within ServerOptions::revalidate_after); the secret never shows.
  dir_.Write("site/swap.txt", "fine");
  EXPECT_EQ(Get("/swap.txt").body, "fine");
  std::filesystem::remove(dir_.Join("site/swap.txt"));
  symlink("../secret.txt", dir_.Join("site/swap.txt").c_str());
  HttpResponse swapped;
  EXPECT_TRUE(WaitFor(
      [&] {
        swapped = Get("/swap.txt");
        EXPECT_THAT(swapped.body, Not(HasSubstr(kSecret)));
        return swapped.status == 404;
      },
      seconds(10)));
}

TEST_F(StaticServer, MalformedRequestsGet400AndTheServerKeepsServing) {
  struct Case {
    const char* bytes;
    const char* status;
  };
  const Case cases[] = {
      {"GARBAGE\r\n\r\n", "HTTP/1.1 400"},
      {"GET /\r\n\r\n", "HTTP/1.1 400"},
      {"GET / HTTP/1.1\r\nHost x\r\n\r\n", "HTTP/1.1 400"},
      {"GET / HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/1.1 505"},
      {"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"},
      {"GET /%4 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"},
      {"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"},
      {"GET relative HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       "HTTP/1.1 400"},
  };
  for (const Case& c : cases) {
    std::string out = Raw(c.bytes);
    EXPECT_THAT(out, ::testing::StartsWith(c.status)) << c.bytes << "\n" << out;
  }
  std::string huge = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40000, 'a') + "\r\n\r\n";
  EXPECT_THAT(Raw(huge), ::testing::StartsWith("HTTP/1.1 431"));
  EXPECT_EQ(Get("/").body, kIndex);
}

TEST_F(StaticServer, RandomGarbageNeverHurtsOtherClients) {
  std::mt19937 rng(2024);  // fixed seed: the same bytes every run
  const std::string pieces[] = {"GET ",
                                "HEAD ",
                                "/",
                                "%",
                                "..",
                                "%2e",
                                "\r\n",
                                "\n",
                                ":",
                                " HTTP/1.1",
                                "Host: x",
                                "Range: bytes=",
                                "Content-Length: ",
                                "Transfer-Encoding: chunked",
                                "\0",
                                "\xff",
                                "9999999999",
                                ","};
  HttpClient steady("127.0.0.1", port_);
  for (int i = 0; i < 60; ++i) {
    std::string junk;
    int n = 1 + static_cast<int>(rng() % 30);
    for (int k = 0; k < n; ++k) {
      if (rng() % 3 == 0) {
        junk += static_cast<char>(rng() % 256);
      } else {
        junk += pieces[rng() % std::size(pieces)];
      }
    }
    if (i % 2) junk += "\r\n\r\n";
    HttpClient c("127.0.0.1", port_, seconds(5));
    if (c.SendRaw(junk).ok() && i % 2) {
      auto answer = c.ReadResponse();  // a complete head is answered (or the peer closes)
      if (answer.ok()) {
        EXPECT_THAT(answer->body, Not(HasSubstr(kSecret)));
      }
    }
    auto r = steady.Get("/digits.txt");  // everyone else is still served
    ASSERT_TRUE(r.ok()) << r.error();
    ASSERT_EQ(r->body, "0123456789");
  }
  EXPECT_EQ(steady.connections_opened(), 1);
}

TEST_F(StaticServer, Http10ClosesUnlessKeepAliveWasAsked) {
  std::string out = Raw("GET /digits.txt HTTP/1.0\r\n\r\n");
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.0 200"));
  EXPECT_THAT(out, HasSubstr("0123456789"));
  HttpClient c("127.0.0.1", port_);
  ASSERT_TRUE(c.SendRaw("GET /digits.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").ok());
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->HeaderOr("Connection"), "keep-alive");
  ASSERT_TRUE(c.SendRaw("GET /digits.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok());
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->body, "0123456789");
  EXPECT_TRUE(c.WaitClosed(seconds(10)));
}

TEST_F(StaticServer, SlowAndIdleClientsAreCutOff) {
  HttpClient slow("127.0.0.1", port_);
  ASSERT_TRUE(slow.SendRaw("GET / HTTP/1.1\r\nHost: x\r\n").ok());  // never finishes the head
  HttpClient idle("127.0.0.1", port_);
  ASSERT_TRUE(idle.Get("/digits.txt").ok());
  EXPECT_TRUE(slow.WaitClosed(seconds(30)));
  EXPECT_TRUE(idle.WaitClosed(seconds(30)));
  EXPECT_EQ(Get("/digits.txt").body, "0123456789");
}

TEST_F(StaticServer, LargeFilesAreStreamedWhole) {
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7919) % 26);
  dir_.Write("site/big.bin", big);
  HttpClient c("127.0.0.1", port_, seconds(30));
  auto r = c.Get("/big.bin");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), big.size());
  EXPECT_TRUE(r->body == big);
  HttpRequest range;
  range.target = "/big.bin";
  range.headers = {{"Range", "bytes=2097152-2097161"}};
  auto part = c.Send(range);
  ASSERT_TRUE(part.ok()) << part.error();
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, big.substr(2097152, 10));
  auto again = c.Get("/digits.txt");  // the connection is still usable
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->body, "0123456789");
  EXPECT_EQ(c.connections_opened(), 1);
}

TEST_F(StaticServer, ChangedFilesAreServedFresh) {
  HttpResponse a = Get("/digits.txt");
  dir_.Write("site/digits.txt", "changed, and longer than before");
  HttpResponse b;
  EXPECT_TRUE(WaitFor(
      [&] {
        b = Get("/digits.txt");
        return b.body == "changed, and longer than before";
      },
      seconds(10)))
      << b.body;
  EXPECT_NE(a.HeaderOr("ETag"), b.HeaderOr("ETag"));
  std::filesystem::remove(dir_.Join("site/digits.txt"));
  EXPECT_TRUE(WaitFor([&] { return Get("/digits.txt").status == 404; }, seconds(10)));
}

TEST_F(StaticServer, SigtermExitsCleanlyAndPromptly) {
  HttpClient idle("127.0.0.1", port_);
  ASSERT_TRUE(idle.Get("/").ok());  // an idle keep-alive connection must not hold it up
  server_->Signal(SIGTERM);
  auto status = server_->Wait(seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status)) << DescribeWaitStatus(*status);
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_TRUE(idle.WaitClosed(seconds(10)));
}

TEST(StaticCommand, RefusesAMissingDirectoryAndBadFlags) {
  auto missing = RunCommand({GRAVITY_BIN, "static", "/nonexistent/dir", "--port", "0"});
  ASSERT_TRUE(missing.ok());
  EXPECT_NE(missing->exit_code, 0);
  EXPECT_THAT(missing->err, HasSubstr("/nonexistent/dir"));
  auto no_port = RunCommand({GRAVITY_BIN, "static", "."}, "", {{"PORT", ""}});
  ASSERT_TRUE(no_port.ok());
  EXPECT_NE(no_port->exit_code, 0);
  EXPECT_THAT(no_port->err, HasSubstr("--port"));
  auto bad_host = RunCommand({GRAVITY_BIN, "static", ".", "--port", "0", "--host", "nohost!"});
  ASSERT_TRUE(bad_host.ok());
  EXPECT_NE(bad_host->exit_code, 0);
  auto bad_timeout = RunCommand({GRAVITY_BIN, "static", ".", "--port", "0", "--idle-timeout", "5"});
  ASSERT_TRUE(bad_timeout.ok());
  EXPECT_NE(bad_timeout->exit_code, 0);
  EXPECT_THAT(bad_timeout->err, HasSubstr("invalid duration '5'"));
}

TEST(StaticCommand, UsesPortFromTheEnvironment) {
  TempDir dir("static-env");
  dir.Write("index.html", "env port\n");
  int port = FreePort();
  auto p =
      Subprocess::Start({{GRAVITY_BIN, "static", dir.path()}, {{"PORT", std::to_string(port)}}});
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE((*p)->WaitForOutput(":" + std::to_string(port) + "/", seconds(30))) << (*p)->Output();
  auto r = HttpGet(port, "/");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "env port\n");
}

}  // namespace
}  // namespace gravity::test
