#include "backend/cpu/cpu_device.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "backend/cpu/activation.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/f16_rows.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/matmul_int16.h"
#include "backend/cpu/matmul_packed.h"
#include "backend/cpu/matmul_packed_amx.h"
#include "backend/cpu/peaks.h"
#include "core/cache_size.h"
#include "core/check.h"
#include "quant/formats.h"

namespace tmill::backend {
namespace {

// Host memory for activations and the KV cache. Buffers of 2 MiB and more come from
// LargePages: decode reads the whole KV cache every step, and in 4 KiB pages each block's
// short run of rows and each activation panel costs its own TLB miss (against heap buffers,
// same build, 3 alternating pairs: SmolLM2 pp128 +10-20%, batch16 +5%). Smaller ones from
// the heap, where a 2 MiB page would mostly go unused.
class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes >= kLargeBytes)
      pages_ = LargePages(bytes);
    else
      heap_.reset(new (std::nothrow) uint8_t[bytes]);
  }
  void* data() override { return heap_ ? heap_.get() : pages_.data(); }
  size_t size() const override { return bytes_; }
  bool valid() const { return heap_ != nullptr || pages_.data() != nullptr; }

 private:
  static constexpr size_t kLargeBytes = size_t{2} << 20;
  size_t bytes_;
  std::unique_ptr<uint8_t[]> heap_;
  LargePages pages_;
};

// DeviceOptions::weight_prefetch's fixed settings ("auto" is not one).
std::optional<cpu::detail::WeightPrefetch> fixed_weight_prefetch(const std::string& mode) {
  using cpu::detail::WeightPrefetch;
  if (mode == "off") return WeightPrefetch::kOff;
  if (mode == "near") return WeightPrefetch::kNear;
  if (mode == "far") return WeightPrefetch::kFar;
  return std::nullopt;
}

size_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page_size)
                                    : 0;
}

}  // namespace

Status CpuDevice::select_kernels(const std::string& kernels) {
  if (kernels == "auto" || kernels == "int8") {
    cpu::set_simd_enabled(true);
    cpu::set_int16_activations(true);
  } else if (kernels == "f32") {
    cpu::set_simd_enabled(true);
    cpu::set_int16_activations(false);
  } else if (kernels == "scalar") {
    cpu::set_simd_enabled(false);
  } else {
    return fail("unknown CPU kernels '", kernels, "' (choose auto, int8, f32 or scalar)");
  }
  return {};
}

bool CpuDevice::is_weight_prefetch_mode(const std::string& mode) {
  return mode == "auto" || fixed_weight_prefetch(mode).has_value();
}

cpu::detail::WeightPrefetch CpuDevice::weight_prefetch(int64_t n_tokens) const {
  if (fixed_prefetch_) return *fixed_prefetch_;
  static const size_t cache_bytes = last_level_cache_bytes();
  return cpu::detail::automatic_weight_prefetch(packed_.allocated_bytes(), cache_bytes, n_tokens);
}

std::string CpuDevice::kernels_in_use() {
  if (!cpu::simd_enabled()) return "scalar";
  std::string k = cpu::int16_activations_enabled() ? "avx2+int16" : "avx2 f32";
  if (cpu::batch_invariant())
    k += cpu::int16_activations_enabled() && cpu::detail::int16_vnni_enabled()
             ? ", batch-invariant, avx512-vnni"
             : ", batch-invariant";
  return k;
}

CpuDevice::CpuDevice(const DeviceOptions& options)
    : pool_(options.n_threads),
      repack_(options.repack),
      packed_codes_(options.kernels == "int8" ? cpu::detail::PackedCodes::kInt8Quads
                                              : cpu::detail::PackedCodes::kInt16Pairs),
      fixed_prefetch_(fixed_weight_prefetch(options.weight_prefetch)) {
  info_.name = "cpu";
  describe();
  info_.memory_bytes = physical_memory_bytes();
  info_.host_memory = true;
  scratch_.resize(static_cast<size_t>(pool_.size()));
  first_chunk_.resize(static_cast<size_t>(pool_.size()));
}

