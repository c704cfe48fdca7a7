// The block pool's accounting and the prefix cache's reuse/eviction rules, without a model.
#include <gtest/gtest.h>

#include "engine/block_pool.h"
#include "engine/prefix_hash.h"
#include "engine/stop_matcher.h"

namespace tmill::engine {
namespace {

std::vector<int32_t> seq(int32_t from, int32_t n) {
  std::vector<int32_t> v;
  for (int32_t i = 0; i < n; ++i) v.push_back(from + i);
  return v;
}

TEST(BlockPool, AllocateReleaseKeepsCountsConsistent) {
  BlockPool pool(4);
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(pool.allocate());
  EXPECT_EQ(pool.allocate(), -1);
  EXPECT_EQ(pool.used(), 4);
  for (int32_t b : got) pool.release(b);
  EXPECT_EQ(pool.used(), 0);
  EXPECT_EQ(pool.available(), 4);
  EXPECT_EQ(pool.check_invariants(), "");
}

TEST(BlockPool, PublishedBlocksAreReusedThenEvictedLeastRecentFirst) {
  BlockPool pool(3);
  const auto tokens = seq(100, 32);
  const auto keys = block_keys(tokens, 2, 16, prefix_salt(""));
  const int32_t a = pool.allocate(), b = pool.allocate();
  pool.publish(a, keys[0]);
  pool.publish(b, keys[1]);
  pool.release(a);
  pool.release(b);
  EXPECT_EQ(pool.cached(), 2);
  EXPECT_EQ(pool.lookup(keys[0]), a);
  EXPECT_EQ(pool.lookup(keys[1]), b);
  pool.retain(a);  // a hit takes it back out of the LRU
  EXPECT_EQ(pool.used(), 1);
  EXPECT_EQ(pool.check_invariants(), "");
  // Two allocations: the never-used block first, then the least recently released cached one (b).
  const int32_t c = pool.allocate();
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_EQ(pool.allocate(), b);
  EXPECT_EQ(pool.lookup(keys[1]), -1) << "an evicted block no longer matches";
  EXPECT_EQ(pool.lookup(keys[0]), a);
  EXPECT_EQ(pool.check_invariants(), "");
}

TEST(PrefixHash, KeysDependOnEveryEarlierTokenAndTheTenant) {
  auto tokens = seq(1, 48);
  const auto k1 = block_keys(tokens, 3, 16, prefix_salt(""));
  tokens[0] = 999;
  const auto k2 = block_keys(tokens, 3, 16, prefix_salt(""));
  EXPECT_NE(k1[2].hash, k2[2].hash);
  const auto k3 = block_keys(seq(1, 48), 3, 16, prefix_salt("tenant-b"));
  EXPECT_NE(k1[0].hash, k3[0].hash);
  BlockPool pool(2);
  const int32_t a = pool.allocate();
  pool.publish(a, k1[0]);
  EXPECT_EQ(pool.lookup(k3[0]), -1) << "tenants never share cached blocks";
}

TEST(StopMatcher, HoldsPossibleStartsAndCutsAtTheEarliestStop) {
  StopMatcher m({"END", "\n\n"});
  EXPECT_EQ(m.push("hello E"), "hello ");
  EXPECT_TRUE(m.holding());
  EXPECT_EQ(m.push("N"), "");
  EXPECT_EQ(m.push("X more"), "ENX more");
  EXPECT_EQ(m.push(" text\n"), " text");
  EXPECT_EQ(m.push("\nEND"), "");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.push("after"), "");
  StopMatcher none({});
  EXPECT_EQ(none.push("abc"), "abc");
  StopMatcher tail({"STOP"});
  EXPECT_EQ(tail.push("ST"), "");
  EXPECT_EQ(tail.flush(), "ST");
}

}  // namespace
}  // namespace tmill::engine
