// Google Benchmark micro-suite for the hot CPU kernels, so a change's effect is visible at the
// kernel level: matmul_rows per weight format and token count on each kernel path (int16
// activations, f32 SIMD, scalar), and attention per context length and path. Single thread.
//
//   build/bin/kernels_bench                          all
//   build/bin/kernels_bench --benchmark_filter=Q4_1  one format
//   build/bin/kernels_bench --benchmark_filter='Q4_1.*/(1|16)/1$'  1 and 16 tokens, from DRAM
//   build/bin/kernels_bench --benchmark_filter='attention/0/.*/1$'    attention, KV from DRAM
//
// Shapes are the shipped models' (SmolLM2: 576 -> 1536; Gemma 3: 640 -> 2048, 2048 -> 640).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_packed.h"
#include "backend/cpu/matmul_packed_amx.h"
#include "core/dtype.h"
#include "core/half.h"
#include "quant/formats.h"

namespace {

using namespace tmill;

// kInt16 is the batch-invariant int16 family over the file's rows; kInt16Fast the older
// per-batch-size int16 kernels (--no-batch-invariant; decode up to 8 rows); kPacked the
// kernels over weights repacked at load (matmul_packed.h), which `auto` uses where it can;
// kPackedInt8 the same panels with int8 activations (--kernels int8); kPackedVnni the packed
// kernels with AMX off (--no-amx; the same as kPacked on CPUs without AMX).
enum Path {
  kInt16 = 0,
  kF32 = 1,
  kScalar = 2,
  kInt16Fast = 3,
  kPacked = 4,
  kPackedInt8 = 5,
  kPackedVnni = 6
};
const char* const kPathNames[] = {"int16-invariant", "f32",         "scalar",     "int16-fast",
                                  "packed",          "packed-int8", "packed-vnni"};

void set_path(int path) {
  cpu::set_simd_enabled(path != kScalar);
  cpu::set_int16_activations(path == kInt16 || path == kInt16Fast || path == kPacked ||
                             path == kPackedInt8 || path == kPackedVnni);
  cpu::set_batch_invariant(path != kInt16Fast);
  cpu::detail::set_amx_enabled(path != kPackedVnni);
}

// Weights bigger than the last-level cache, as in a real forward pass (a model's matrices are
// read from DRAM each step): the benchmark cycles through copies totalling this many bytes.
constexpr size_t kDramBytes = size_t{128} << 20;

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// args: path, n_tokens, dram (0: one copy of the weights, cache-resident after the first
// iteration; 1: copies cycled so every iteration reads its weights from DRAM). Weights of
// `type`, n_out x n_in, quantized from gaussian data.
void matmul(benchmark::State& state, DType type, int64_t n_in, int64_t n_out) {
  const int path = static_cast<int>(state.range(0));
  const int64_t n_tokens = state.range(1);
  const bool dram = state.range(2) != 0;
  const bool packed = path == kPacked || path == kPackedInt8 || path == kPackedVnni;
  const auto layout = path == kPackedInt8 ? cpu::detail::PackedCodes::kInt8Quads
                                          : cpu::detail::PackedCodes::kInt16Pairs;
  if (packed && !cpu::detail::packed_supported(type, n_out, n_in)) {
    state.SkipWithError("no packed kernel for this format or CPU");
    return;
  }
  set_path(path);
  const size_t row = *row_bytes(type, n_in);
  // The file's rows, or their packed copy (which may be larger) for kPacked.
  std::vector<uint8_t> file(row * static_cast<size_t>(n_out));
  const auto src = gaussian(static_cast<size_t>(n_in * n_out), 1);
  for (int64_t o = 0; o < n_out; ++o)
    quant::quantize_row(type, src.data() + o * n_in, file.data() + static_cast<size_t>(o) * row,
                        n_in);
  std::vector<uint8_t> one = file;
  if (packed) {
    one.resize(cpu::detail::packed_bytes(type, n_out, n_in));
    cpu::detail::pack_rows(type, file.data(), row, n_in, 0, n_out, one.data(), layout);
  }
  const size_t matrix_bytes = one.size();
  const size_t copies = dram ? kDramBytes / matrix_bytes + 1 : 1;
  std::vector<uint8_t> w(matrix_bytes * copies);
  for (size_t c = 0; c < copies; ++c)
    std::copy_n(one.data(), matrix_bytes, w.data() + c * matrix_bytes);
  const auto x = gaussian(static_cast<size_t>(n_in * n_tokens), 2);
  std::vector<float> y(static_cast<size_t>(n_out * n_tokens));
  std::vector<float> scratch(static_cast<size_t>(n_in));
  size_t next = 0;
  for (auto _ : state) {
    if (packed)
      cpu::detail::matmul_rows_packed(type, w.data() + next * matrix_bytes, n_in, x.data(),
                                      n_tokens, y.data(), n_out, 0, n_out, layout);
    else
      cpu::matmul_rows(type, w.data() + next * matrix_bytes, row, n_in, x.data(), n_tokens,
                       y.data(), n_out, 0, n_out, scratch.data());
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % copies;
  }
  state.SetLabel(std::string(kPathNames[path]) + (dram ? " dram" : ""));
  state.counters["weights_GB/s"] = benchmark::Counter(static_cast<double>(matrix_bytes),
                                                      benchmark::Counter::kIsIterationInvariantRate,
                                                      benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(n_in * n_out * n_tokens),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  set_path(kInt16);
}

void matmul_args(benchmark::internal::Benchmark* b) {
  for (int dram : {0, 1})
    for (int path : {kPacked, kPackedVnni, kPackedInt8, kInt16, kInt16Fast, kF32, kScalar})
      for (int tokens : {1, 4, 16, 64}) b->Args({path, tokens, dram});
}

// args: path, context length, dram. SmolLM2's attention: 3 query heads per KV head, 3 KV heads,
// head_dim 64, head-major blocks of 16 positions (backend::kv_cache_view), one KV head read.
// dram 0: one cache, resident after the first iteration. dram 1: as in batched decode, where the
// weight stream evicts the cache between steps: a shuffled block table, and each iteration takes
// the next of several caches totalling kDramBytes.
void attention(benchmark::State& state) {
  const int path = static_cast<int>(state.range(0));
  const int32_t n_ctx = static_cast<int32_t>(state.range(1));
  const bool dram = state.range(2) != 0;
  set_path(path);
  const int32_t group = 3, n_kv_head = 3, hd = 64, block = 16;
  const int32_t n_blocks = (n_ctx + block - 1) / block;
  const size_t cache_values = static_cast<size_t>(n_blocks * block * n_kv_head * hd);
  const size_t copies = dram ? kDramBytes / (4 * cache_values) + 1 : 1;  // 2 bytes, K and V
  std::vector<uint16_t> k(cache_values * copies), v(k.size());
  const auto kf = gaussian(cache_values, 3), vf = gaussian(cache_values, 4);
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = f32_to_f16(kf[i % cache_values]);
    v[i] = f32_to_f16(vf[i % cache_values]);
  }
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t b = 0; b < n_blocks; ++b) table[static_cast<size_t>(b)] = b;
  if (dram) std::shuffle(table.begin(), table.end(), std::mt19937(6));
  const auto q = gaussian(static_cast<size_t>(group * hd), 5);
  std::vector<float> out(q.size());
  std::vector<float> scratch(cpu::attention_scratch_floats(group, hd));
  cpu::AttentionJob job;
  job.q = q.data();
  job.out = out.data();
  job.k_row_bytes = job.v_row_bytes = static_cast<size_t>(hd) * 2;
  job.n_kv_head = n_kv_head;
  job.block_table = table.data();
  job.block_size = block;
  job.first = 0;
  job.last = n_ctx - 1;
  job.group = group;
  job.head_dim = hd;
  job.scale = 0.125f;
  // Each job names the one after it (AttentionJob::next), as the engine's do.
  auto job_for = [&](size_t copy) {
    cpu::AttentionJob j = job;
    j.k_cache = reinterpret_cast<const uint8_t*>(k.data() + copy * cache_values);
    j.v_cache = reinterpret_cast<const uint8_t*>(v.data() + copy * cache_values);
    j.kv_head = static_cast<int32_t>(copy % n_kv_head);
    return j;
  };
  size_t next = 0;
  cpu::AttentionJob now = job_for(0), after;
  for (auto _ : state) {
    next = (next + 1) % copies;
    after = job_for(next);
    now.next = &after;
    cpu::attention(now, scratch.data());
    benchmark::DoNotOptimize(out.data());
    now = after;
  }
  state.SetLabel(std::string(kPathNames[path]) + (dram ? " dram" : ""));
  state.counters["positions/s"] = benchmark::Counter(
      n_ctx, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  set_path(kInt16);
}

void attention_args(benchmark::internal::Benchmark* b) {
  for (int dram : {0, 1})
    for (int path : {kInt16, kScalar})
      for (int ctx : {64, 128, 512, 2048}) b->Args({path, ctx, dram});
}

#define TM_MATMUL_BENCH(TYPE, NIN, NOUT)                                                          \
  void Matmul_##TYPE##_##NIN##x##NOUT(benchmark::State& s) { matmul(s, DType::TYPE, NIN, NOUT); } \
  BENCHMARK(Matmul_##TYPE##_##NIN##x##NOUT)->Apply(matmul_args)

TM_MATMUL_BENCH(Q4_1, 576, 1536);
TM_MATMUL_BENCH(Q8_0, 576, 1536);
TM_MATMUL_BENCH(Q4_0, 576, 1536);
TM_MATMUL_BENCH(Q5_0, 640, 2048);
TM_MATMUL_BENCH(Q4_K, 2048, 640);
TM_MATMUL_BENCH(Q6_K, 2048, 640);
TM_MATMUL_BENCH(Q5_K, 2048, 640);
TM_MATMUL_BENCH(F16, 576, 1536);
BENCHMARK(attention)->Apply(attention_args);

}  // namespace

BENCHMARK_MAIN();