void CpuDevice::describe() {
  std::string kernels = kernels_in_use();
  if (repacks()) {
    kernels += packed_codes_ == cpu::detail::PackedCodes::kInt8Quads
                   ? ", packed Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q6_K with int8 activations"
               : cpu::detail::amx_enabled()
                   ? ", packed Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q6_K, AMX-INT8 tiles for Q4_1/Q4_K"
                   : ", packed Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q6_K";
    static constexpr const char* kPrefetchNames[] = {"off", "near", "far"};
    const cpu::detail::WeightPrefetch one = weight_prefetch(1), several = weight_prefetch(2);
    const std::string one_name = kPrefetchNames[static_cast<int>(one)];
    kernels += ", weight prefetch " +
               (one == several ? one_name
                               : one_name + " for 1 token, " +
                                     kPrefetchNames[static_cast<int>(several)] + " for more") +
               (fixed_prefetch_ ? "" : " (auto)");
  }
  info_.description = "CPU (" + std::to_string(pool_.size()) + " threads, " + kernels + " kernels)";
}

bool CpuDevice::supports(Op op, DType type) const {
  if (op == Op::MatMul || op == Op::GetRows) return quant::is_supported(type);
  return type == DType::F32;
}

Expected<std::unique_ptr<Buffer>> CpuDevice::allocate(size_t bytes) {
  auto buffer = std::make_unique<HostBuffer>(bytes);
  if (!buffer->valid()) return fail("cpu: cannot allocate ", bytes, " bytes");
  return std::unique_ptr<Buffer>(std::move(buffer));
}

Expected<Tensor> CpuDevice::upload_weight(const Tensor& host) {
  if (!quant::is_supported(host.type))
    return fail("cpu backend does not support tensor type ", std::string(dtype_name(host.type)));
  Tensor t = host;
  t.device = this;
  t.packed = nullptr;
  // Weights the int16 VNNI kernels can use get a packed copy (matmul_packed.h; about the
  // file's size), paid once here instead of a panel repack in every call.
  if (repacks() && host.ne[2] == 1 && host.ne[3] == 1 &&
      cpu::detail::packed_supported(host.type, host.rows(), host.cols())) {
    const size_t bytes = cpu::detail::packed_bytes(host.type, host.rows(), host.cols());
    uint8_t* out = packed_.allocate(bytes);
    if (out == nullptr) return fail("cpu: cannot allocate ", bytes, " bytes for packed weights");
    const int64_t panels = host.rows() / cpu::detail::kPanelRows;
    pool_.parallel_for(panels, [&](int64_t begin, int64_t end, int) {
      cpu::detail::pack_rows(host.type, static_cast<const uint8_t*>(host.data), host.row_stride,
                             host.cols(), begin * cpu::detail::kPanelRows,
                             end * cpu::detail::kPanelRows, out, packed_codes_);
    });
    t.packed = out;
    if (!fixed_prefetch_) describe();  // the automatic prefetch choice follows the weights
  }
  return t;
}

bool CpuDevice::repacks() const {
  return repack_ && cpu::simd_enabled() && cpu::int16_activations_enabled() &&
         cpu::detail::cpu_has_avx512_vnni();
}

float* CpuDevice::thread_scratch(int thread, size_t n) {
  auto& s = scratch_[static_cast<size_t>(thread)];
  if (s.size() < n) s.resize(n);
  return s.data();
}

void CpuDevice::matmul(const Tensor& w, const Tensor& x, Tensor& y) {
  const MatmulJob job{&w, &x, &y};
  matmul_many({&job, 1});
}

