// API keys: create/authenticate/revoke/list, rejected secrets, the pepper file, validation, and
// that a secret never reaches the database files.
#include "platform/key_store.h"
#include "platform/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace tmill::platform {
namespace {

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("tm_keys") {}
};

std::unique_ptr<KeyStore> open_store(const std::filesystem::path& dir) {
  auto store = KeyStore::open(dir);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(*store) : nullptr;
}

std::pair<KeyRecord, std::string> create_key(KeyStore& store, const std::string& tenant,
                                             const KeyLimits& limits = {}, bool admin = false) {
  auto created = store.create(tenant, admin, limits);
  EXPECT_TRUE(created.ok()) << created.error().message;
  return created.ok() ? std::move(*created) : std::pair<KeyRecord, std::string>{};
}

std::optional<KeyRecord> authenticate(KeyStore& store, std::string_view secret) {
  auto result = store.authenticate(secret);
  EXPECT_TRUE(result.ok()) << result.error().message;
  return result.ok() ? *result : std::nullopt;
}

std::string read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(KeyStore, CreateAuthenticateRevokeAndList) {
  TempDir dir;
  auto store = open_store(dir.path / "data");
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(*store->any_active_keys());

  KeyLimits limits;
  limits.rpm = 60;
  limits.tpm = 10000;
  limits.budget_usd = 12.5;
  limits.budget_period = "day";
  limits.weight = 2.5;
  limits.models = {"smollm2-135m", "gemma3-270m"};
  auto [key, secret] = create_key(*store, "acme", limits, /*admin=*/true);
  EXPECT_EQ(key.key_id.size(), 16u);
  EXPECT_EQ(key.key_id.rfind("key_", 0), 0u);
  EXPECT_EQ(secret.size(), 46u);
  EXPECT_EQ(secret.rfind("tm-", 0), 0u);
  EXPECT_GT(key.created_unix, 1'600'000'000);
  EXPECT_FALSE(key.revoked_unix);
  EXPECT_TRUE(*store->any_active_keys());

  auto found = authenticate(*store, secret);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->key_id, key.key_id);
  EXPECT_EQ(found->tenant, "acme");
  EXPECT_TRUE(found->admin);
  EXPECT_EQ(found->limits.rpm, 60);
  EXPECT_EQ(found->limits.tpm, 10000);
  EXPECT_EQ(found->limits.budget_usd, 12.5);
  EXPECT_EQ(found->limits.budget_period, "day");
  EXPECT_EQ(found->limits.weight, 2.5);
  EXPECT_EQ(found->limits.models, limits.models);
  EXPECT_EQ(found->created_unix, key.created_unix);

  auto [other, other_secret] = create_key(*store, "beta.team_2-x");
  EXPECT_NE(other.key_id, key.key_id);
  EXPECT_NE(other_secret, secret);
  EXPECT_EQ(authenticate(*store, other_secret)->key_id, other.key_id);
  EXPECT_TRUE(authenticate(*store, other_secret)->limits.models.empty());

  ASSERT_TRUE(store->revoke(key.key_id).ok());
  EXPECT_FALSE(authenticate(*store, secret));
  EXPECT_TRUE(authenticate(*store, other_secret));  // the other key is untouched

  auto all = store->list(true);
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].key_id, key.key_id);  // creation order
  ASSERT_TRUE((*all)[0].revoked_unix);
  EXPECT_GE(*(*all)[0].revoked_unix, key.created_unix);
  EXPECT_EQ((*all)[1].key_id, other.key_id);
  EXPECT_FALSE((*all)[1].revoked_unix);
  auto active = store->list(false);
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].key_id, other.key_id);

  EXPECT_TRUE(*store->any_active_keys());
  ASSERT_TRUE(store->revoke(other.key_id).ok());
  EXPECT_FALSE(*store->any_active_keys());
}

TEST(KeyStore, RevokeUnknownIsAnErrorAndRevokingTwiceKeepsTheFirstTime) {
  TempDir dir;
  auto store = open_store(dir.path);
  ASSERT_NE(store, nullptr);
  Status unknown = store->revoke("key_000000000000");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("key_000000000000"), std::string::npos);

  auto [key, secret] = create_key(*store, "acme");
  ASSERT_TRUE(store->revoke(key.key_id).ok());
  const auto first = (*store->list())[0].revoked_unix;
  ASSERT_TRUE(store->revoke(key.key_id).ok());
  EXPECT_EQ((*store->list())[0].revoked_unix, first);
}

TEST(KeyStore, WrongMalformedAndEmptySecretsAreNotKeys) {
  TempDir dir;
  auto store = open_store(dir.path);
  ASSERT_NE(store, nullptr);
  auto [key, secret] = create_key(*store, "acme");
  ASSERT_TRUE(authenticate(*store, secret));

  std::string one_char_changed = secret;
  one_char_changed[10] = one_char_changed[10] == 'A' ? 'B' : 'A';
  std::string other_prefix = secret;
  other_prefix[0] = 'x';
  const std::vector<std::string> rejected = {
      "",
      "tm-",
      one_char_changed,
      other_prefix,
      secret.substr(3),                     // without "tm-"
      secret + "A",                         // too long
      secret.substr(0, secret.size() - 1),  // too short
      " " + secret.substr(1),               // right length, bad character
      secret.substr(0, 20) + "!" + secret.substr(21),
      std::string("tm-") + std::string(43, '\0'),
      "tm-" + std::string(43, 'A'),  // well formed, unknown
      "Bearer " + secret,
  };
  for (const auto& candidate : rejected) {
    EXPECT_FALSE(authenticate(*store, candidate)) << "accepted: " << candidate;
  }
}

