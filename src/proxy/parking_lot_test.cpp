#include "proxy/parking_lot.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <vector>

namespace gravity::proxy {
namespace {

// A connected pair of stream sockets: `parked` goes into the lot, `peer` is the client.
struct Pair {
  Pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) {
      parked = fds[0];
      peer = fds[1];
    }
  }
  ~Pair() {
    if (parked >= 0) ::close(parked);
    if (peer >= 0) ::close(peer);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  void Send() { ASSERT_EQ(::send(peer, "x", 1, MSG_NOSIGNAL), 1); }
  int parked = -1;
  int peer = -1;
};

// Runs what is ready (the lot's wait, its drain, drains it posted), never waiting.
void Settle(asio::io_context& io) {
  for (int i = 0; i < 50; ++i) {
    io.restart();
    if (io.poll() == 0) return;
  }
}

class ParkingLotTest : public ::testing::Test {
 protected:
  // The lot's owner: a ready connection is taken out (or it would be reported again).
  void OnReady(void* key) {
    auto* p = static_cast<Pair*>(key);
    ready.push_back(p);
    lot->Remove(p->parked);
  }
  asio::io_context io;
  std::vector<Pair*> ready;
  std::unique_ptr<ParkingLot> lot;
};

TEST_F(ParkingLotTest, ReportsOnlyConnectionsWithBytesOrEof) {
  lot = std::make_unique<ParkingLot>(io, [this](void* k) { OnReady(k); });
  Pair quiet, talks, leaves;
  ASSERT_TRUE(lot->Add(quiet.parked, &quiet).ok());
  ASSERT_TRUE(lot->Add(talks.parked, &talks).ok());
  ASSERT_TRUE(lot->Add(leaves.parked, &leaves).ok());
  Settle(io);
  EXPECT_TRUE(ready.empty());
  talks.Send();
  ::close(leaves.peer);
  leaves.peer = -1;
  Settle(io);
  EXPECT_EQ(std::set<Pair*>(ready.begin(), ready.end()), (std::set<Pair*>{&talks, &leaves}));
  EXPECT_EQ(ready.size(), 2u);  // each once
  // Still watched: the quiet one is reported when its bytes come.
  ready.clear();
  quiet.Send();
  Settle(io);
  EXPECT_EQ(ready, std::vector<Pair*>{&quiet});
}

TEST_F(ParkingLotTest, BytesThatCameBeforeTheConnectionWasAddedAreReported) {
  lot = std::make_unique<ParkingLot>(io, [this](void* k) { OnReady(k); });
  Pair early;
  early.Send();
  ASSERT_TRUE(lot->Add(early.parked, &early).ok());
  Settle(io);
  EXPECT_EQ(ready, std::vector<Pair*>{&early});
}

TEST_F(ParkingLotTest, ARemovedConnectionIsNotReported) {
  lot = std::make_unique<ParkingLot>(io, [this](void* k) { OnReady(k); });
  Pair gone, stays;
  ASSERT_TRUE(lot->Add(gone.parked, &gone).ok());
  ASSERT_TRUE(lot->Add(stays.parked, &stays).ok());
  lot->Remove(gone.parked);
  gone.Send();
  stays.Send();
  Settle(io);
  EXPECT_EQ(ready, std::vector<Pair*>{&stays});
}

TEST_F(ParkingLotTest, ManyReadyAtOnceAreAllTakenOverSeveralTurns) {
  // Batches of 4, two per turn: 37 ready connections need five turns of the loop.
  lot = std::make_unique<ParkingLot>(io, [this](void* k) { OnReady(k); }, 4, 2);
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < 37; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    ASSERT_GE(pairs.back()->parked, 0);
    ASSERT_TRUE(lot->Add(pairs.back()->parked, pairs.back().get()).ok());
  }
  for (auto& p : pairs) p->Send();
  // One turn takes at most 8: the loop is not held by the whole set.
  io.restart();
  io.run_one();  // the lot's wait completes and drains one turn
  EXPECT_LE(ready.size(), 8u);
  EXPECT_GE(ready.size(), 1u);
  Settle(io);
  ASSERT_EQ(ready.size(), 37u);
  EXPECT_EQ(std::set<Pair*>(ready.begin(), ready.end()).size(), 37u);
  // And the lot waits again afterwards.
  ready.clear();
  Pair late;
  ASSERT_TRUE(lot->Add(late.parked, &late).ok());
  late.Send();
  Settle(io);
  EXPECT_EQ(ready, std::vector<Pair*>{&late});
}

TEST_F(ParkingLotTest, ADescriptorTheKernelRefusesIsAnErrorThatSaysSo) {
  lot = std::make_unique<ParkingLot>(io, [this](void* k) { OnReady(k); });
  int fd = ::dup(STDIN_FILENO);
  ASSERT_GE(fd, 0);
  ::close(fd);  // a closed descriptor
  Status st = lot->Add(fd, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot park a connection"), std::string::npos) << st.message();
  Pair p;  // the lot goes on working
  ASSERT_TRUE(lot->Add(p.parked, &p).ok());
  p.Send();
  Settle(io);
  EXPECT_EQ(ready, std::vector<Pair*>{&p});
}

}  // namespace
}  // namespace gravity::proxy