void CpuDevice::matmul_many(std::span<const MatmulJob> jobs) {
  // The output rows of all jobs, concatenated, are split among the threads; each thread runs
  // its share of every job it overlaps. Each row is computed the same way whatever the split.
  int64_t total_rows = 0;
  int64_t max_in = 0;
  for (const MatmulJob& j : jobs) {
    const Tensor &w = *j.w, &x = *j.x, &y = *j.y;
    TM_CHECK(x.type == DType::F32 && y.type == DType::F32, "matmul expects f32 activations");
    TM_CHECK(w.cols() == x.cols() && y.cols() == w.rows() && x.rows() == y.rows(), "matmul shapes");
    TM_CHECK(x.row_stride == static_cast<size_t>(x.cols()) * sizeof(float),
             "matmul: x must be dense");
    TM_CHECK(y.row_stride % sizeof(float) == 0, "matmul: y stride");
    total_rows += w.rows();
    max_in = std::max(max_in, w.cols());
  }
  const bool packed_kernels = cpu::simd_enabled() && cpu::int16_activations_enabled();
  // Guided chunks for products of several tokens only: for one token (single-sequence decode)
  // they cost more than the imbalance (SmolLM2 tg128 -17%, median ratio of 5 alternating pairs;
  // batch16 +11%, pp128 +4%): a matrix is a few microseconds of streaming there, and each
  // chunk adds a shared-counter update and restarts the hardware prefetcher's stream.
  if (packed_kernels && jobs.front().x->rows() > 1 &&
      std::all_of(jobs.begin(), jobs.end(),
                  [](const MatmulJob& j) { return j.w->packed != nullptr; })) {
    matmul_packed_guided(jobs);
    return;
  }
  // Make sure every thread has scratch before going parallel (no allocation inside kernels).
  for (int t = 0; t < pool_.size(); ++t) thread_scratch(t, static_cast<size_t>(max_in));
  const cpu::detail::WeightPrefetch prefetch = weight_prefetch(jobs.front().x->rows());
  pool_.parallel_for(total_rows, [&](int64_t begin, int64_t end, int thread) {
    int64_t job_first = 0;  // first concatenated row of the current job
    for (const MatmulJob& j : jobs) {
      const Tensor &w = *j.w, &x = *j.x;
      Tensor& y = *j.y;
      int64_t lo = std::max(begin, job_first) - job_first;
      int64_t hi = std::min(end, job_first + w.rows()) - job_first;
      job_first += w.rows();
      if (w.packed != nullptr && packed_kernels) {
        // Packed weights go by whole panels: every thread rounds the shared boundaries down
        // the same way, so the panels are still split without gap or overlap.
        lo = lo / cpu::detail::kPanelRows * cpu::detail::kPanelRows;
        hi = hi < w.rows() ? hi / cpu::detail::kPanelRows * cpu::detail::kPanelRows : hi;
        if (lo >= hi) continue;
        cpu::detail::matmul_rows_packed(
            w.type, static_cast<const uint8_t*>(w.packed), w.cols(),
            static_cast<const float*>(x.data), x.rows(), static_cast<float*>(y.data),
            static_cast<int64_t>(y.row_stride / sizeof(float)), lo, hi, packed_codes_,
            /*same_input=*/false, prefetch);
        continue;
      }
      if (lo >= hi) continue;
      cpu::matmul_rows(w.type, static_cast<const uint8_t*>(w.data), w.row_stride, w.cols(),
                       static_cast<const float*>(x.data), x.rows(), static_cast<float*>(y.data),
                       static_cast<int64_t>(y.row_stride / sizeof(float)), lo, hi,
                       scratch_[static_cast<size_t>(thread)].data());
    }
  });
}

// All jobs packed: their 16-row panels, concatenated, go out in guided chunks (ThreadPool::
// parallel_for_guided) instead of one equal share per thread. The threads of a shared host do
// not run at equal speed, and with equal shares the faster one waited at every join (~9% of
// decode time on 2 threads). A thread quantizes each job's input on its first chunk of it and
// reuses that for its later chunks (matmul_rows_packed's same_input); each row's result does
// not depend on the chunking (the kernels compute every row and token alone).
void CpuDevice::matmul_packed_guided(std::span<const MatmulJob> jobs) {
  constexpr int64_t kRows = cpu::detail::kPanelRows;
  int64_t total_panels = 0;
  for (const MatmulJob& j : jobs) total_panels += j.w->rows() / kRows;
  // The first chunk a thread runs in this call must quantize (same_input = false).
  for (auto& flag : first_chunk_) flag = 1;
  const cpu::detail::WeightPrefetch prefetch = weight_prefetch(jobs.front().x->rows());
  pool_.parallel_for_guided(total_panels, 1, [&](int64_t begin, int64_t end, int thread) {
    int64_t job_first = 0;  // first concatenated panel of the current job
    for (const MatmulJob& j : jobs) {
      const Tensor &w = *j.w, &x = *j.x;
      Tensor& y = *j.y;
      const int64_t panels = w.rows() / kRows;
      const int64_t lo = std::max(begin, job_first) - job_first;
      const int64_t hi = std::min(end, job_first + panels) - job_first;
      job_first += panels;
      if (lo >= hi) continue;
      const bool same_input = first_chunk_[static_cast<size_t>(thread)] == 0;
      first_chunk_[static_cast<size_t>(thread)] = 0;
      cpu::detail::matmul_rows_packed(w.type, static_cast<const uint8_t*>(w.packed), w.cols(),
                                      static_cast<const float*>(x.data), x.rows(),
                                      static_cast<float*>(y.data),
                                      static_cast<int64_t>(y.row_stride / sizeof(float)),
                                      lo * kRows, hi * kRows, packed_codes_, same_input, prefetch);
    }
  });
}

