// File types and the per-tensor type choice of llama.cpp's quantization mixes.
//
// The rules below reproduce what llama-quantize chooses for the file types we support, so a
// model quantized by either tool has the same tensor types (checked against llama-quantize's
// output in the issue notes). Like llama.cpp we walk the tensors ordered by (layer, name) and
// count attn_v and ffn_down tensors as we meet them: the "i-th attn_v" of the rules is that
// counter, which equals the layer index for ordinary decoder models.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <numeric>

#include "quant/formats.h"
#include "quant/quantize.h"

namespace tmill::quant {
namespace {

constexpr FileTypeInfo kFileTypes[] = {
    {"Q4_0", FileType::MOSTLY_Q4_0, DType::Q4_0, "4.5 bits per weight, one scale per 32"},
    {"Q4_1", FileType::MOSTLY_Q4_1, DType::Q4_1, "5.0 bpw, scale and offset per 32"},
    {"Q5_0", FileType::MOSTLY_Q5_0, DType::Q5_0, "5.5 bpw, one scale per 32"},
    {"Q5_1", FileType::MOSTLY_Q5_1, DType::Q5_1, "6.0 bpw, scale and offset per 32"},
    {"Q2_K", FileType::MOSTLY_Q2_K, DType::Q2_K,
     "Q2_K, with Q3_K/Q4_K attn_v and Q3_K ffn_down/attn_output"},
    {"Q3_K_S", FileType::MOSTLY_Q3_K_S, DType::Q3_K, "Q3_K everywhere"},
    {"Q3_K_M", FileType::MOSTLY_Q3_K_M, DType::Q3_K,
     "Q3_K, with Q4_K/Q5_K attn_v, ffn_down and attn_output"},
    {"Q3_K_L", FileType::MOSTLY_Q3_K_L, DType::Q3_K,
     "Q3_K, with Q5_K attn_v, ffn_down and attn_output"},
    {"Q4_K_S", FileType::MOSTLY_Q4_K_S, DType::Q4_K,
     "Q4_K, with Q5_K in the first attn_v/ffn_down layers"},
    {"Q4_K_M", FileType::MOSTLY_Q4_K_M, DType::Q4_K,
     "Q4_K, with Q6_K in half of the attn_v/ffn_down layers"},
    {"Q5_K_S", FileType::MOSTLY_Q5_K_S, DType::Q5_K, "Q5_K everywhere"},
    {"Q5_K_M", FileType::MOSTLY_Q5_K_M, DType::Q5_K,
     "Q5_K, with Q6_K in half of the attn_v/ffn_down layers"},
    {"Q6_K", FileType::MOSTLY_Q6_K, DType::Q6_K, "6.6 bpw everywhere"},
    {"Q8_0", FileType::MOSTLY_Q8_0, DType::Q8_0, "8.5 bpw, nearly lossless"},
    {"F16", FileType::MOSTLY_F16, DType::F16, "16-bit float"},
    {"BF16", FileType::MOSTLY_BF16, DType::BF16, "bfloat16"},
    {"F32", FileType::ALL_F32, DType::F32, "32-bit float"},
};

std::string upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}
bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

enum class Category {
  TokenEmbd,
  AttnQ,
  AttnK,
  AttnV,  // also fused attn_qkv and attn_kv_b: llama.cpp treats them like attn_v
  AttnOutput,
  FfnUp,
  FfnGate,
  FfnDown,
  Output,
  Other,
};

Category category_of(const std::string& name) {
  if (name == "output.weight") return Category::Output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight")
    return Category::TokenEmbd;
  if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") ||
      contains(name, "attn_v.weight"))
    return Category::AttnV;
  if (contains(name, "attn_k.weight")) return Category::AttnK;
  if (contains(name, "attn_q.weight")) return Category::AttnQ;
  if (contains(name, "attn_output.weight")) return Category::AttnOutput;
  if (contains(name, "ffn_up")) return Category::FfnUp;
  if (contains(name, "ffn_gate")) return Category::FfnGate;
  if (contains(name, "ffn_down")) return Category::FfnDown;
  return Category::Other;
}

// Number of dims ignoring trailing dims of size 1 (ggml_n_dims), at least 1.
int effective_dims(const MixTensor& t) {
  for (int d = 3; d > 0; --d)
    if (t.ne[d] > 1) return d + 1;
  return 1;
}

