#include "app/bench_serve/workload.h"

#include <array>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>

namespace tmill::app::bench_serve {
namespace {

// Common English words that BPE vocabularies hold as one token with a leading space, so N
// words come out close to N tokens.
constexpr std::array<std::string_view, 96> kWords = {
    "the",     "of",       "and",   "to",         "in",     "is",     "that",  "for",     "it",
    "as",      "was",      "with",  "be",         "by",     "on",     "not",   "he",      "this",
    "are",     "or",       "his",   "from",       "at",     "which",  "but",   "have",    "an",
    "had",     "they",     "you",   "were",       "their",  "one",    "all",   "we",      "can",
    "her",     "has",      "there", "been",       "if",     "more",   "when",  "will",    "would",
    "who",     "so",       "no",    "time",       "people", "year",   "way",   "day",     "man",
    "thing",   "woman",    "life",  "child",      "world",  "school", "state", "family",  "group",
    "country", "problem",  "hand",  "part",       "place",  "case",   "week",  "company", "system",
    "program", "question", "work",  "government", "number", "night",  "point", "home",    "water",
    "room",    "mother",   "area",  "money",      "story",  "fact",   "month", "lot",     "right",
    "study",   "book",     "eye",   "job",        "word"};

void append_words(std::string& out, int32_t n, std::mt19937_64& rng) {
  std::uniform_int_distribution<size_t> pick(0, kWords.size() - 1);
  for (int32_t i = 0; i < n; ++i) {
    if (!out.empty()) out.push_back(' ');
    out.append(kWords[pick(rng)]);
  }
}

void append_ids(std::vector<int32_t>& out, int32_t n, const Options& opts, std::mt19937_64& rng) {
  std::uniform_int_distribution<int32_t> pick(opts.token_lo, opts.token_hi - 1);
  for (int32_t i = 0; i < n; ++i) out.push_back(pick(rng));
}

bool uses_ids(const Options& opts) { return opts.api == Api::Completions && !opts.text_prompts; }

}  // namespace

std::vector<PlannedRequest> plan_requests(const Options& opts, int32_t count, uint64_t seed) {
  // The prefix comes from its own stream so it is the same for warm-up and measured requests.
  std::mt19937_64 prefix_rng(opts.seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<int32_t> prefix_ids;
  std::string prefix_text;
  if (uses_ids(opts)) {
    append_ids(prefix_ids, opts.shared_prefix_len, opts, prefix_rng);
  } else {
    append_words(prefix_text, opts.shared_prefix_len, prefix_rng);
  }

  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(opts.rate > 0 ? opts.rate : 1.0);
  std::vector<PlannedRequest> out(static_cast<size_t>(count));
  double t = 0;
  for (PlannedRequest& r : out) {
    const int32_t own = opts.prompt_len.sample(rng);
    r.max_tokens = opts.output_len.sample(rng);
    r.prompt_len = opts.shared_prefix_len + own;
    if (uses_ids(opts)) {
      r.prompt_ids = prefix_ids;
      append_ids(r.prompt_ids, own, opts, rng);
    } else {
      r.prompt_text = prefix_text;
      append_words(r.prompt_text, own, rng);
    }
    if (opts.rate > 0) {
      r.arrival_s = t;
      t += gap(rng);
    }
  }
  return out;
}

std::string request_path(const Options& opts) {
  return opts.api == Api::Chat ? "/v1/chat/completions" : "/v1/completions";
}

std::string request_body(const PlannedRequest& req, const Options& opts, const std::string& model) {
  nlohmann::json body;
  body["model"] = model;
  if (opts.api == Api::Chat) {
    body["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", req.prompt_text}}});
  } else if (uses_ids(opts)) {
    body["prompt"] = req.prompt_ids;
  } else {
    body["prompt"] = req.prompt_text;
  }
  body["max_tokens"] = req.max_tokens;
  body["temperature"] = 0.0;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  // Not OpenAI, but both tokenmill and llama-server honour it: without it a request can stop
  // at an end-of-text token and the output lengths would not be the ones asked for.
  if (opts.ignore_eos) body["ignore_eos"] = true;
  return body.dump();
}

}  // namespace tmill::app::bench_serve