void CpuDevice::get_rows(const Tensor& table, std::span<const int32_t> ids, Tensor& y) {
  TM_CHECK(y.cols() == table.cols() && y.rows() >= static_cast<int64_t>(ids.size()),
           "get_rows shapes");
  for (size_t t = 0; t < ids.size(); ++t) {
    TM_CHECK(ids[t] >= 0 && ids[t] < table.rows(), "get_rows: id out of range");
    quant::dequantize_row(table.type, table.row<const uint8_t>(ids[t]),
                          y.row<float>(static_cast<int64_t>(t)), table.cols());
  }
}

void CpuDevice::rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  // x may be viewed as [rows][weight.cols()] (per-head norm): walk it as dense blocks of n.
  const int64_t n = weight.cols();
  TM_CHECK(x.cols() % n == 0 && y.cols() == x.cols(), "rms_norm shapes");
  const float* w = static_cast<const float*>(weight.data);
  const int64_t groups = x.cols() / n;
  pool_.parallel_for(x.rows(), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* in = x.row<const float>(r);
      float* out = y.row<float>(r);
      for (int64_t g = 0; g < groups; ++g) {
        const float* xi = in + g * n;
        float* yi = out + g * n;
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xi[i]) * xi[i];
        const float inv = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
        for (int64_t i = 0; i < n; ++i) yi[i] = xi[i] * inv * w[i];
      }
    }
  });
}

const CpuDevice::RopeTable& CpuDevice::rope_table(std::span<const int32_t> positions, int32_t n_rot,
                                                  float freq_base, float freq_scale,
                                                  const float* freq_factors) {
  for (const RopeTable& table : rope_tables_)
    if (table.n_rot == n_rot && table.freq_base == freq_base && table.freq_scale == freq_scale &&
        table.freq_factors == freq_factors &&
        std::equal(positions.begin(), positions.end(), table.positions.begin(),
                   table.positions.end()))
      return table;
  RopeTable& table = rope_tables_[rope_victim_];
  rope_victim_ = (rope_victim_ + 1) % rope_tables_.size();
  const int32_t half = n_rot / 2;
  table.freq_base = freq_base;
  table.freq_scale = freq_scale;
  table.freq_factors = freq_factors;
  table.n_rot = n_rot;
  table.positions.assign(positions.begin(), positions.end());
  table.cos.resize(positions.size() * static_cast<size_t>(half));
  table.sin.resize(table.cos.size());
  // base^(-2i/n_rot) once per frequency (the same double for every token).
  std::vector<double>& inv_freq = table.inv_freq;
  inv_freq.resize(static_cast<size_t>(half));
  for (int32_t i = 0; i < half; ++i)
    inv_freq[static_cast<size_t>(i)] = std::pow(static_cast<double>(freq_base), -2.0 * i / n_rot);
  pool_.parallel_for(static_cast<int64_t>(positions.size()), [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      const double p = static_cast<double>(positions[static_cast<size_t>(t)]) * freq_scale;
      for (int32_t i = 0; i < half; ++i) {
        // theta_i = p * base^(-2i/n_rot), optionally divided by a per-frequency factor.
        double theta = p * inv_freq[static_cast<size_t>(i)];
        if (freq_factors != nullptr) theta /= freq_factors[i];
        const size_t at =
            static_cast<size_t>(t) * static_cast<size_t>(half) + static_cast<size_t>(i);
        table.cos[at] = static_cast<float>(std::cos(theta));
        table.sin[at] = static_cast<float>(std::sin(theta));
      }
    }
  });
  return table;
}

void CpuDevice::rope(Tensor& x, int32_t head_dim, int32_t n_rot, std::span<const int32_t> positions,
                     float freq_base, float freq_scale, const float* freq_factors, RopeMode mode) {
  TM_CHECK(x.cols() % head_dim == 0 && n_rot <= head_dim && n_rot % 2 == 0, "rope shapes");
  TM_CHECK(static_cast<int64_t>(positions.size()) == x.rows(), "rope positions");
  const int64_t n_heads = x.cols() / head_dim;
  const int32_t half = n_rot / 2;
  const RopeTable& table = rope_table(positions, n_rot, freq_base, freq_scale, freq_factors);
  pool_.parallel_for(x.rows(), [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      float* row = x.row<float>(t);
      const float* cos_t = table.cos.data() + t * half;
      const float* sin_t = table.sin.data() + t * half;
      for (int32_t i = 0; i < half; ++i) {
        const float c = cos_t[i];
        const float s = sin_t[i];
        for (int64_t h = 0; h < n_heads; ++h) {
          float* head = row + h * head_dim;
          // Normal: rotate adjacent pairs (2i, 2i+1). NeoX: rotate (i, i + n_rot/2).
          const int32_t a = mode == RopeMode::Normal ? 2 * i : i;
          const int32_t b = mode == RopeMode::Normal ? 2 * i + 1 : i + half;
          const float x0 = head[a];
          const float x1 = head[b];
          head[a] = x0 * c - x1 * s;
          head[b] = x0 * s + x1 * c;
        }
      }
    }
  });
}

