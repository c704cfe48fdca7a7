#include "platform/price_sheet.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>

namespace tmill::platform {
namespace {

constexpr const char* kFullSheet = R"({
  "hardware": {"usd_per_hour": 0.12, "idle_watts": 18, "busy_watts": 65},
  "models": {
    "smollm2-135m": {"input_usd_per_mtok": 0.05, "cached_input_usd_per_mtok": 0.025,
                     "output_usd_per_mtok": 0.20},
    "qwen2.5-0.5b": {"input_usd_per_mtok": 0.10, "output_usd_per_mtok": 0.40}
  }
})";

PriceSheet parse_ok(const std::string& text) {
  Expected<PriceSheet> sheet = parse_price_sheet(text, "prices.json");
  EXPECT_TRUE(sheet.ok()) << sheet.error().message;
  return sheet.ok() ? *sheet : PriceSheet{};
}

std::string parse_error(const std::string& text) {
  Expected<PriceSheet> sheet = parse_price_sheet(text, "prices.json");
  EXPECT_FALSE(sheet.ok()) << "accepted: " << text;
  return sheet.ok() ? std::string() : sheet.error().message;
}

TEST(PriceSheet, ParsesEveryField) {
  const PriceSheet sheet = parse_ok(kFullSheet);
  EXPECT_DOUBLE_EQ(sheet.hardware.usd_per_hour, 0.12);
  EXPECT_DOUBLE_EQ(sheet.hardware.idle_watts, 18);
  EXPECT_DOUBLE_EQ(sheet.hardware.busy_watts, 65);
  ASSERT_EQ(sheet.models.size(), 2u);
  const std::optional<ListPrice> smol = sheet.list_price("smollm2-135m");
  ASSERT_TRUE(smol.has_value());
  EXPECT_DOUBLE_EQ(smol->input_usd_per_mtok, 0.05);
  EXPECT_DOUBLE_EQ(smol->cached_input_usd_per_mtok, 0.025);
  EXPECT_DOUBLE_EQ(smol->output_usd_per_mtok, 0.20);
}

TEST(PriceSheet, CachedInputDefaultsToTheInputPrice) {
  const PriceSheet sheet = parse_ok(kFullSheet);
  const std::optional<ListPrice> qwen = sheet.list_price("qwen2.5-0.5b");
  ASSERT_TRUE(qwen.has_value());
  EXPECT_DOUBLE_EQ(qwen->cached_input_usd_per_mtok, 0.10);
}

TEST(PriceSheet, EverythingIsOptional) {
  const PriceSheet empty = parse_ok("{}");
  EXPECT_EQ(empty.hardware.usd_per_hour, 0);
  EXPECT_EQ(empty.hardware.idle_watts, 0);
  EXPECT_EQ(empty.hardware.busy_watts, 0);
  EXPECT_TRUE(empty.models.empty());

  // null reads as absent, at every level.
  const PriceSheet nulls = parse_ok(
      R"({"hardware": {"usd_per_hour": null}, "models": {"m": {"output_usd_per_mtok": null}}})");
  EXPECT_EQ(nulls.hardware.usd_per_hour, 0);
  ASSERT_TRUE(nulls.list_price("m").has_value());
  EXPECT_EQ(nulls.list_price("m")->output_usd_per_mtok, 0);
  EXPECT_TRUE(parse_ok(R"({"hardware": null, "models": null})").models.empty());

  // A model listed with no prices is free, but it is listed.
  const PriceSheet free_model = parse_ok(R"({"models": {"m": {}}})");
  ASSERT_TRUE(free_model.list_price("m").has_value());
  EXPECT_EQ(free_model.charge_usd("m", 1000, 0, 1000), 0);
}

TEST(PriceSheet, BusyWattsDefaultToIdleWatts) {
  const PriceSheet sheet = parse_ok(R"({"hardware": {"idle_watts": 30}})");
  EXPECT_DOUBLE_EQ(sheet.hardware.idle_watts, 30);
  EXPECT_DOUBLE_EQ(sheet.hardware.busy_watts, 30);
  const PriceSheet busy_only = parse_ok(R"({"hardware": {"busy_watts": 40}})");
  EXPECT_DOUBLE_EQ(busy_only.hardware.idle_watts, 0);
  EXPECT_DOUBLE_EQ(busy_only.hardware.busy_watts, 40);
}

