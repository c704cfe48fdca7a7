// Tokenizer throughput: encodes (and decodes) one text file with a model's tokenizer, timing
// only the calls themselves (not the model load or the file read), after one warm-up run.
// Prints the median, min and max MB/s over the runs (MB = 10^6 bytes of input text) as a
// table, or one JSON object with --json. --ids-out writes the ids as a JSON array, so
// bench/tokenizer-speed can check them against llama.cpp's.
//
//   tokenizer_bench -m MODEL.gguf -f TEXT [-r 5] [--json] [--ids-out FILE]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

struct Stats {
  double median, min, max;
};

// CPU time of this thread: with other processes competing for the cores it is steadier than
// wall time (reported next to it, not instead of it).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tokenizer throughput: encode/decode MB/s of a text file with a model's tokenizer"};
  std::string model_path, text_path, ids_out;
  int runs = 5;
  bool json = false, parse_special = false;
  app.add_option("-m,--model", model_path, "GGUF file (vocab-only is enough)")->required();
  app.add_option("-f,--file", text_path, "text to tokenize (raw bytes)")->required();
  app.add_option("-r,--runs", runs, "timed runs after one warm-up (median reported)")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--json", json, "one JSON object instead of the table");
  app.add_flag("--parse-special", parse_special, "parse special-token text (default: no)");
  app.add_option("--ids-out", ids_out, "write the ids as a JSON array to this file");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(text_path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "tokenizer_bench: cannot read %s\n", text_path.c_str());
    return 1;
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto file = tmill::gguf::File::open(model_path);
  if (!file.ok()) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", file.error().message.c_str());
    return 1;
  }
  const double t_load = tmill::now_seconds();
  auto tok = tmill::tok::Tokenizer::from_gguf(*file);
  if (!tok.ok()) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", tok.error().message.c_str());
    return 1;
  }
  const double load_ms = (tmill::now_seconds() - t_load) * 1e3;

  std::vector<int32_t> ids = tok->encode(text, false, parse_special);  // warm-up
  std::string decoded = tok->decode(ids);
  std::vector<double> enc, enc_cpu, dec;
  for (int r = 0; r < runs; ++r) {
    const double c0 = thread_cpu_seconds();
    const double t0 = tmill::now_seconds();
    ids = tok->encode(text, false, parse_special);
    const double t1 = tmill::now_seconds();
    const double c1 = thread_cpu_seconds();
    decoded = tok->decode(ids);
    const double t2 = tmill::now_seconds();
    enc.push_back(static_cast<double>(text.size()) / (t1 - t0) / 1e6);
    enc_cpu.push_back(static_cast<double>(text.size()) / (c1 - c0) / 1e6);
    dec.push_back(static_cast<double>(text.size()) / (t2 - t1) / 1e6);
  }
  const Stats e = summarize(enc), ec = summarize(enc_cpu), d = summarize(dec);
  volatile size_t sink = decoded.size();  // keep the decode
  (void)sink;

  if (!ids_out.empty()) {
    std::ofstream out(ids_out);
    out << nlohmann::json(ids).dump() << "\n";
  }
  if (json) {
    nlohmann::json j = {{"impl", "tokenmill"},
                        {"model", model_path.substr(model_path.find_last_of('/') + 1)},
                        {"bytes", text.size()},
                        {"tokens", ids.size()},
                        {"runs", runs},
                        {"encode_mb_s", e.median},
                        {"encode_mb_s_min", e.min},
                        {"encode_mb_s_max", e.max},
                        {"encode_mb_s_cpu", ec.median},
                        {"decode_mb_s", d.median},
                        {"vocab_load_ms", load_ms}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %zu bytes -> %zu tokens, vocab built in %.1f ms\n", model_path.c_str(),
                text.size(), ids.size(), load_ms);
    std::printf(
        "  encode  %8.2f MB/s median (min %.2f, max %.2f, %d runs); %.2f MB/s of CPU time\n",
        e.median, e.min, e.max, runs, ec.median);
    std::printf("  decode  %8.2f MB/s median\n", d.median);
  }
  return 0;
}