void CpuDevice::kv_store(const Tensor& k, const Tensor& v, Tensor& k_cache, Tensor& v_cache,
                         std::span<const int32_t> slots) {
  TM_CHECK(k_cache.type == DType::F16 && v_cache.type == DType::F16, "kv cache is f16");
  const int64_t hd = k_cache.ne[0], n_kv_head = k_cache.ne[2];
  for (int d = 0; d < 4; ++d) TM_CHECK(k_cache.ne[d] == v_cache.ne[d], "kv_store cache shapes");
  TM_CHECK(k.cols() == hd * n_kv_head && v.cols() == k.cols(), "kv_store shapes");
  for (size_t t = 0; t < slots.size(); ++t) {
    // rows() counts one row per KV head; slots number block_size x n_blocks positions.
    TM_CHECK(slots[t] >= 0 && slots[t] < k_cache.ne[1] * k_cache.ne[3],
             "kv_store slot out of range");
    for (int64_t h = 0; h < n_kv_head; ++h) {
      const float* ks = k.row<const float>(static_cast<int64_t>(t)) + h * hd;
      const float* vs = v.row<const float>(static_cast<int64_t>(t)) + h * hd;
      uint16_t* kd = k_cache.row<uint16_t>(backend::kv_cache_row(k_cache, slots[t], h));
      uint16_t* vd = v_cache.row<uint16_t>(backend::kv_cache_row(v_cache, slots[t], h));
      cpu::f32_to_f16_row(ks, kd, hd);
      cpu::f32_to_f16_row(vs, vd, hd);
    }
  }
}

void CpuDevice::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                          std::span<const AttentionToken> tokens, const AttentionShape& shape,
                          Tensor& out) {
  const int32_t hd = shape.head_dim;
  const int32_t group = shape.n_head / shape.n_kv_head;  // query heads per KV head (GQA)
  TM_CHECK(q.cols() == static_cast<int64_t>(shape.n_head) * hd, "attention q shape");
  TM_CHECK(out.cols() == q.cols() && static_cast<int64_t>(tokens.size()) == q.rows(),
           "attention out");
  TM_CHECK(k_cache.ne[0] == hd && k_cache.ne[1] == shape.block_size &&
               k_cache.ne[2] == shape.n_kv_head && v_cache.ne[0] == hd &&
               v_cache.ne[1] == shape.block_size && v_cache.ne[2] == shape.n_kv_head,
           "attention cache shape");
  const size_t scratch_floats = cpu::attention_scratch_floats(group, hd);
  for (int t = 0; t < pool_.size(); ++t) thread_scratch(t, scratch_floats);
  // One item per (token, KV head). Causal items cost in proportion to the token's position,
  // so they are handed out in shrinking chunks by whichever thread is free rather than split
  // into equal ranges. Inside a chunk each job names the next (AttentionJob::next) so its
  // first K/V tile is on its way before it starts; chunks of single items (the old dynamic
  // split) would leave every job's first tile to demand loads.
  const int64_t n_items = q.rows() * shape.n_kv_head;
  auto job_for = [&](int64_t item) {
    const int64_t t = item / shape.n_kv_head;
    const int32_t kv_h = static_cast<int32_t>(item % shape.n_kv_head);
    const AttentionToken& tok = tokens[static_cast<size_t>(t)];
    cpu::AttentionJob job;
    job.q = q.row<const float>(t) + static_cast<int64_t>(kv_h) * group * hd;
    job.out = out.row<float>(t) + static_cast<int64_t>(kv_h) * group * hd;
    job.k_cache = static_cast<const uint8_t*>(k_cache.data);
    job.v_cache = static_cast<const uint8_t*>(v_cache.data);
    job.k_row_bytes = k_cache.row_stride;
    job.v_row_bytes = v_cache.row_stride;
    job.n_kv_head = shape.n_kv_head;
    job.kv_head = kv_h;
    job.block_table = tok.block_table;
    job.block_size = shape.block_size;
    job.first = shape.sliding_window > 0 ? std::max(0, tok.pos - shape.sliding_window + 1) : 0;
    job.last = tok.pos;
    job.group = group;
    job.head_dim = hd;
    job.scale = shape.scale;
    return job;
  };
  pool_.parallel_for_guided(n_items, 1, [&](int64_t begin, int64_t end, int thread) {
    float* scratch = scratch_[static_cast<size_t>(thread)].data();
    cpu::AttentionJob now = job_for(begin), after;
    for (int64_t item = begin; item < end; ++item) {
      const bool more = item + 1 < end;
      if (more) after = job_for(item + 1);
      now.next = more ? &after : nullptr;
      cpu::attention(now, scratch);
      now = after;
    }
  });
}