// Which tensors may change type at all. Everything else (norms, biases, 1-D tensors, small
// special tables) is copied unchanged.
bool allows_quantization(const MixTensor& t, const MixOptions& options) {
  if (effective_dims(t) < 2) return false;
  const std::string& n = t.name;
  if (!ends_with(n, "weight")) return false;
  if (contains(n, "_norm.weight")) return false;
  if (options.leave_output && n == "output.weight") return false;
  for (std::string_view keep :
       {"ffn_gate_inp.weight", "position_embd.weight", "pos_embd.weight", "token_types.weight",
        "ssm_conv1d", "attn_rel_b.weight", "altup", "laurel", "per_layer_model_proj"})
    if (contains(n, keep)) return false;
  return true;
}

int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

int64_t block_of(DType t) { return info(t).block_size; }

// A 32-element type for rows that are not a multiple of 256 (llama.cpp's fallback table).
DType fallback_for(DType t, int64_t ncols, bool* fell_back) {
  if (ncols % block_of(t) == 0) return t;
  *fell_back = true;
  DType r = t;
  switch (t) {
    case DType::Q2_K:
    case DType::Q3_K:
      r = DType::Q4_0;
      break;
    case DType::Q4_K:
      r = DType::Q5_0;
      break;
    case DType::Q5_K:
      r = DType::Q5_1;
      break;
    case DType::Q6_K:
      r = DType::Q8_0;
      break;
    default:
      break;
  }
  if (ncols % block_of(r) != 0) r = DType::F16;
  return r;
}

struct MixState {
  const MixModel& model;
  FileType ftype;
  bool tied = true;  // no output.weight: the token embedding doubles as the output
  int n_attn_v = 0;
  int i_attn_v = 0;
  int i_ffn_down = 0;
};

// llama.cpp's mix rules for one tensor (the file types we support).
DType mix_type(MixState& st, const MixTensor& t, Category cat, DType base) {
  using F = FileType;
  const F ft = st.ftype;
  const bool falcon = st.model.arch == "falcon";
  const int n_head_kv = st.model.n_head_kv > 0 ? st.model.n_head_kv : st.model.n_head;
  const int n_gqa = n_head_kv > 0 ? st.model.n_head / n_head_kv : 1;
  // llama.cpp's LLM_TYPE_70B: an 80-layer llama with grouped-query attention.
  const bool is_70b =
      st.model.arch == "llama" && st.model.n_layer == 80 && st.model.n_head != n_head_kv;
  DType r = base;
  if (cat == Category::Output || (st.tied && cat == Category::TokenEmbd)) {
    if (falcon || t.ne[0] % block_of(base) != 0)
      r = DType::Q8_0;
    else if (base != DType::Q8_0)
      r = DType::Q6_K;
  } else if (cat == Category::AttnV) {
    const int i = st.i_attn_v, n = st.n_attn_v;
    if (ft == F::MOSTLY_Q2_K)
      r = n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
    else if (ft == F::MOSTLY_Q3_K_M)
      r = i < 2 ? DType::Q5_K : DType::Q4_K;
    else if (ft == F::MOSTLY_Q3_K_L)
      r = DType::Q5_K;
    else if ((ft == F::MOSTLY_Q4_K_M || ft == F::MOSTLY_Q5_K_M) && use_more_bits(i, n))
      r = DType::Q6_K;
    else if (ft == F::MOSTLY_Q4_K_S && i < 4)
      r = DType::Q5_K;
    if (is_70b && (r == DType::Q3_K || r == DType::Q4_K)) r = DType::Q5_K;
    ++st.i_attn_v;
  } else if (cat == Category::FfnDown) {
    const int i = st.i_ffn_down, n = st.model.n_layer;
    if (ft == F::MOSTLY_Q2_K) {
      r = DType::Q3_K;
    } else if (ft == F::MOSTLY_Q3_K_M) {
      r = i < n / 16 ? DType::Q5_K : !falcon || use_more_bits(i, n) ? DType::Q4_K : DType::Q3_K;
    } else if (ft == F::MOSTLY_Q3_K_L) {
      r = falcon ? DType::Q4_K : DType::Q5_K;
    } else if (ft == F::MOSTLY_Q4_K_M) {
      if (falcon)
        r = i < n / 16 ? DType::Q6_K : use_more_bits(i, n) ? DType::Q5_K : DType::Q4_K;
      else if (use_more_bits(i, n))
        r = DType::Q6_K;
    } else if (ft == F::MOSTLY_Q5_K_M && use_more_bits(i, n)) {
      r = DType::Q6_K;
    } else if (ft == F::MOSTLY_Q4_K_S && !falcon && i < n / 8) {
      r = DType::Q5_K;
    }
    ++st.i_ffn_down;
  } else if (cat == Category::AttnOutput) {
    if (!falcon) {
      if (ft == F::MOSTLY_Q2_K)
        r = DType::Q3_K;
      else if (ft == F::MOSTLY_Q3_K_M)
        r = DType::Q4_K;
      else if (ft == F::MOSTLY_Q3_K_L)
        r = DType::Q5_K;
    } else if (ft == F::MOSTLY_Q3_K_L) {
      r = DType::Q4_K;
    }
  }
  return r;
}

}  // namespace

