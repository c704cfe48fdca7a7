// A small RAII wrapper over one SQLite connection: WAL journal, synchronous=FULL (a committed
// transaction survives kill -9 of the process), a busy timeout, prepared statements and
// transactions, and a schema brought up to date by an ordered list of migrations at open.
// Every failure is an Error carrying SQLite's own message and the file it concerns.
//
// One Database (and its Statements) is used from one thread at a time; callers own the locking.
// A process may open several connections to the same file (WAL lets readers run beside the one
// writer).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/expected.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tmill::platform {

// A compiled statement. Parameters are 1-based, as `?1`, `?2` in the SQL.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // A failed bind is remembered and returned by the next step()/run(), so binds chain without a
  // check after each one.
  Statement& bind_int(int index, int64_t value);
  Statement& bind_double(int index, double value);
  Statement& bind_text(int index, std::string_view text);
  Statement& bind_blob(int index, std::span<const unsigned char> bytes);
  Statement& bind_null(int index);

  // true: a result row is ready for the column_* calls; false: the statement is done.
  Expected<bool> step();
  // Steps to completion, for statements that return no rows (INSERT, UPDATE, DDL).
  Status run();
  // Makes the statement ready to be bound and run again (bindings are cleared).
  void reset();

  // Columns are 0-based. NULL reads as 0, 0.0, "" or no bytes.
  int64_t column_int(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::vector<unsigned char> column_blob(int column) const;
  bool column_is_null(int column) const;

 private:
  friend class Database;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  void note_bind_result(int rc, int index);

  sqlite3_stmt* stmt_ = nullptr;
  // The first failed bind's message; empty when none failed. (A string, not optional<Error>:
  // GCC 12 reports a false maybe-uninitialized on moving the latter under ASan.)
  std::string bind_error_;
};

struct DatabaseOptions {
  // How long a statement waits for another connection's lock before failing with "busy".
  int busy_timeout_ms = 5000;
};

class Database {
 public:
  // Opens `file`, creating it and its parent directories (new directories are 0700: the data
  // dir holds key hashes and usage). Brings the schema to version migrations.size():
  // migrations[i] takes version i to i + 1, each applied in its own transaction and recorded in
  // the table schema_version(version INTEGER). A file at a version newer than the list is an
  // error (it was written by a newer tokenmill).
  static Expected<std::unique_ptr<Database>> open(const std::filesystem::path& file,
                                                  std::span<const std::string_view> migrations,
                                                  const DatabaseOptions& options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more SQL statements that return no rows of interest.
  Status exec(std::string_view sql);
  Expected<Statement> prepare(std::string_view sql);
  // Rows changed by the most recent INSERT/UPDATE/DELETE on this connection.
  int64_t changes() const;
  // The version recorded in schema_version.
  Expected<int64_t> schema_version();
  const std::filesystem::path& path() const { return path_; }

 private:
  Database(sqlite3* handle, std::filesystem::path path) : db_(handle), path_(std::move(path)) {}
  Status configure(const DatabaseOptions& options);
  Expected<int64_t> count_version_rows();
  Status migrate(std::span<const std::string_view> migrations);
  // Applies the next migration if one is due; false when the schema is already current.
  Expected<bool> migrate_one_step(std::span<const std::string_view> migrations);

  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

// BEGIN IMMEDIATE ... COMMIT. Takes the write lock at begin(), so contention with another
// writer shows (after the busy timeout) there rather than half-way through. Rolls back on
// destruction unless committed.
class Transaction {
 public:
  static Expected<Transaction> begin(Database& db);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  Status commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_ = nullptr;  // null once committed or rolled back
};

}  // namespace tmill::platform
