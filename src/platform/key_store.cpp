#include "platform/key_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "platform/database.h"

namespace tmill::platform {
namespace {

constexpr size_t kSecretBytes = 32;
constexpr size_t kPepperBytes = 32;
constexpr size_t kHashBytes = 32;
constexpr std::string_view kSecretPrefix = "tm-";
constexpr size_t kSecretEncodedChars = 43;  // base64url of 32 bytes, no padding
constexpr int kKeyIdBytes = 6;              // "key_" + 12 hex digits

constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE TABLE api_keys (
  key_id TEXT PRIMARY KEY,
  secret_hash BLOB NOT NULL UNIQUE,  -- keyed BLAKE2b of the secret; UNIQUE is the lookup index
  tenant TEXT NOT NULL,
  admin INTEGER NOT NULL,
  rpm INTEGER NOT NULL,
  tpm INTEGER NOT NULL,
  budget_usd REAL NOT NULL,
  budget_period TEXT NOT NULL,
  weight REAL NOT NULL,
  models TEXT NOT NULL,              -- allowed models, one per line; empty: all
  created_unix INTEGER NOT NULL,
  revoked_unix INTEGER
);
)sql",
};

// The columns read_key() expects, in order.
constexpr std::string_view kKeyColumns =
    "key_id, tenant, admin, rpm, tpm, budget_usd, budget_period, weight, models, created_unix, "
    "revoked_unix, secret_hash";

std::string errno_message() { return std::error_code(errno, std::generic_category()).message(); }

int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

Status init_sodium_once() {
  static const int result = sodium_init();  // thread-safe static init: runs once
  if (result < 0) return fail("libsodium failed to initialize");
  return Status::success();
}

// Holds a file descriptor and closes it.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status write_all(int fd, const unsigned char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(errno_message());
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::success();
}

// Writes a fresh pepper under a temporary name and links it into place, so a concurrent opener
// either sees no pepper or a complete one, and exactly one pepper wins.
Status create_pepper(const std::filesystem::path& pepper_path) {
  std::array<unsigned char, 8> suffix_bytes{};
  randombytes_buf(suffix_bytes.data(), suffix_bytes.size());
  std::array<char, 2 * suffix_bytes.size() + 1> suffix{};
  sodium_bin2hex(suffix.data(), suffix.size(), suffix_bytes.data(), suffix_bytes.size());
  const std::filesystem::path temp = pepper_path.string() + ".tmp-" + suffix.data();

  std::array<unsigned char, kPepperBytes> pepper{};
  randombytes_buf(pepper.data(), pepper.size());
  Status written = [&]() -> Status {
    FileDescriptor fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) return fail("cannot create ", temp.string(), ": ", errno_message());
    if (::fchmod(fd.get(), 0600) != 0) return fail("chmod ", temp.string(), ": ", errno_message());
    Status status = write_all(fd.get(), pepper.data(), pepper.size());
    if (!status.ok()) return fail("cannot write ", temp.string(), ": ", status.error().message);
    if (::fsync(fd.get()) != 0) return fail("fsync ", temp.string(), ": ", errno_message());
    return Status::success();
  }();
  sodium_memzero(pepper.data(), pepper.size());
  if (written.ok() && ::link(temp.c_str(), pepper_path.c_str()) != 0 && errno != EEXIST) {
    written = fail("cannot create ", pepper_path.string(), ": ", errno_message());
  }
  ::unlink(temp.c_str());
  if (!written.ok()) return written;
  // The new directory entry must reach the disk too, or a crash could lose the pepper (and
  // with it every key) after keys were handed out.
  FileDescriptor dir(::open(pepper_path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
  return Status::success();
}

Expected<std::vector<unsigned char>> read_pepper(const std::filesystem::path& pepper_path) {
  FileDescriptor fd(::open(pepper_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return fail("cannot open ", pepper_path.string(), ": ", errno_message());
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return fail("cannot stat ", pepper_path.string(), ": ", errno_message());
  }
  if (!S_ISREG(info.st_mode)) return fail(pepper_path.string(), " is not a regular file");
  if ((info.st_mode & 077) != 0) {
    return fail(pepper_path.string(), " can be read by other users (it protects the API keys); ",
                "run: chmod 600 ", pepper_path.string());
  }
  if (info.st_size != static_cast<off_t>(kPepperBytes)) {
    return fail(pepper_path.string(), " is ", static_cast<int64_t>(info.st_size),
                " bytes, expected ", kPepperBytes, " (damaged? without it no key can be checked)");
  }
  std::vector<unsigned char> pepper(kPepperBytes);
  size_t got = 0;
  while (got < pepper.size()) {
    const ssize_t n = ::read(fd.get(), pepper.data() + got, pepper.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot read ", pepper_path.string(), ": ", errno_message());
    got += static_cast<size_t>(n);
  }
  return pepper;
}

// A missing pepper is created, unless keys exist already: a new pepper would silently turn
// every one of them away.
Expected<std::vector<unsigned char>> load_or_create_pepper(const std::filesystem::path& data_dir,
                                                           int64_t stored_keys) {
  const std::filesystem::path pepper_path = data_dir / "key-pepper";
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(pepper_path, ec))) {
    if (stored_keys > 0) {
      return fail(pepper_path.string(), " is missing but ", key_store_file(data_dir).string(),
                  " holds ", stored_keys,
                  " keys: they cannot be checked without it (restore the file, or move keys.db "
                  "away to start over)");
    }
    TM_TRY(create_pepper(pepper_path));
  }
  return read_pepper(pepper_path);
}

std::string random_key_id() {
  std::array<unsigned char, kKeyIdBytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  std::array<char, 2 * kKeyIdBytes + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
  return "key_" + std::string(hex.data());
}

std::string random_secret() {
  std::array<unsigned char, kSecretBytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::array<char, sodium_base64_ENCODED_LEN(kSecretBytes, kVariant)> encoded{};
  sodium_bin2base64(encoded.data(), encoded.size(), bytes.data(), bytes.size(), kVariant);
  std::string secret = std::string(kSecretPrefix) + encoded.data();
  sodium_memzero(bytes.data(), bytes.size());
  sodium_memzero(encoded.data(), encoded.size());
  return secret;
}

// Only the exact shape create() hands out can match, so anything else is rejected before hashing.
bool well_formed_secret(std::string_view secret) {
  if (secret.size() != kSecretPrefix.size() + kSecretEncodedChars) return false;
  if (secret.substr(0, kSecretPrefix.size()) != kSecretPrefix) return false;
  for (char c : secret.substr(kSecretPrefix.size())) {
    const bool base64url = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!base64url) return false;
  }
  return true;
}

