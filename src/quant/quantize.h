// The core of `tokenmill quantize`: llama.cpp-compatible file types ("Q4_K_M"), the per-tensor
// type choice of each mix, and row-parallel conversion of a tensor to its new type. The GGUF
// reading and writing around it lives in app/cmd_quantize.cpp, so this layer needs only core.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/expected.h"
#include "core/thread_pool.h"

namespace tmill::quant {

// llama.cpp's llama_ftype ids (written as general.file_type), for the types we produce.
enum class FileType : uint32_t {
  ALL_F32 = 0,
  MOSTLY_F16 = 1,
  MOSTLY_Q4_0 = 2,
  MOSTLY_Q4_1 = 3,
  MOSTLY_Q8_0 = 7,
  MOSTLY_Q5_0 = 8,
  MOSTLY_Q5_1 = 9,
  MOSTLY_Q2_K = 10,
  MOSTLY_Q3_K_S = 11,
  MOSTLY_Q3_K_M = 12,
  MOSTLY_Q3_K_L = 13,
  MOSTLY_Q4_K_S = 14,
  MOSTLY_Q4_K_M = 15,
  MOSTLY_Q5_K_S = 16,
  MOSTLY_Q5_K_M = 17,
  MOSTLY_Q6_K = 18,
  MOSTLY_BF16 = 32,
};

struct FileTypeInfo {
  std::string_view name;  // as llama-quantize spells it: "Q4_K_M"
  FileType ftype;
  DType base;                    // the type most tensors get
  std::string_view description;  // the mix in a few words
};

// Every file type `quantize` accepts, in llama-quantize's order.
std::span<const FileTypeInfo> file_types();

// Case-insensitive; also accepts llama-quantize's aliases Q3_K, Q4_K, Q5_K (the _M mixes) and
// the numeric ftype id. Unknown names fail with the list of valid ones.
Expected<FileTypeInfo> parse_file_type(std::string_view name);

// What the mix rules need to know about the model (from GGUF metadata).
struct MixModel {
  std::string arch;   // general.architecture
  int n_layer = 0;    // <arch>.block_count
  int n_head = 0;     // <arch>.attention.head_count
  int n_head_kv = 0;  // <arch>.attention.head_count_kv (0: same as n_head)
};

struct MixTensor {
  std::string name;
  int n_dims = 1;
  int64_t ne[4] = {1, 1, 1, 1};
  DType type = DType::F32;  // its type in the input file
};

struct MixOptions {
  FileType ftype = FileType::MOSTLY_Q4_K_M;
  bool pure = false;          // every quantizable tensor gets the base type (no mix rules)
  bool leave_output = false;  // keep output.weight as it is
};

struct MixChoice {
  DType type = DType::F32;   // type in the output file
  bool quantizable = false;  // false: copied unchanged (norms, biases, 1-D tensors, ...)
  bool fallback = false;     // the row length forced a type with smaller blocks
};

// Chooses each tensor's output type the way llama.cpp's llama-quantize does for the same file
// type (its llama_tensor_get_type rules for the K-quant mixes, learned from reading it):
// attn_v / ffn_down get more bits on the first and last eighth of the layers and every third
// layer between ("use_more_bits"), output.weight (or the token embedding when it is tied to
// the output) gets Q6_K, rows whose length is not a multiple of the block size fall back to a
// 32-element format (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, then F16).
std::vector<MixChoice> choose_types(const MixModel& model, const std::vector<MixTensor>& tensors,
                                    const MixOptions& options);

// True for the plain float formats quantize reads without --allow-requantize.
bool is_float_format(DType type);

// Converts n_rows rows of n_per_row elements from src_type to dst_type, rows split across the
// pool's threads. Both types must be quant::is_supported and n_per_row a multiple of both
// block sizes. `progress(rows_done)` is called from the calling thread now and then.
void convert_rows(DType src_type, const void* src, DType dst_type, void* dst, int64_t n_rows,
                  int64_t n_per_row, ThreadPool& pool,
                  const std::function<void(int64_t)>& progress = {});

}  // namespace tmill::quant
