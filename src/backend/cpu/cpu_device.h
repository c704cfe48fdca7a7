// The CPU backend: host memory, weights used in place from the mmap, ops run on a thread pool.
// It is the reference implementation for every op.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "backend/cpu/matmul_packed.h"
#include "backend/device.h"
#include "core/large_pages.h"
#include "core/thread_pool.h"

namespace tmill::backend {

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(const DeviceOptions& options);

  // Applies DeviceOptions::kernels ("auto", "int8", "f32", "scalar"; process-wide). "auto",
  // "int8" and "f32" fall back to scalar on CPUs without AVX2+FMA+F16C. "int8" is "auto" with
  // the packed weights' int8-activation layout (per device, chosen at construction).
  static Status select_kernels(const std::string& kernels);
  // The kernels in use, e.g. "avx2+int16" (without the device's repacking, see info()).
  static std::string kernels_in_use();
  // Whether `mode` names a DeviceOptions::weight_prefetch setting.
  static bool is_weight_prefetch_mode(const std::string& mode);

  const DeviceInfo& info() const override { return info_; }
  bool supports(Op op, DType type) const override;
  Expected<std::unique_ptr<Buffer>> allocate(size_t bytes) override;
  Expected<Tensor> upload_weight(const Tensor& host) override;

  void matmul(const Tensor& w, const Tensor& x, Tensor& y) override;
  void matmul_many(std::span<const MatmulJob> jobs) override;
  void get_rows(const Tensor& table, std::span<const int32_t> ids, Tensor& y) override;
  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) override;
  void rope(Tensor& x, int32_t head_dim, int32_t n_rot, std::span<const int32_t> positions,
            float freq_base, float freq_scale, const float* freq_factors, RopeMode mode) override;
  void kv_store(const Tensor& k, const Tensor& v, Tensor& k_cache, Tensor& v_cache,
                std::span<const int32_t> slots) override;
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                 std::span<const AttentionToken> tokens, const AttentionShape& shape,
                 Tensor& out) override;
  void gated_activation(const Tensor& gate, const Tensor& up, Activation act, Tensor& out) override;
  void add(Tensor& y, const Tensor& x) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void scale(Tensor& y, float s) override;
  void softcap(Tensor& y, float cap) override;
  void copy_rows(const Tensor& src, std::span<const int64_t> rows, Tensor& dst) override;
  void read_rows(const Tensor& src, float* host) override;
  void synchronize() override {}
  double measure_read_bandwidth() override;
  double measure_fma_peak() override;
  ComputePeak measure_matmul_peak() override;

  ThreadPool& pool() { return pool_; }

 private:
  DeviceInfo info_;
  ThreadPool pool_;
  bool repack_ = true;  // DeviceOptions::repack
  // The packed copies' code layout: int8 activations with --kernels int8, else int16.
  cpu::detail::PackedCodes packed_codes_;
  // Packed copies of weights (Tensor::packed), alive as long as the device, on 2 MiB pages
  // where the kernel allows (decode streams them every token; core/large_pages.h).
  LargePageArena packed_;
  // Per-thread scratch, sized on demand outside the per-token path (grows, never shrinks).
  std::vector<std::vector<float>> scratch_;
  float* thread_scratch(int thread, size_t n);
  // matmul_many when every weight has a packed copy; first_chunk_[thread] is 1 until that
  // thread's first chunk of the call (one byte each: threads write only their own).
  void matmul_packed_guided(std::span<const MatmulJob> jobs);
  std::vector<uint8_t> first_chunk_;
  // Whether upload_weight gives weights packed panels (the option, the kernel family, the CPU).
  bool repacks() const;
  // info_.description from the kernels, repacking and weight prefetch in use.
  void describe();
  // DeviceOptions::weight_prefetch; nullopt: "auto", resolved per call by weight_prefetch().
  std::optional<cpu::detail::WeightPrefetch> fixed_prefetch_;
  // What the packed kernels prefetch for a product of `n_tokens` tokens: the fixed setting, or
  // automatic_weight_prefetch of the packed weights uploaded so far and the last-level cache.
  cpu::detail::WeightPrefetch weight_prefetch(int64_t n_tokens) const;

  // RoPE's cos/sin per (token, frequency) for one set of positions and frequency parameters.
  // A forward pass rotates q and k in every layer with the same positions and at most two
  // frequency sets (Gemma 3: local and global bases), so two tables computed once per pass
  // replace a pow, a sin and a cos per token, frequency, tensor and layer.
  struct RopeTable {
    float freq_base = 0, freq_scale = 0;
    const float* freq_factors = nullptr;
    int32_t n_rot = 0;
    std::vector<int32_t> positions;
    std::vector<float> cos, sin;   // [token][n_rot / 2]
    std::vector<double> inv_freq;  // [n_rot / 2] base^(-2i/n_rot)
  };
  std::array<RopeTable, 2> rope_tables_;
  size_t rope_victim_ = 0;  // table to rebuild on the next miss
  const RopeTable& rope_table(std::span<const int32_t> positions, int32_t n_rot, float freq_base,
                              float freq_scale, const float* freq_factors);
};

}  // namespace tmill::backend