std::array<unsigned char, kHashBytes> secret_hash(std::string_view secret,
                                                  const std::vector<unsigned char>& pepper) {
  std::array<unsigned char, kHashBytes> hash{};
  crypto_generichash(hash.data(), hash.size(),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     pepper.data(), pepper.size());
  return hash;
}

std::string join_lines(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : "\n") + item;
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    items.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

// A row selected with kKeyColumns.
KeyRecord read_key(const Statement& row) {
  KeyRecord key;
  key.key_id = row.column_text(0);
  key.tenant = row.column_text(1);
  key.admin = row.column_int(2) != 0;
  key.limits.rpm = row.column_int(3);
  key.limits.tpm = row.column_int(4);
  key.limits.budget_usd = row.column_double(5);
  key.limits.budget_period = row.column_text(6);
  key.limits.weight = row.column_double(7);
  key.limits.models = split_lines(row.column_text(8));
  key.created_unix = row.column_int(9);
  if (!row.column_is_null(10)) key.revoked_unix = row.column_int(10);
  return key;
}

// Amounts in messages as the user typed them ("0.5", not std::to_string's "0.500000").
std::string format_amount(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace

std::filesystem::path key_store_file(const std::filesystem::path& data_dir) {
  return data_dir / "keys.db";
}

Status validate_tenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > 64) {
    return fail("tenant name must be 1 to 64 characters (got ", tenant.size(), ")");
  }
  for (char c : tenant) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!allowed) {
      return fail("tenant name '", std::string(tenant),
                  "' may contain only letters, digits, '.', '_' and '-'");
    }
  }
  return Status::success();
}

Status validate_limits(const KeyLimits& limits) {
  if (limits.rpm < 0) return fail("rpm must be >= 0 (0: unlimited), got ", limits.rpm);
  if (limits.tpm < 0) return fail("tpm must be >= 0 (0: unlimited), got ", limits.tpm);
  // Written so that NaN fails too.
  if (!(limits.budget_usd >= 0) || !std::isfinite(limits.budget_usd)) {
    return fail("budget must be a finite amount >= 0 USD (0: none), got ",
                format_amount(limits.budget_usd));
  }
  if (limits.budget_period != "day" && limits.budget_period != "month" &&
      limits.budget_period != "total") {
    return fail("budget period must be day, month or total, got '", limits.budget_period, "'");
  }
  if (!(limits.weight > 0) || !std::isfinite(limits.weight)) {
    return fail("weight must be a finite number > 0, got ", format_amount(limits.weight));
  }
  for (const std::string& model : limits.models) {
    if (model.empty()) return fail("model names must not be empty");
    for (char c : model) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return fail("model name '", model, "' contains a control character");
      }
    }
  }
  return Status::success();
}

KeyStore::KeyStore(std::unique_ptr<Database> db, std::vector<unsigned char> pepper)
    : db_(std::move(db)), pepper_(std::move(pepper)) {}

KeyStore::~KeyStore() { sodium_memzero(pepper_.data(), pepper_.size()); }

