// tokenmill quantize IN.gguf OUT.gguf TYPE: converts a model's weights from F32/F16/BF16 to a
// quantized format or one of llama.cpp's mixes (Q4_K_M, ...), with llama-quantize's conventions:
// every metadata key is copied, general.file_type is set to the llama_ftype id and
// general.quantization_version to 2, 1-D tensors and norms are copied unchanged, and the per-
// tensor types follow llama.cpp's rules (quant/quantize.h).
//
// The input is memory-mapped and read once. The output is assembled by gguf::Writer, which
// holds every converted tensor in memory until the file is written (about twice the output
// size at the peak: ~1.6 GB for a 1B model in Q4_K_M), then written to OUT.tmp and renamed
// over OUT, so a failed run never leaves a half-written model behind.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/model_source.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "quant/formats.h"
#include "quant/quantize.h"

namespace tmill::app {
namespace {

struct QuantizeArgs {
  std::string input, output, type;
  int threads = 0;
  bool allow_requantize = false;
  bool pure = false;
  bool leave_output = false;
};

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

std::string shape_of(const gguf::TensorInfo& t) {
  std::string s = "[";
  for (int d = 0; d < t.n_dims; ++d) {
    if (d > 0) s += ", ";
    s += std::to_string(t.ne[d]);
  }
  return s + "]";
}

// An integer hyper-parameter that may be stored per layer as an array (first entry used).
int int_param(const gguf::File& file, const std::string& key) {
  if (auto v = file.get_int(key)) return static_cast<int>(*v);
  if (const gguf::Array* a = file.get_array(key)) {
    if (const auto* ints = std::get_if<std::vector<int64_t>>(&a->items); ints && !ints->empty())
      return static_cast<int>(ints->front());
  }
  return 0;
}

quant::MixModel mix_model(const gguf::File& file) {
  quant::MixModel m;
  if (const std::string* arch = file.get_string("general.architecture")) m.arch = *arch;
  m.n_layer = int_param(file, m.arch + ".block_count");
  m.n_head = int_param(file, m.arch + ".attention.head_count");
  m.n_head_kv = int_param(file, m.arch + ".attention.head_count_kv");
  return m;
}

Status quantize_model(const QuantizeArgs& a) {
  using Clock = std::chrono::steady_clock;
  const auto t_start = Clock::now();
  TM_ASSIGN(const quant::FileTypeInfo ft, quant::parse_file_type(a.type));
  TM_ASSIGN(const std::string in_path, resolve_model_path(a.input));
  TM_ASSIGN(gguf::File file, gguf::File::open(in_path));

  std::vector<quant::MixTensor> mix_tensors;
  for (const auto& t : file.tensors()) {
    quant::MixTensor m;
    m.name = t.name;
    m.n_dims = t.n_dims;
    for (int d = 0; d < 4; ++d) m.ne[d] = t.ne[d];
    m.type = t.type;
    mix_tensors.push_back(std::move(m));
  }
  quant::MixOptions options;
  options.ftype = ft.ftype;
  options.pure = a.pure;
  options.leave_output = a.leave_output;
  const std::vector<quant::MixChoice> choices =
      quant::choose_types(mix_model(file), mix_tensors, options);

  // Check every conversion before doing any work.
  uint64_t bytes_in = 0, bytes_out = 0;
  int64_t n_elements = 0;
  int n_fallback = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const auto& t = file.tensors()[i];
    const DType to = choices[i].type;
    bytes_in += t.size_bytes;
    n_elements += t.n_elements();
    bytes_out += *row_bytes(to, t.ne[0]) * static_cast<uint64_t>(t.rows());
    if (choices[i].fallback) ++n_fallback;
    if (to == t.type) continue;
    if (!quant::is_float_format(t.type) && !quant::is_supported(t.type))
      return fail("tensor '", t.name, "' has type ", dtype_name(t.type),
                  ", which quantize cannot read (inputs are F32, F16 or BF16)");
    if (!quant::is_float_format(t.type) && !a.allow_requantize)
      return fail("tensor '", t.name, "' is already quantized (", dtype_name(t.type),
                  "); quantizing it again to ", dtype_name(to),
                  " compounds the error. Start from an F32/F16/BF16 model, or pass "
                  "--allow-requantize to do it anyway");
  }

  // Fail on an unwritable output now, not after minutes of work.
  const std::string tmp_path = a.output + ".tmp";
  {
    std::FILE* f = std::fopen(tmp_path.c_str(), "wb");
    if (f == nullptr) return fail("cannot write output '", a.output, "': ", std::strerror(errno));
    std::fclose(f);
  }
  auto remove_tmp = [&tmp_path] {
    std::error_code ec;
    std::filesystem::remove(tmp_path, ec);
  };