TEST(PriceSheet, BusyBelowIdleIsRefusedNamingThePath) {
  EXPECT_EQ(parse_error(R"({"hardware": {"idle_watts": 18, "busy_watts": 10}})"),
            "price sheet prices.json: hardware.busy_watts must be >= idle_watts (got 10 < 18)");
}

TEST(PriceSheet, UnknownKeysAreRefusedAtEveryLevel) {
  EXPECT_EQ(parse_error(R"({"hardwre": {}})"),
            "price sheet prices.json: unknown key hardwre (expected one of hardware, models)");
  const std::string hardware = parse_error(R"({"hardware": {"usd_per_hr": 0.1}})");
  EXPECT_NE(hardware.find("unknown key hardware.usd_per_hr (expected one of usd_per_hour, "
                          "idle_watts, busy_watts)"),
            std::string::npos)
      << hardware;
  const std::string model =
      parse_error(R"({"models": {"smollm2-135m": {"input_usd_per_mtk": 0.05}}})");
  EXPECT_NE(model.find(R"(unknown key models["smollm2-135m"].input_usd_per_mtk)"),
            std::string::npos)
      << model;
}

TEST(PriceSheet, NumbersMustBeFiniteAndNonNegative) {
  EXPECT_EQ(parse_error(R"({"hardware": {"usd_per_hour": -1}})"),
            "price sheet prices.json: hardware.usd_per_hour must be >= 0 (got -1)");
  EXPECT_EQ(
      parse_error(R"({"models": {"m": {"output_usd_per_mtok": "0.2"}}})"),
      R"(price sheet prices.json: models["m"].output_usd_per_mtok must be a number, not a string)");
  EXPECT_EQ(parse_error(R"({"hardware": {"idle_watts": true}})"),
            "price sheet prices.json: hardware.idle_watts must be a number, not a boolean");
  // 1e400 overflows a double: refused by the parser rather than read as infinity.
  EXPECT_EQ(parse_error(R"({"hardware": {"usd_per_hour": 1e400}})"),
            "price sheet prices.json: invalid JSON: number overflow parsing '1e400'");
  // Integers and exponents are numbers like any other.
  EXPECT_DOUBLE_EQ(parse_ok(R"({"hardware": {"usd_per_hour": 2}})").hardware.usd_per_hour, 2);
  EXPECT_DOUBLE_EQ(parse_ok(R"({"hardware": {"usd_per_hour": 1.5e-1}})").hardware.usd_per_hour,
                   0.15);
}

TEST(PriceSheet, ShapesAreChecked) {
  EXPECT_EQ(parse_error("[]"), "price sheet prices.json: must be a JSON object, not an array");
  EXPECT_EQ(parse_error(R"({"hardware": 3})"),
            "price sheet prices.json: hardware must be an object, not a number");
  EXPECT_EQ(parse_error(R"({"models": ["m"]})"),
            "price sheet prices.json: models must be an object, not an array");
  EXPECT_EQ(parse_error(R"({"models": {"m": 0.2}})"),
            R"(price sheet prices.json: models["m"] must be an object, not a number)");
  EXPECT_EQ(parse_error(R"({"models": {"": {}}})"),
            "price sheet prices.json: models: a model id must not be empty");
}

TEST(PriceSheet, EveryProblemIsReportedAtOnce) {
  const std::string message = parse_error(
      R"({"hardware": {"usd_per_hour": -2, "watts": 5}, "models": {"m": {"input_usd_per_mtok": -1}}})");
  EXPECT_NE(message.find("unknown key hardware.watts"), std::string::npos) << message;
  EXPECT_NE(message.find("hardware.usd_per_hour must be >= 0"), std::string::npos) << message;
  EXPECT_NE(message.find(R"(models["m"].input_usd_per_mtok must be >= 0)"), std::string::npos)
      << message;
}

