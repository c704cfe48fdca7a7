// The SQLite wrapper: connection settings, migrations (applied once, in order, rejected when the
// file is newer than the code), statements, transactions and error messages.
#include "platform/database.h"
#include "platform/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tmill::platform {
namespace {

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("tm_database") {}
};

constexpr std::string_view kTwoMigrations[] = {
    "CREATE TABLE items (name TEXT NOT NULL)",
    "ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0",
};

int64_t count_rows(Database& db, std::string_view table) {
  auto query = db.prepare("SELECT COUNT(*) FROM " + std::string(table));
  EXPECT_TRUE(query.ok()) << query.error().message;
  auto has_row = query->step();
  EXPECT_TRUE(has_row.ok() && *has_row);
  return query->column_int(0);
}

std::string pragma_text(Database& db, std::string_view pragma) {
  auto query = db.prepare("PRAGMA " + std::string(pragma));
  EXPECT_TRUE(query.ok()) << query.error().message;
  auto has_row = query->step();
  EXPECT_TRUE(has_row.ok() && *has_row);
  return query->column_text(0);
}

TEST(Database, CreatesParentDirectoriesAndUsesWalWithFullSync) {
  TempDir dir;
  const auto file = dir.path / "a" / "b" / "test.db";
  auto db = Database::open(file, kTwoMigrations);
  ASSERT_TRUE(db.ok()) << db.error().message;
  EXPECT_TRUE(std::filesystem::exists(file));
  const auto perms = std::filesystem::status(dir.path / "a").permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all, std::filesystem::perms::owner_all);
  EXPECT_EQ(pragma_text(**db, "journal_mode"), "wal");
  EXPECT_EQ(pragma_text(**db, "synchronous"), "2");  // FULL
  EXPECT_EQ(pragma_text(**db, "busy_timeout"), "5000");
}

TEST(Database, MigrationsApplyOnceAndReopenKeepsData) {
  TempDir dir;
  const auto file = dir.path / "test.db";
  {
    auto db = Database::open(file, std::span(kTwoMigrations).first(1));
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(*(*db)->schema_version(), 1);
    ASSERT_TRUE((*db)->exec("INSERT INTO items (name) VALUES ('first')").ok());
  }
  {
    // The second migration runs now; the first (CREATE TABLE) would fail if it ran again.
    auto db = Database::open(file, kTwoMigrations);
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(*(*db)->schema_version(), 2);
    EXPECT_EQ(count_rows(**db, "items"), 1);
    ASSERT_TRUE((*db)->exec("INSERT INTO items (name, size) VALUES ('second', 7)").ok());
  }
  auto db = Database::open(file, kTwoMigrations);
  ASSERT_TRUE(db.ok()) << db.error().message;
  EXPECT_EQ(*(*db)->schema_version(), 2);
  EXPECT_EQ(count_rows(**db, "items"), 2);
  EXPECT_EQ(count_rows(**db, "schema_version"), 1);
}

TEST(Database, NewerSchemaIsRejected) {
  TempDir dir;
  const auto file = dir.path / "test.db";
  ASSERT_TRUE(Database::open(file, kTwoMigrations).ok());
  auto older_code = Database::open(file, std::span(kTwoMigrations).first(1));
  ASSERT_FALSE(older_code.ok());
  EXPECT_NE(older_code.error().message.find("schema version 2"), std::string::npos)
      << older_code.error().message;
  EXPECT_NE(older_code.error().message.find("newer tokenmill"), std::string::npos);
}

TEST(Database, FailedMigrationChangesNothing) {
  TempDir dir;
  const auto file = dir.path / "test.db";
  constexpr std::string_view kBroken[] = {
      "CREATE TABLE items (name TEXT)",
      "CREATE TABLE other (x INTEGER); INSERT INTO nowhere VALUES (1)",
  };
  auto db = Database::open(file, kBroken);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().message.find("from schema version 1 to 2"), std::string::npos)
      << db.error().message;
  EXPECT_NE(db.error().message.find("no such table: nowhere"), std::string::npos);
  // Version 1 was committed; the half of migration 2 that ran was rolled back.
  auto reopened = Database::open(file, std::span(kBroken).first(1));
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ(*(*reopened)->schema_version(), 1);
  EXPECT_FALSE((*reopened)->prepare("SELECT * FROM other").ok());
}