  gguf::Writer writer(file.alignment());
  for (const auto& kv : file.metadata()) {
    if (kv.key.rfind("split.", 0) == 0) continue;  // the output is one file
    writer.add(kv.key, kv.value);
  }
  writer.add_uint32("general.quantization_version", 2);
  writer.add_uint32("general.file_type", static_cast<uint32_t>(ft.ftype));

  ThreadPool pool(a.threads);
  std::fprintf(stderr, "quantize: %s -> %s as %s (%s), %zu tensors, %d threads\n", in_path.c_str(),
               a.output.c_str(), std::string(ft.name).c_str(), std::string(ft.description).c_str(),
               file.tensors().size(), pool.size());
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const size_t n = file.tensors().size();
  uint64_t done_in = 0;
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < n; ++i) {
    const auto& t = file.tensors()[i];
    const DType to = choices[i].type;
    const uint64_t size_out = *row_bytes(to, t.ne[0]) * static_cast<uint64_t>(t.rows());
    char line[512];
    std::snprintf(line, sizeof line, "[%4zu/%4zu] %-32s %-16s %5s -> %-5s %9.2f MiB -> %8.2f MiB",
                  i + 1, n, t.name.c_str(), shape_of(t).c_str(),
                  std::string(dtype_name(t.type)).c_str(), std::string(dtype_name(to)).c_str(),
                  mib(t.size_bytes), mib(size_out));
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    Status added;
    if (to == t.type) {
      added = writer.add_tensor(t.name, t.type, ne, {t.data, static_cast<size_t>(t.size_bytes)});
    } else {
      buffer.assign(static_cast<size_t>(size_out), 0);
      quant::convert_rows(
          t.type, t.data, to, buffer.data(), t.rows(), t.ne[0], pool, [&](int64_t rows_done) {
            if (!tty) return;
            std::fprintf(stderr, "\r%s %3.0f%%", line,
                         100.0 * static_cast<double>(rows_done) / static_cast<double>(t.rows()));
            std::fflush(stderr);
          });
      added = writer.add_tensor(t.name, to, ne, buffer);
    }
    if (!added.ok()) {
      remove_tmp();
      return added.error();
    }
    done_in += t.size_bytes;
    std::fprintf(stderr, "%s%s %3.0f%%%s\n", tty ? "\r" : "", line,
                 100.0 * static_cast<double>(done_in) / static_cast<double>(bytes_in),
                 choices[i].fallback ? "  (row length forces a 32-element type)" : "");
  }
  std::vector<uint8_t>().swap(buffer);
  const auto t_write = Clock::now();
  if (Status s = writer.write(tmp_path); !s.ok()) {
    remove_tmp();
    return s.error();
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path, a.output, ec);
  if (ec) {
    remove_tmp();
    return fail("cannot move '", tmp_path, "' to '", a.output, "': ", ec.message());
  }
  const auto t_end = Clock::now();
  const double bpw_in = 8.0 * static_cast<double>(bytes_in) / static_cast<double>(n_elements);
  const double bpw_out = 8.0 * static_cast<double>(bytes_out) / static_cast<double>(n_elements);
  std::fprintf(stderr,
               "quantize: %.2f MiB -> %.2f MiB (%.2f -> %.2f bits per weight) in %.1f s "
               "(%.1f s writing)\n",
               mib(bytes_in), mib(bytes_out), bpw_in, bpw_out,
               std::chrono::duration<double>(t_end - t_start).count(),
               std::chrono::duration<double>(t_end - t_write).count());
  if (n_fallback > 0)
    std::fprintf(stderr,
                 "quantize: %d of %zu tensors have rows that are not a multiple of 256 and use a "
                 "32-element type instead\n",
                 n_fallback, n);
  return {};
}

}  // namespace

void register_quantize(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "quantize",
      "Quantize a GGUF model (F32/F16/BF16) to Q8_0, Q4_0, ..., the K-quants or a llama.cpp mix "
      "such as Q4_K_M");
  auto args = std::make_shared<QuantizeArgs>();
  std::string types;
  for (const auto& ft : quant::file_types()) {
    if (!types.empty()) types += ", ";
    types += ft.name;
  }
  cmd->add_option("input", args->input, "input GGUF (F32/F16/BF16 weights)")->required();
  cmd->add_option("output", args->output, "output GGUF")->required();
  cmd->add_option("type", args->type, "output type: " + types)->required();
  cmd->add_option("-t,--threads", args->threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--allow-requantize", args->allow_requantize,
                "allow input tensors that are already quantized (loses quality)");
  cmd->add_flag("--pure", args->pure,
                "no mix: every quantizable tensor gets the type's base format");
  cmd->add_flag("--leave-output-tensor", args->leave_output,
                "copy output.weight unchanged instead of quantizing it");
  cmd->callback([args, &exit_code] {
    if (Status s = quantize_model(*args); !s.ok()) exit_code = report_error(s.error().message);
  });
}

}  // namespace tmill::app
