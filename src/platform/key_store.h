// API keys and the tenants they belong to, stored in DATA_DIR/keys.db.
//
// A secret is "tm-" + 43 characters of base64url (32 random bytes). It is shown once, when the
// key is created, and never stored: the database keeps only a keyed BLAKE2b hash of it
// (crypto_generichash with a 32-byte pepper kept in DATA_DIR/key-pepper, mode 0600), so a copy
// of keys.db alone cannot be used to check guesses. Secrets never appear in errors or logs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/expected.h"

namespace tmill::platform {

class Database;

struct KeyLimits {
  int64_t rpm = 0;                      // requests per minute; 0: unlimited
  int64_t tpm = 0;                      // tokens (prompt + completion) per minute; 0: unlimited
  double budget_usd = 0;                // spend limit at list price per budget period; 0: none
  std::string budget_period = "month";  // "day", "month" (calendar, UTC) or "total"
  double weight = 1.0;                  // fair-share weight of the tenant's requests (> 0)
  std::vector<std::string> models;      // allowed model ids/names; empty: all
};

struct KeyRecord {
  std::string key_id;  // public id, e.g. "key_3f9a1c2b7d4e" (random, shown in lists/ledger)
  std::string tenant;
  bool admin = false;
  KeyLimits limits;
  int64_t created_unix = 0;
  std::optional<int64_t> revoked_unix;
};

// DATA_DIR/keys.db
std::filesystem::path key_store_file(const std::filesystem::path& data_dir);

// Checks a tenant name: 1..64 characters of [A-Za-z0-9._-].
Status validate_tenant(std::string_view tenant);
// Checks limits: rpm, tpm, budget >= 0, weight > 0 (all finite), a known budget period, and
// model names that are non-empty and free of control characters.
Status validate_limits(const KeyLimits& limits);

// Thread-safe: one internal connection behind a mutex. Several processes may use the same
// data dir (the `keys` command beside a running server).
class KeyStore {
 public:
  static Expected<std::unique_ptr<KeyStore>> open(const std::filesystem::path& data_dir);
  ~KeyStore();

  // Returns the record and the secret ("tm-" + 43-char base64url of 32 random bytes). The
  // secret is never stored, only its peppered hash.
  Expected<std::pair<KeyRecord, std::string>> create(const std::string& tenant, bool admin,
                                                     const KeyLimits& limits);
  // In creation order.
  Expected<std::vector<KeyRecord>> list(bool include_revoked = true);
  // Unknown id: error; already revoked: ok (the first revocation time is kept).
  Status revoke(const std::string& key_id);
  // The active key for a presented secret, or nullopt (unknown, malformed, revoked). Looks the
  // hash up by index, then compares it with sodium_memcmp (constant time).
  Expected<std::optional<KeyRecord>> authenticate(std::string_view secret);
  Expected<bool> any_active_keys();

 private:
  KeyStore(std::unique_ptr<Database> db, std::vector<unsigned char> pepper);

  std::mutex mutex_;
  std::unique_ptr<Database> db_;
  std::vector<unsigned char> pepper_;  // wiped on destruction
};

}  // namespace tmill::platform