std::span<const FileTypeInfo> file_types() { return kFileTypes; }

Expected<FileTypeInfo> parse_file_type(std::string_view name) {
  std::string key = upper(name);
  if (key == "Q3_K" || key == "Q4_K" || key == "Q5_K") key += "_M";
  uint32_t id = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  const bool numeric = ec == std::errc() && end == name.data() + name.size();
  for (const auto& ft : kFileTypes) {
    if (ft.name == key || (numeric && static_cast<uint32_t>(ft.ftype) == id)) return ft;
  }
  std::string valid;
  for (const auto& ft : kFileTypes) {
    if (!valid.empty()) valid += ", ";
    valid += ft.name;
  }
  return fail("unknown quantization type '", std::string(name), "'; valid types: ", valid,
              " (Q3_K, Q4_K, Q5_K mean the _M mixes)");
}

bool is_float_format(DType type) {
  return type == DType::F32 || type == DType::F16 || type == DType::BF16;
}

std::vector<MixChoice> choose_types(const MixModel& model, const std::vector<MixTensor>& tensors,
                                    const MixOptions& options) {
  DType base = DType::F32;
  for (const auto& ft : kFileTypes)
    if (ft.ftype == options.ftype) base = ft.base;

  MixState st{model, options.ftype};
  for (const auto& t : tensors) {
    if (t.name == "output.weight") st.tied = false;
    if (category_of(t.name) == Category::AttnV) ++st.n_attn_v;
  }

  // llama.cpp visits tensors ordered by (layer, name), non-layer tensors first; the attn_v
  // and ffn_down counters depend on that order.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
    if (la != lb) return la < lb;
    return tensors[a].name < tensors[b].name;
  });

  const bool base_quantized = info(base).quantized;
  std::vector<MixChoice> out(tensors.size());
  for (size_t idx : order) {
    const MixTensor& t = tensors[idx];
    MixChoice& c = out[idx];
    c.type = t.type;
    c.quantizable = allows_quantization(t, options);
    if (!c.quantizable) continue;
    DType r = base;
    if (base_quantized) {
      if (!options.pure) r = mix_type(st, t, category_of(t.name), base);
      r = fallback_for(r, t.ne[0], &c.fallback);
    }
    c.type = r;
  }
  return out;
}

void convert_rows(DType src_type, const void* src, DType dst_type, void* dst, int64_t n_rows,
                  int64_t n_per_row, ThreadPool& pool,
                  const std::function<void(int64_t)>& progress) {
  const size_t src_row = *row_bytes(src_type, n_per_row);
  const size_t dst_row = *row_bytes(dst_type, n_per_row);
  const auto* in = static_cast<const uint8_t*>(src);
  auto* out = static_cast<uint8_t*>(dst);
  // Slabs of about 4M elements keep every thread busy and give progress updates.
  const int64_t slab = std::max<int64_t>(pool.size(), (int64_t{1} << 22) / n_per_row);
  std::vector<std::vector<float>> scratch(static_cast<size_t>(pool.size()));
  for (int64_t r0 = 0; r0 < n_rows; r0 += slab) {
    const int64_t rows = std::min(slab, n_rows - r0);
    pool.parallel_for(rows, [&](int64_t begin, int64_t end, int thread) {
      std::vector<float>& buf = scratch[static_cast<size_t>(thread)];
      buf.resize(static_cast<size_t>(n_per_row));
      for (int64_t r = r0 + begin; r < r0 + end; ++r) {
        const uint8_t* s = in + static_cast<size_t>(r) * src_row;
        uint8_t* d = out + static_cast<size_t>(r) * dst_row;
        // Through the f32 buffer even for F32 input (a memcpy): rows need not be 4-byte
        // aligned in a file with a small general.alignment.
        dequantize_row(src_type, s, buf.data(), n_per_row);
        quantize_row(dst_type, buf.data(), d, n_per_row);
      }
    });
    if (progress) progress(r0 + rows);
  }
}

}  // namespace tmill::quant