void CpuDevice::gated_activation(const Tensor& gate, const Tensor& up, Activation act,
                                 Tensor& out) {
  TM_CHECK(gate.cols() == up.cols() && out.cols() == gate.cols() && gate.rows() == up.rows(),
           "gated_activation shapes");
  pool_.parallel_for(gate.rows(), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* g = gate.row<const float>(r);
      const float* u = up.row<const float>(r);
      float* o = out.row<float>(r);
      if (act == Activation::Silu)
        cpu::gated_silu(g, u, o, gate.cols());
      else
        cpu::gated_gelu(g, u, o, gate.cols());
    }
  });
}

void CpuDevice::add(Tensor& y, const Tensor& x) {
  TM_CHECK(y.cols() == x.cols() && y.rows() == x.rows(), "add shapes");
  for (int64_t r = 0; r < y.rows(); ++r) {
    float* yr = y.row<float>(r);
    const float* xr = x.row<const float>(r);
    for (int64_t i = 0; i < y.cols(); ++i) yr[i] += xr[i];
  }
}

void CpuDevice::add_bias(Tensor& y, const Tensor& bias) {
  TM_CHECK(bias.cols() == y.cols(), "add_bias shapes");
  const float* b = static_cast<const float*>(bias.data);
  for (int64_t r = 0; r < y.rows(); ++r) {
    float* yr = y.row<float>(r);
    for (int64_t i = 0; i < y.cols(); ++i) yr[i] += b[i];
  }
}

void CpuDevice::scale(Tensor& y, float s) {
  for (int64_t r = 0; r < y.rows(); ++r) {
    float* yr = y.row<float>(r);
    for (int64_t i = 0; i < y.cols(); ++i) yr[i] *= s;
  }
}

void CpuDevice::softcap(Tensor& y, float cap) {
  for (int64_t r = 0; r < y.rows(); ++r) {
    float* yr = y.row<float>(r);
    for (int64_t i = 0; i < y.cols(); ++i) yr[i] = cap * std::tanh(yr[i] / cap);
  }
}

void CpuDevice::copy_rows(const Tensor& src, std::span<const int64_t> rows, Tensor& dst) {
  TM_CHECK(src.cols() == dst.cols() && dst.rows() >= static_cast<int64_t>(rows.size()),
           "copy_rows shapes");
  for (size_t j = 0; j < rows.size(); ++j)
    std::memcpy(dst.row<float>(static_cast<int64_t>(j)), src.row<const float>(rows[j]),
                static_cast<size_t>(src.cols()) * sizeof(float));
}

void CpuDevice::read_rows(const Tensor& src, float* host) {
  for (int64_t r = 0; r < src.rows(); ++r)
    std::memcpy(host + r * src.cols(), src.row<const float>(r),
                static_cast<size_t>(src.cols()) * sizeof(float));
}

double CpuDevice::measure_read_bandwidth() { return cpu::measure_read_bandwidth(pool_); }

double CpuDevice::measure_fma_peak() { return cpu::measure_fma_peak(pool_); }

Device::ComputePeak CpuDevice::measure_matmul_peak() {
  if (!repacks()) return {};  // the matrix products run on f32 FMA (or scalar code)
  if (packed_codes_ == cpu::detail::PackedCodes::kInt8Quads)
    return {"int8 dot product (vpdpbusd)",
            cpu::measure_int_dot_peak(pool_, cpu::IntDot::kInt8Quads)};
  return {"int16 dot product (vpdpwssd)",
          cpu::measure_int_dot_peak(pool_, cpu::IntDot::kInt16Pairs)};
}

}  // namespace tmill::backend
