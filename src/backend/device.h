// The device interface: registry -> device -> buffer -> (stream, implicit in op order).
//
// Model code calls these ops on tensors placed on a device and never includes a device's own
// header. Ops are enqueued in order; `synchronize()` waits for them (the CPU runs each op to
// completion before returning, a GPU backend would queue them on its stream). Every op has a
// CPU reference implementation (backend/cpu), and other backends are tested op by op against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "backend/tensor.h"
#include "core/expected.h"

namespace tmill::backend {

enum class Op {
  MatMul,     // y = x · Wᵀ with quantized W
  GetRows,    // embedding lookup from a (quantized) table
  RmsNorm,    // per-row RMS normalization times a weight vector
  Rope,       // rotary position embedding, normal (adjacent pairs) or NeoX (halves)
  KvStore,    // write K/V rows into cache slots
  Attention,  // causal attention over the paged KV cache, online softmax
  GatedAct,   // SwiGLU / GeGLU: act(gate) * up
  Add,        // y += x
  AddBias,    // rows += bias
  Scale,      // x *= s
  CopyRows,   // gather rows
  Softcap,    // cap * tanh(x / cap)
};

enum class RopeMode { Normal, NeoX };
enum class Activation { Silu, GeluTanh };

// A device memory allocation. On the CPU it is host memory.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual size_t size() const = 0;
};

struct DeviceInfo {
  std::string name;
  std::string description;
  size_t memory_bytes = 0;  // usable memory, for placement
  bool host_memory = true;  // buffers are directly addressable by the host
};

// One layer's K or V cache: f16, ne = {head_dim, block_size, n_kv_head, n_blocks}. Each block
// holds, per KV head, that head's rows for the block's positions back to back ("head-major"
// blocks). Slots are numbered as the block tables number them, slot = block * block_size + j;
// KV head h of slot s is row kv_cache_row(cache, s, h).
// Why head-major: attention reads one KV head over a sequence's positions. Here that is one
// contiguous run per block (16 x 128 B for head_dim 64); with whole-slot rows it was 128 B out of
// every n_kv_head * 128 B, and from DRAM (where batched decode finds the cache, after the weight
// stream) those strided reads ran at less than half the speed.
inline Tensor kv_cache_view(void* data, int64_t n_blocks, int64_t block_size, int64_t n_kv_head,
                            int64_t head_dim, Device* device) {
  Tensor t;
  t.type = DType::F16;
  t.ne[0] = head_dim;
  t.ne[1] = block_size;
  t.ne[2] = n_kv_head;
  t.ne[3] = n_blocks;
  t.row_stride = static_cast<size_t>(head_dim) * 2;
  t.data = data;
  t.device = device;
  return t;
}
inline int64_t kv_cache_row(const Tensor& cache, int64_t slot, int64_t kv_head) {
  const int64_t block_size = cache.ne[1];
  return ((slot / block_size) * cache.ne[2] + kv_head) * block_size + slot % block_size;
}

// Per-token placement in the paged KV cache for one attention call.
struct AttentionToken {
  int32_t pos = 0;                       // position of this token in its sequence
  const int32_t* block_table = nullptr;  // the sequence's cache blocks, in position order
};

struct AttentionShape {
  int32_t n_head = 0;
  int32_t n_kv_head = 0;
  int32_t head_dim = 0;
  int32_t block_size = 0;      // cache slots per block
  int32_t sliding_window = 0;  // 0: full causal; else attend to positions > pos - window
  float scale = 1.0f;          // applied to q·k
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const DeviceInfo& info() const = 0;
  // Whether `op` runs here for this (weight) dtype; callers place work accordingly.
  virtual bool supports(Op op, DType type) const = 0;

  virtual Expected<std::unique_ptr<Buffer>> allocate(size_t bytes) = 0;
  // Make `host_bytes` (a weight from a model file) usable as a device tensor. The CPU uses the
  // bytes in place (zero copy from the mmap); devices with their own memory copy them.
  virtual Expected<Tensor> upload_weight(const Tensor& host) = 0;

