// libFuzzer target for metering's text inputs: the price sheet (JSON file given to serve), the
// Authorization header and /v1/usage's query string. The first byte picks the parser. None may
// crash, hang or trip a sanitizer; every refusal must be an error value with a message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "platform/price_sheet.h"
#include "platform/usage_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tmill::platform;
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto sheet = parse_price_sheet(text, "fuzz.json");
      if (!sheet.ok()) {
        if (sheet.error().message.empty()) __builtin_trap();
      } else {
        // Whatever it accepted prices consistently: never negative, never NaN.
        for (const auto& [model, price] : sheet->models) {
          const double c = sheet->charge_usd(model, 1000, 10, 1000);
          if (!(c >= 0)) __builtin_trap();
        }
      }
      break;
    }
    case 1: {
      const std::string_view secret = bearer_secret(text);
      if (secret.size() > text.size()) __builtin_trap();
      break;
    }
    default: {
      auto q = parse_usage_query(text);
      if (!q.ok()) {
        if (q.error().message.empty() || q.error().status != 400) __builtin_trap();
      } else if (q.value().from_unix >= q.value().to_unix) {
        __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