TEST(Database, StatementsBindAndReadEveryType) {
  TempDir dir;
  constexpr std::string_view kSchema[] = {"CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB)"};
  auto db = Database::open(dir.path / "t.db", kSchema);
  ASSERT_TRUE(db.ok()) << db.error().message;
  auto insert = (*db)->prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4)");
  ASSERT_TRUE(insert.ok()) << insert.error().message;
  const std::vector<unsigned char> bytes = {0, 1, 2, 255};
  ASSERT_TRUE(insert->bind_int(1, INT64_MIN)
                  .bind_double(2, 2.5)
                  .bind_text(3, std::string_view("a\0b", 3))
                  .bind_blob(4, bytes)
                  .run()
                  .ok());
  EXPECT_EQ((*db)->changes(), 1);
  insert->reset();
  ASSERT_TRUE(insert->bind_null(1).bind_null(2).bind_text(3, "").bind_blob(4, {}).run().ok());

  auto select = (*db)->prepare("SELECT i, d, s, b FROM t ORDER BY rowid");
  ASSERT_TRUE(select.ok());
  ASSERT_TRUE(*select->step());
  EXPECT_EQ(select->column_int(0), INT64_MIN);
  EXPECT_EQ(select->column_double(1), 2.5);
  EXPECT_EQ(select->column_text(2), std::string("a\0b", 3));
  EXPECT_EQ(select->column_blob(3), bytes);
  ASSERT_TRUE(*select->step());
  EXPECT_TRUE(select->column_is_null(0));
  EXPECT_EQ(select->column_int(0), 0);
  EXPECT_FALSE(select->column_is_null(2));  // "" is not NULL
  EXPECT_FALSE(select->column_is_null(3));  // nor is an empty blob
  EXPECT_TRUE(select->column_blob(3).empty());
  EXPECT_FALSE(*select->step());
}

TEST(Database, ErrorsCarrySqliteMessages) {
  TempDir dir;
  constexpr std::string_view kSchema[] = {"CREATE TABLE t (x INTEGER NOT NULL UNIQUE)"};
  auto db = Database::open(dir.path / "t.db", kSchema);
  ASSERT_TRUE(db.ok()) << db.error().message;

  auto bad_sql = (*db)->prepare("SELEKT 1");
  ASSERT_FALSE(bad_sql.ok());
  EXPECT_NE(bad_sql.error().message.find("syntax error"), std::string::npos);
  EXPECT_NE(bad_sql.error().message.find("t.db"), std::string::npos) << bad_sql.error().message;

  auto insert = (*db)->prepare("INSERT INTO t VALUES (?1)");
  ASSERT_TRUE(insert.ok());
  Status out_of_range = insert->bind_int(2, 1).run();  // there is no ?2
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.error().message.find("binding parameter 2"), std::string::npos)
      << out_of_range.error().message;

  insert->reset();
  ASSERT_TRUE(insert->bind_int(1, 1).run().ok());
  insert->reset();
  Status duplicate = insert->bind_int(1, 1).run();
  ASSERT_FALSE(duplicate.ok());
  EXPECT_NE(duplicate.error().message.find("UNIQUE constraint failed"), std::string::npos)
      << duplicate.error().message;

  EXPECT_FALSE((*db)->exec("DROP TABLE missing").ok());
  EXPECT_NE((*db)->exec("DROP TABLE missing").error().message.find("no such table"),
            std::string::npos);
}

TEST(Database, OpenFailureIsAnError) {
  TempDir dir;
  // A directory where the file should be.
  std::filesystem::create_directories(dir.path / "taken.db");
  auto db = Database::open(dir.path / "taken.db", kTwoMigrations);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().message.find("taken.db"), std::string::npos) << db.error().message;
}

TEST(Database, TransactionRollsBackUnlessCommitted) {
  TempDir dir;
  auto db = Database::open(dir.path / "t.db", kTwoMigrations);
  ASSERT_TRUE(db.ok()) << db.error().message;
  {
    auto tx = Transaction::begin(**db);
    ASSERT_TRUE(tx.ok()) << tx.error().message;
    ASSERT_TRUE((*db)->exec("INSERT INTO items (name) VALUES ('dropped')").ok());
  }
  EXPECT_EQ(count_rows(**db, "items"), 0);
  {
    auto tx = Transaction::begin(**db);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*db)->exec("INSERT INTO items (name) VALUES ('kept')").ok());
    ASSERT_TRUE(tx->commit().ok());
    EXPECT_FALSE(tx->commit().ok());  // once only
  }
  EXPECT_EQ(count_rows(**db, "items"), 1);
}

TEST(Database, SecondConnectionSeesCommitsAndWaitsForTheWriteLock) {
  TempDir dir;
  const auto file = dir.path / "t.db";
  auto writer = Database::open(file, kTwoMigrations);
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  auto other = Database::open(file, kTwoMigrations, DatabaseOptions{.busy_timeout_ms = 50});
  ASSERT_TRUE(other.ok()) << other.error().message;
  ASSERT_TRUE((*writer)->exec("INSERT INTO items (name) VALUES ('x')").ok());
  EXPECT_EQ(count_rows(**other, "items"), 1);

  auto held = Transaction::begin(**writer);
  ASSERT_TRUE(held.ok());
  auto blocked = Transaction::begin(**other);
  ASSERT_FALSE(blocked.ok());
  EXPECT_NE(blocked.error().message.find("locked"), std::string::npos) << blocked.error().message;
  EXPECT_EQ(count_rows(**other, "items"), 1);  // WAL: reading still works
}

}  // namespace
}  // namespace tmill::platform