  // y[t][o] = sum_i w[o][i] * x[t][i]. w: [n_out][n_in] of any supported dtype; x: f32
  // [n_tok][n_in]; y: f32 [n_tok][n_out].
  virtual void matmul(const Tensor& w, const Tensor& x, Tensor& y) = 0;
  // Several independent products at once (e.g. Q, K and V of one input), so a device can
  // schedule them as one unit of work: one fork/join instead of one per product.
  struct MatmulJob {
    const Tensor* w;
    const Tensor* x;
    Tensor* y;
  };
  virtual void matmul_many(std::span<const MatmulJob> jobs) {
    for (const MatmulJob& j : jobs) matmul(*j.w, *j.x, *j.y);
  }
  // y[t] = dequantized table row ids[t]. table: [n_vocab][n_embd]; y: f32 [n_tok][n_embd].
  virtual void get_rows(const Tensor& table, std::span<const int32_t> ids, Tensor& y) = 0;
  // y[r] = x[r] / rms(x[r]) * weight; rows may be heads (x viewed as [rows][weight.cols]).
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) = 0;
  // Rotate each head of x ([n_tok][n_heads*head_dim]) in place by its token's position.
  // freq_factors (optional, n_rot/2 floats) divide the base frequencies (Llama 3 style).
  virtual void rope(Tensor& x, int32_t head_dim, int32_t n_rot, std::span<const int32_t> positions,
                    float freq_base, float freq_scale, const float* freq_factors,
                    RopeMode mode) = 0;
  // Store K and V rows ([n_tok][n_kv_head*head_dim]) into cache slots (one per token); caches
  // laid out as kv_cache_view describes.
  virtual void kv_store(const Tensor& k, const Tensor& v, Tensor& k_cache, Tensor& v_cache,
                        std::span<const int32_t> slots) = 0;
  // out[t] = softmax(q[t]·Kᵀ·scale, causal/windowed) · V for each head, K/V read from the cache
  // through each token's block table.
  virtual void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                         std::span<const AttentionToken> tokens, const AttentionShape& shape,
                         Tensor& out) = 0;
  // out[t] = act(gate[t]) * up[t]
  virtual void gated_activation(const Tensor& gate, const Tensor& up, Activation act,
                                Tensor& out) = 0;
  virtual void add(Tensor& y, const Tensor& x) = 0;          // y += x
  virtual void add_bias(Tensor& y, const Tensor& bias) = 0;  // each row of y += bias
  virtual void scale(Tensor& y, float s) = 0;                // y *= s
  virtual void softcap(Tensor& y, float cap) = 0;            // y = cap * tanh(y / cap)
  // dst[j] = src[rows[j]] (f32 rows on this device).
  virtual void copy_rows(const Tensor& src, std::span<const int64_t> rows, Tensor& dst) = 0;
  // Copy a device tensor's rows into host memory (f32 rows, densely packed).
  virtual void read_rows(const Tensor& src, float* host) = 0;
  virtual void synchronize() = 0;

  // The roofline's two ceilings, measured (for `bench --roofline`).
  // Bytes/s of streaming reads from memory larger than every cache, all threads (about 0.2 s;
  // bench runs it right after each timed decode, so decode and probe share the same memory
  // contention from other tenants).
  virtual double measure_read_bandwidth() = 0;
  // f32 flop/s of fused multiply-adds (2 flops each), all threads (about a second).
  virtual double measure_fma_peak() = 0;
  // The peak of the instruction the device's quantized matrix products run on when it is not
  // f32 FMA (CPU: the packed weights' integer dot product), ops/s with a multiply-add counting
  // 2, all threads; `ops_per_s` 0 when there is none. Prefill on packed weights is bound by
  // this figure, which can be several times the f32 one.
  struct ComputePeak {
    std::string instruction;  // e.g. "int16 dot product (vpdpwssd)"
    double ops_per_s = 0;
  };
  virtual ComputePeak measure_matmul_peak() = 0;
};

struct DeviceOptions {
  int n_threads = 0;  // CPU worker threads; 0 = all cores
  // Kernel family, for measuring each optimization's gain. CPU: "auto" (fastest the CPU
  // supports: AVX2 with int16-activation decode kernels), "int8" (as auto, with packed weights
  // multiplied against int8 activations: llama.cpp's activation precision, twice the integer
  // multiply-adds per instruction), "f32" (AVX2, f32 activations everywhere), "scalar"
  // (portable reference kernels). Process-wide on the CPU backend.
  std::string kernels = "auto";
  // Batch invariance: each token row's results are bit-identical whatever else is in the batch
  // (needed for reproducible greedy serving with continuous batching and prefix caching).
  // false allows the older token-count-dependent CPU kernels, for measuring its cost.
  // Process-wide on the CPU backend.
  bool batch_invariant = true;
  // Weight repacking at load into the kernels' preferred layout (CPU: 16-row panels for the
  // AVX-512 VNNI kernels, Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q6_K). false uses the file's rows as they
  // are, for measuring its gain (--no-repack). Per device.
  bool repack = true;
  // AMX-INT8 tiles for prefill and batched decode on CPUs that have them (Sapphire Rapids and
  // later; matmul_packed_amx.h): results bit-identical to the VNNI kernels. false keeps the VNNI
  // kernels, for measuring the gain (--no-amx). Process-wide on the CPU backend.
  bool amx = true;
  // Software prefetch of the packed weight stream (CPU; matmul_packed.h, WeightPrefetch):
  // "auto" (far ahead when the packed weights fit in a quarter of the last-level cache, near
  // ahead otherwise), "off", "near" or "far", for measuring the gain (--weight-prefetch).
  // Per device.
  std::string weight_prefetch = "auto";
};

// The registry: names the available backends and creates devices by name ("cpu").
Expected<std::unique_ptr<Device>> create_device(const std::string& name,
                                                const DeviceOptions& options);
std::span<const std::string> available_backends();

}  // namespace tmill::backend