TEST(PriceSheet, InvalidJsonSaysWhere) {
  const std::string message = parse_error(R"({"hardware": {"usd_per_hour": 0.12,}})");
  EXPECT_EQ(message.rfind("price sheet prices.json: invalid JSON: ", 0), 0u) << message;
  EXPECT_NE(message.find("line 1"), std::string::npos) << message;
  EXPECT_EQ(parse_error("").rfind("price sheet prices.json: invalid JSON", 0), 0u);
}

TEST(PriceSheet, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep =
      "{\"models\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(parse_error(deep),
            "price sheet prices.json: JSON nested too deeply to be a price sheet");
}

TEST(PriceSheet, ChargeSplitsCachedAndUncachedPromptTokens) {
  const PriceSheet sheet = parse_ok(kFullSheet);
  // 1000 prompt tokens, 400 of them cached, 500 completion tokens:
  // 600 × 0.05 + 400 × 0.025 + 500 × 0.20 = 30 + 10 + 100 = 140 USD per million tokens.
  EXPECT_NEAR(sheet.charge_usd("smollm2-135m", 1000, 400, 500), 140e-6, 1e-15);
  // Without a cached price, cached tokens cost the input price.
  EXPECT_NEAR(sheet.charge_usd("qwen2.5-0.5b", 1000, 400, 0), 100e-6, 1e-15);
  EXPECT_NEAR(sheet.charge_usd("smollm2-135m", 1'000'000, 0, 1'000'000), 0.25, 1e-12);
}

TEST(PriceSheet, UnlistedModelsAreFreeAndBadCountsNeverGoNegative) {
  const PriceSheet sheet = parse_ok(kFullSheet);
  EXPECT_FALSE(sheet.list_price("gemma3-270m").has_value());
  EXPECT_EQ(sheet.charge_usd("gemma3-270m", 1000, 0, 1000), 0);
  EXPECT_FALSE(sheet.list_price("SMOLLM2-135M").has_value());  // ids match exactly
  // Cached above prompt counts as all cached; negatives count as 0.
  EXPECT_NEAR(sheet.charge_usd("smollm2-135m", 100, 500, 0), 100 * 0.025e-6, 1e-15);
  EXPECT_EQ(sheet.charge_usd("smollm2-135m", -5, -3, -1), 0);
  EXPECT_NEAR(sheet.charge_usd("smollm2-135m", 100, -3, 0), 100 * 0.05e-6, 1e-15);
}

class PriceSheetFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tokenmill-price-sheet-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(PriceSheetFile, LoadsAFile) {
  Expected<PriceSheet> sheet = load_price_sheet(write("prices.json", kFullSheet));
  ASSERT_TRUE(sheet.ok()) << sheet.error().message;
  EXPECT_DOUBLE_EQ(sheet->hardware.busy_watts, 65);
}

TEST_F(PriceSheetFile, MessagesNameTheFile) {
  const std::filesystem::path bad = write("bad.json", R"({"hardware": {"idle_watts": -1}})");
  Expected<PriceSheet> sheet = load_price_sheet(bad);
  ASSERT_FALSE(sheet.ok());
  EXPECT_EQ(sheet.error().message,
            "price sheet " + bad.string() + ": hardware.idle_watts must be >= 0 (got -1)");

  Expected<PriceSheet> missing = load_price_sheet(dir_ / "missing.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "price sheet " + (dir_ / "missing.json").string() +
                                         ": cannot open: No such file or directory");

  Expected<PriceSheet> directory = load_price_sheet(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().message.find("is a directory"), std::string::npos);
}

TEST(PriceSheetDocs, TheDocumentedExampleLoads) {
  const std::filesystem::path example = std::filesystem::path(TOKENMILL_TEST_FIXTURES) / ".." /
                                        ".." / "docs" / "price-sheet.example.json";
  Expected<PriceSheet> sheet = load_price_sheet(example);
  ASSERT_TRUE(sheet.ok()) << sheet.error().message;
  EXPECT_GT(sheet->hardware.usd_per_hour, 0);
  EXPECT_GE(sheet->hardware.busy_watts, sheet->hardware.idle_watts);
  EXPECT_TRUE(sheet->list_price("smollm2-135m").has_value());
}

}  // namespace
}  // namespace tmill::platform
