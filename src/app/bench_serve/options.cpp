#include "app/bench_serve/options.h"

#include <charconv>

namespace tmill::app::bench_serve {
namespace {

bool parse_int(std::string_view s, int32_t& out) {
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end && !s.empty();
}

}  // namespace

Expected<LengthDist> parse_length_dist(std::string_view text, std::string_view what,
                                       int32_t min_value) {
  const auto bad = [&] {
    return fail(what, ": '", text, "' is not N or LO:HI with ", min_value, " <= LO <= HI");
  };
  LengthDist d;
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    if (!parse_int(text, d.lo)) return bad();
    d.hi = d.lo;
  } else if (!parse_int(text.substr(0, colon), d.lo) || !parse_int(text.substr(colon + 1), d.hi)) {
    return bad();
  }
  if (d.lo < min_value || d.hi < d.lo) return bad();
  return d;
}

}  // namespace tmill::app::bench_serve
