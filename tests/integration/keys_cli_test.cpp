// `tokenmill keys` and `tokenmill usage` contracts: the secret alone on the last line of
// `keys create`, never in `keys list`, revocation, and clear output without a ledger.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/test_support.h"

namespace {

const std::string kBin = TOKENMILL_BINARY;

using Result = tmill::testing::CommandResult;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = testing::TempDir() + "/tm_keys_cli_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

Result run(const std::string& args) { return tmill::testing::run_shell(kBin + " " + args); }

std::string last_line(const std::string& output) {
  std::string text = output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const size_t newline = text.rfind('\n');
  return newline == std::string::npos ? text : text.substr(newline + 1);
}

TEST(KeysCli, CreatePrintsTheSecretAloneOnTheLastLineAndListNeverShowsIt) {
  TempDir dir;
  const std::string data = " --data-dir " + dir.path.string() + "/data";
  const Result created =
      run("keys create --tenant acme --rpm 60 --models smollm2-135m,gemma3-270m" + data);
  ASSERT_EQ(created.exit_code, 0) << created.output;
  const std::string secret = last_line(created.output);
  EXPECT_EQ(secret.size(), 46u) << created.output;
  EXPECT_EQ(secret.rfind("tm-", 0), 0u) << created.output;
  EXPECT_NE(created.output.find("acme"), std::string::npos);

  // The same through a pipe, as scripts do it.
  const Result piped =
      tmill::testing::run_shell(kBin + " keys create --tenant beta" + data + " | tail -n1");
  ASSERT_EQ(piped.exit_code, 0);
  EXPECT_EQ(piped.output.size(), 47u) << piped.output;  // secret + newline

  const Result listed = run("keys list --json" + data);
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(listed.output.find(secret), std::string::npos);
  const auto keys = nlohmann::json::parse(listed.output);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0]["tenant"], "acme");
  EXPECT_EQ(keys[0]["limits"]["rpm"], 60);
  EXPECT_EQ(keys[0]["limits"]["models"].size(), 2u);
  EXPECT_TRUE(keys[0]["revoked_unix"].is_null());

  const std::string key_id = keys[0]["key_id"];
  ASSERT_EQ(run("keys revoke " + key_id + data).exit_code, 0);
  const Result table = run("keys list" + data);
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_NE(table.output.find(key_id), std::string::npos);
  EXPECT_EQ(table.output.find(secret), std::string::npos);
  const auto after = nlohmann::json::parse(run("keys list --json" + data).output);
  EXPECT_FALSE(after[0]["revoked_unix"].is_null());
}

TEST(KeysCli, BadInputIsAClearError) {
  TempDir dir;
  const std::string data = " --data-dir " + dir.path.string();
  Result r = run("keys create --tenant 'no spaces'" + data + " 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("tenant name"), std::string::npos) << r.output;
  r = run("keys create --tenant t --weight 0" + data + " 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("weight must be"), std::string::npos) << r.output;
  r = run("keys revoke key_000000000000" + data + " 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("key_000000000000"), std::string::npos) << r.output;
}

TEST(UsageCli, MissingLedgerIsReportedAndJsonIsEmpty) {
  TempDir dir;
  const std::string data = " --data-dir " + dir.path.string();
  Result r = run("usage" + data);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("no usage recorded"), std::string::npos) << r.output;
  r = run("usage --since 7d --json" + data);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = nlohmann::json::parse(r.output);
  EXPECT_TRUE(report["rows"].empty());
  EXPECT_EQ(report["total"]["requests"], 0);
  r = run("usage --since 7w" + data + " 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--since"), std::string::npos) << r.output;
}

}  // namespace
