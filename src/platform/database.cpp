#include "platform/database.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <system_error>
#include <utility>

namespace tmill::platform {
namespace {

// "sqlite error on FILE: MESSAGE", with the file the connection belongs to.
Error sqlite_error(sqlite3* db, std::string_view what) {
  const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  const char* message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  return fail(what, " failed on ", file != nullptr ? file : "database", ": ", message);
}

// Creates the missing directories of `dir`; the ones created here are owner-only.
Status make_private_directories(const std::filesystem::path& dir) {
  if (dir.empty()) return Status::success();
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status::success();
  TM_TRY(make_private_directories(dir.parent_path()));
  if (::mkdir(dir.c_str(), 0700) != 0 && !std::filesystem::is_directory(dir, ec)) {
    return fail("cannot create directory ", dir.string(), ": ",
                std::error_code(errno, std::generic_category()).message());
  }
  return Status::success();
}

}  // namespace

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::note_bind_result(int rc, int index) {
  if (rc != SQLITE_OK && bind_error_.empty()) {
    bind_error_ =
        sqlite_error(sqlite3_db_handle(stmt_), "binding parameter " + std::to_string(index))
            .message;
  }
}

Statement& Statement::bind_int(int index, int64_t value) {
  note_bind_result(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::bind_double(int index, double value) {
  note_bind_result(sqlite3_bind_double(stmt_, index, value), index);
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view text) {
  note_bind_result(
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
  return *this;
}

Statement& Statement::bind_blob(int index, std::span<const unsigned char> bytes) {
  // A zero-length span may carry a null pointer, which SQLite would store as NULL.
  static const unsigned char kEmpty = 0;
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  note_bind_result(sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT), index);
  return *this;
}

Statement& Statement::bind_null(int index) {
  note_bind_result(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

Expected<bool> Statement::step() {
  if (!bind_error_.empty()) return Error{bind_error_};
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite3_sql(stmt_);
  Error error = sqlite_error(sqlite3_db_handle(stmt_), "statement");
  // The statement names which of the calls failed; its text has no secrets (values are bound).
  error.message += std::string(" [") + (sql != nullptr ? sql : "") + "]";
  sqlite3_reset(stmt_);  // releases the statement's locks at once
  return error;
}

Status Statement::run() {
  while (true) {
    TM_ASSIGN(const bool row, step());
    if (!row) return Status::success();
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_.clear();
}

int64_t Statement::column_int(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::vector<unsigned char> Statement::column_blob(int column) const {
  const auto* data = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr) return {};
  return std::vector<unsigned char>(data, data + size);
}

bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---- Database ----

Expected<std::unique_ptr<Database>> Database::open(const std::filesystem::path& file,
                                                   std::span<const std::string_view> migrations,
                                                   const DatabaseOptions& options) {
  TM_TRY(make_private_directories(file.parent_path()));
  sqlite3* handle = nullptr;
  // NOMUTEX: one connection is used by one thread at a time (the caller locks), so SQLite's own
  // per-connection mutex would only cost.
  const int rc =
      sqlite3_open_v2(file.c_str(), &handle,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error error = fail("cannot open database ", file.string(), ": ",
                       handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc));
    sqlite3_close(handle);
    return error;
  }
  std::unique_ptr<Database> db(new Database(handle, file));
  TM_TRY(db->configure(options));
  TM_TRY(db->migrate(migrations));
  return db;
}

Database::~Database() {
  // Statements are owned by callers and must be gone by now; close_v2 still defers the close
  // until they are, instead of failing.
  sqlite3_close_v2(db_);
}

Status Database::configure(const DatabaseOptions& options) {
  if (sqlite3_busy_timeout(db_, options.busy_timeout_ms) != SQLITE_OK) {
    return sqlite_error(db_, "setting the busy timeout");
  }
  // WAL: readers never block the writer, and a commit appends to one file. The mode is stored in
  // the file; SQLite answers with the mode in effect, which is not WAL on file systems that lack
  // shared memory, so check it.
  TM_ASSIGN(Statement journal, prepare("PRAGMA journal_mode=WAL"));
  TM_ASSIGN(const bool has_row, journal.step());
  if (!has_row || journal.column_text(0) != "wal") {
    return fail("cannot put ", path_.string(), " in WAL journal mode (got '",
                has_row ? journal.column_text(0) : std::string(), "')");
  }
  // FULL: the WAL is fsynced at every commit, so what was committed survives a crash or kill -9
  // (NORMAL could lose the last commits on power loss).
  return exec("PRAGMA synchronous=FULL");
}

Status Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return Status::success();
  const char* file = sqlite3_db_filename(db_, "main");
  Error error = fail("SQL failed on ", file != nullptr ? file : "database", ": ",
                     message != nullptr ? message : sqlite3_errstr(rc));
  sqlite3_free(message);
  return error;
}

Expected<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    Error error = sqlite_error(db_, "preparing [" + std::string(sql) + "]");
    sqlite3_finalize(stmt);
    return error;
  }
  return Statement(stmt);
}

int64_t Database::changes() const { return sqlite3_changes64(db_); }

Expected<int64_t> Database::schema_version() {
  TM_ASSIGN(Statement query, prepare("SELECT version FROM schema_version"));
  TM_ASSIGN(const bool has_row, query.step());
  if (!has_row) return fail(path_.string(), ": the schema_version table is empty");
  return query.column_int(0);
}

Expected<int64_t> Database::count_version_rows() {
  TM_ASSIGN(Statement count, prepare("SELECT COUNT(*) FROM schema_version"));
  TM_ASSIGN(const bool has_row, count.step());
  return has_row ? count.column_int(0) : 0;
}

Status Database::migrate(std::span<const std::string_view> migrations) {
  {
    // Creating the version table is itself a transaction, so two processes opening a new file
    // at once agree on one row.
    TM_ASSIGN(Transaction tx, Transaction::begin(*this));
    TM_TRY(exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
    TM_ASSIGN(const int64_t rows, count_version_rows());
    if (rows == 0) TM_TRY(exec("INSERT INTO schema_version (version) VALUES (0)"));
    if (rows > 1) return fail(path_.string(), ": schema_version has ", rows, " rows, expected 1");
    TM_TRY(tx.commit());
  }
  while (true) {
    TM_ASSIGN(const bool applied, migrate_one_step(migrations));
    if (!applied) return Status::success();
  }
}

Expected<bool> Database::migrate_one_step(std::span<const std::string_view> migrations) {
  // The version is read inside the write transaction: another process may have migrated the
  // file since we looked.
  TM_ASSIGN(Transaction tx, Transaction::begin(*this));
  TM_ASSIGN(const int64_t version, schema_version());
  const auto known = static_cast<int64_t>(migrations.size());
  if (version > known) {
    return fail(path_.string(), " has schema version ", version,
                " but this tokenmill knows versions up to ", known,
                "; it was written by a newer tokenmill: use that one (or another --data-dir)");
  }
  if (version < 0) return fail(path_.string(), " has an invalid schema version ", version);
  if (version == known) {
    TM_TRY(tx.commit());
    return false;
  }
  Status applied = exec(migrations[static_cast<size_t>(version)]);
  if (!applied.ok()) {
    return fail("migrating ", path_.string(), " from schema version ", version, " to ", version + 1,
                ": ", applied.error().message);
  }
  TM_ASSIGN(Statement update, prepare("UPDATE schema_version SET version = ?1"));
  TM_TRY(update.bind_int(1, version + 1).run());
  TM_TRY(tx.commit());
  return true;
}

// ---- Transaction ----

Expected<Transaction> Transaction::begin(Database& db) {
  TM_TRY(db.exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  // Rolling back can only fail if there is no transaction left, which is what we want anyway.
  if (db_ != nullptr) (void)db_->exec("ROLLBACK");
}

Status Transaction::commit() {
  if (db_ == nullptr) return fail("commit of a transaction that is already finished");
  Status committed = db_->exec("COMMIT");
  if (!committed.ok()) return committed;  // the destructor rolls back
  db_ = nullptr;
  return Status::success();
}

}  // namespace tmill::platform