Expected<std::unique_ptr<KeyStore>> KeyStore::open(const std::filesystem::path& data_dir) {
  TM_TRY(init_sodium_once());
  TM_ASSIGN(auto db, Database::open(key_store_file(data_dir), kMigrations));
  TM_ASSIGN(Statement count, db->prepare("SELECT COUNT(*) FROM api_keys"));
  TM_ASSIGN(const bool has_row, count.step());
  const int64_t stored_keys = has_row ? count.column_int(0) : 0;
  count.reset();
  TM_ASSIGN(auto pepper, load_or_create_pepper(data_dir, stored_keys));
  return std::unique_ptr<KeyStore>(new KeyStore(std::move(db), std::move(pepper)));
}

Expected<std::pair<KeyRecord, std::string>> KeyStore::create(const std::string& tenant, bool admin,
                                                             const KeyLimits& limits) {
  TM_TRY(validate_tenant(tenant));
  TM_TRY(validate_limits(limits));
  KeyRecord key;
  key.tenant = tenant;
  key.admin = admin;
  key.limits = limits;
  key.created_unix = unix_now();

  std::lock_guard lock(mutex_);
  TM_ASSIGN(Statement insert,
            db_->prepare("INSERT OR IGNORE INTO api_keys (key_id, secret_hash, tenant, admin, rpm, "
                         "tpm, budget_usd, budget_period, weight, models, created_unix) VALUES "
                         "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  // 48 random bits of id collide only after millions of keys; a collision just draws again.
  for (int attempt = 0; attempt < 8; ++attempt) {
    key.key_id = random_key_id();
    std::string secret = random_secret();
    const auto hash = secret_hash(secret, pepper_);
    insert.reset();
    insert.bind_text(1, key.key_id)
        .bind_blob(2, hash)
        .bind_text(3, tenant)
        .bind_int(4, admin ? 1 : 0)
        .bind_int(5, limits.rpm)
        .bind_int(6, limits.tpm)
        .bind_double(7, limits.budget_usd)
        .bind_text(8, limits.budget_period)
        .bind_double(9, limits.weight)
        .bind_text(10, join_lines(limits.models))
        .bind_int(11, key.created_unix);
    TM_TRY(insert.run());
    if (db_->changes() == 1) return std::make_pair(std::move(key), std::move(secret));
  }
  return fail("could not draw an unused key id in ", db_->path().string());
}

Expected<std::vector<KeyRecord>> KeyStore::list(bool include_revoked) {
  std::lock_guard lock(mutex_);
  TM_ASSIGN(Statement query, db_->prepare("SELECT " + std::string(kKeyColumns) + " FROM api_keys" +
                                          (include_revoked ? "" : " WHERE revoked_unix IS NULL") +
                                          " ORDER BY rowid"));
  std::vector<KeyRecord> keys;
  while (true) {
    TM_ASSIGN(const bool has_row, query.step());
    if (!has_row) return keys;
    keys.push_back(read_key(query));
  }
}

Status KeyStore::revoke(const std::string& key_id) {
  std::lock_guard lock(mutex_);
  TM_ASSIGN(Statement update, db_->prepare("UPDATE api_keys SET revoked_unix = ?1 "
                                           "WHERE key_id = ?2 AND revoked_unix IS NULL"));
  TM_TRY(update.bind_int(1, unix_now()).bind_text(2, key_id).run());
  if (db_->changes() > 0) return Status::success();
  TM_ASSIGN(Statement exists, db_->prepare("SELECT 1 FROM api_keys WHERE key_id = ?1"));
  TM_ASSIGN(const bool found, exists.bind_text(1, key_id).step());
  if (!found) return fail("no key with id '", key_id, "' in ", db_->path().string());
  return Status::success();  // revoked before: revoking is idempotent
}

Expected<std::optional<KeyRecord>> KeyStore::authenticate(std::string_view secret) {
  if (!well_formed_secret(secret)) return std::optional<KeyRecord>();
  const auto hash = secret_hash(secret, pepper_);
  std::lock_guard lock(mutex_);
  TM_ASSIGN(Statement query, db_->prepare("SELECT " + std::string(kKeyColumns) +
                                          " FROM api_keys WHERE secret_hash = ?1"));
  TM_ASSIGN(const bool found, query.bind_blob(1, hash).step());
  if (!found) return std::optional<KeyRecord>();
  const std::vector<unsigned char> stored = query.column_blob(11);
  if (stored.size() != hash.size() || sodium_memcmp(stored.data(), hash.data(), hash.size()) != 0) {
    return std::optional<KeyRecord>();
  }
  KeyRecord key = read_key(query);
  if (key.revoked_unix) return std::optional<KeyRecord>();
  return std::optional<KeyRecord>(std::move(key));
}

Expected<bool> KeyStore::any_active_keys() {
  std::lock_guard lock(mutex_);
  TM_ASSIGN(Statement query,
            db_->prepare("SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_unix IS NULL)"));
  TM_ASSIGN(const bool has_row, query.step());
  return has_row && query.column_int(0) != 0;
}

}  // namespace tmill::platform