TEST(KeyStore, PepperIsOwnerOnlyAndKeysSurviveReopen) {
  TempDir dir;
  const auto data = dir.path / "new" / "data";
  std::string secret;
  {
    auto store = open_store(data);
    ASSERT_NE(store, nullptr);
    secret = create_key(*store, "acme").second;
  }
  struct stat info {};
  ASSERT_EQ(::stat((data / "key-pepper").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(info.st_size, 32);
  ASSERT_EQ(::stat(data.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);  // created by us: owner only

  const std::string pepper = read_bytes(data / "key-pepper");
  auto reopened = open_store(data);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(read_bytes(data / "key-pepper"), pepper);  // not replaced
  EXPECT_TRUE(authenticate(*reopened, secret));

  // Two stores on one data dir (the `keys` command beside a server) see each other's keys.
  auto [key, fresh_secret] = create_key(*reopened, "beta");
  auto second = open_store(data);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(authenticate(*second, fresh_secret)->key_id, key.key_id);
}

TEST(KeyStore, ExposedOrMissingPepperIsRefused) {
  TempDir dir;
  {
    auto store = open_store(dir.path);
    ASSERT_NE(store, nullptr);
    create_key(*store, "acme");
  }
  const auto pepper = dir.path / "key-pepper";
  ASSERT_EQ(::chmod(pepper.c_str(), 0644), 0);
  auto exposed = KeyStore::open(dir.path);
  ASSERT_FALSE(exposed.ok());
  EXPECT_NE(exposed.error().message.find("chmod 600"), std::string::npos)
      << exposed.error().message;

  std::filesystem::remove(pepper);
  auto missing = KeyStore::open(dir.path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos) << missing.error().message;
  EXPECT_FALSE(std::filesystem::exists(pepper));  // not silently replaced
}

TEST(KeyStore, SecretsNeverReachTheDatabaseFiles) {
  TempDir dir;
  auto store = open_store(dir.path);
  ASSERT_NE(store, nullptr);
  std::vector<std::pair<KeyRecord, std::string>> keys;
  for (int i = 0; i < 20; ++i) keys.push_back(create_key(*store, "tenant" + std::to_string(i)));
  for (const auto& [key, secret] : keys) ASSERT_TRUE(authenticate(*store, secret));

  // Read while the store is open (rows still in the WAL) and after closing it.
  for (int pass = 0; pass < 2; ++pass) {
    std::string bytes;
    for (const char* name : {"keys.db", "keys.db-wal", "keys.db-shm"}) {
      bytes += read_bytes(dir.path / name);
    }
    ASSERT_FALSE(bytes.empty());
    for (const auto& [key, secret] : keys) {
      EXPECT_NE(bytes.find(key.key_id), std::string::npos) << "the search itself works";
      EXPECT_EQ(bytes.find(secret), std::string::npos) << "secret found on disk";
      EXPECT_EQ(bytes.find(secret.substr(3)), std::string::npos) << "secret body found on disk";
      EXPECT_EQ(bytes.find(secret.substr(10, 16)), std::string::npos) << "part of a secret found";
    }
    store.reset();
  }
}

TEST(KeyStore, ValidationErrorsNameTheProblem) {
  TempDir dir;
  auto store = open_store(dir.path);
  ASSERT_NE(store, nullptr);
  const auto expect_error = [&](const std::string& tenant, const KeyLimits& limits,
                                const std::string& message_part) {
    auto created = store->create(tenant, false, limits);
    ASSERT_FALSE(created.ok()) << "accepted tenant '" << tenant << "'";
    EXPECT_NE(created.error().message.find(message_part), std::string::npos)
        << created.error().message;
  };
  const KeyLimits ok;
  expect_error("", ok, "1 to 64");
  expect_error(std::string(65, 'a'), ok, "1 to 64");
  expect_error("a b", ok, "only letters");
  expect_error("a/b", ok, "only letters");
  expect_error("caf\xc3\xa9", ok, "only letters");

  KeyLimits limits;
  limits.rpm = -1;
  expect_error("t", limits, "rpm");
  limits = {};
  limits.tpm = -5;
  expect_error("t", limits, "tpm");
  limits = {};
  limits.budget_usd = -0.01;
  expect_error("t", limits, "budget");
  limits.budget_usd = std::nan("");
  expect_error("t", limits, "budget");
  limits = {};
  limits.budget_period = "week";
  expect_error("t", limits, "day, month or total");
  limits = {};
  limits.weight = 0;
  expect_error("t", limits, "weight");
  limits.weight = -1;
  expect_error("t", limits, "weight");
  limits.weight = INFINITY;
  expect_error("t", limits, "weight");
  limits = {};
  limits.models = {"ok", ""};
  expect_error("t", limits, "must not be empty");
  limits.models = {"bad\nname"};
  expect_error("t", limits, "control character");

  EXPECT_TRUE(store->list()->empty());  // nothing was stored
  EXPECT_TRUE(store->create(std::string(64, 'z'), false, ok).ok());
}

TEST(KeyStore, ConcurrentUseFromManyThreads) {
  TempDir dir;
  auto store = open_store(dir.path);
  ASSERT_NE(store, nullptr);
  auto [key, secret] = create_key(*store, "acme");
  std::atomic<int> authenticated{0}, created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto found = store->authenticate(secret);
        if (found.ok() && *found && (*found)->key_id == key.key_id) ++authenticated;
        if (i % 10 == 0 && store->create("t" + std::to_string(t), false, {}).ok()) ++created;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(authenticated.load(), 200);
  EXPECT_EQ(created.load(), 20);
  EXPECT_EQ(store->list()->size(), 21u);
}

}  // namespace
}  // namespace tmill::platform
