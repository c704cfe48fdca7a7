// AMX-INT8 tile kernels for the int16 packed layout (see matmul_packed_amx.h).
#include "backend/cpu/matmul_packed_amx.h"

#include <immintrin.h>

#include <cpuid.h>
#include <algorithm>
#include <atomic>
#include <cstring>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "backend/cpu/avx2_helpers.h"
#include "backend/cpu/matmul_avx2.h"
#include "backend/cpu/packed_panel.h"
#include "backend/cpu/packed_records.h"
#include "core/check.h"

// The AMX kernels: AVX-512 for the float steps, AMX-TILE and AMX-INT8 for the products.
#define TM_AMX                                                                  \
  __attribute__((                                                               \
      target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-" \
             "int8")))

namespace tmill::cpu::detail {
namespace {

using namespace packed;  // record frame and the panel helpers

std::atomic<bool> g_amx_allowed{true};

bool cpuid_reports_amx() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  constexpr unsigned kAmxTile = 1u << 24, kAmxInt8 = 1u << 25;
  return (edx & kAmxTile) != 0 && (edx & kAmxInt8) != 0;
}

// Linux keeps the 8 KiB tile data state out of a process until it asks for it; the first tile
// instruction without permission faults.
bool os_grants_tile_data() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

// The tile shapes (palette 1): C tiles 0-3 (16 tokens x 16 rows of int32; two pairs, so one
// block's products can run while the previous block's float steps read the other pair's
// results), A tiles 4 (hi) and 5 (lo) (16 tokens x 32 bytes), B tile 6 (8 x 64 bytes).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

TileConfig make_config() {
  TileConfig c;
  for (int i = 0; i < 4; ++i) {
    c.colsb[i] = 64;
    c.rows[i] = 16;
  }
  for (int i = 4; i < 6; ++i) {
    c.colsb[i] = 32;
    c.rows[i] = 16;
  }
  c.colsb[6] = 64;
  c.rows[6] = 8;
  return c;
}

// Per-thread scratch for a group of panels: per panel its B tiles ([block][8][64] bytes) and its
// per-block scale vectors (16 floats each: the weight scale D and the min term's weight M,
// exactly as panel_tokens computes them); and the C results of two blocks.
struct PanelScratch {
  std::vector<uint8_t> b_tiles;          // [panel of the group][block][512]
  std::vector<float> d, m;               // [panel of the group][block][16]
  alignas(64) int32_t c[2][2][16 * 16];  // [parity][hi, lo][token][row]
};

PanelScratch& thread_panel_scratch() {
  thread_local PanelScratch s;
  return s;
}

// One panel's place in the scratch: its B tiles and scale vectors (prepare_panel writes them,
// panel_tile reads them).
struct Prepared {
  uint8_t* b_tiles;
  float* d;
  float* m;
};

// (maskz forms of the widening and shifts below: see load_f16x16.)
// B tile for one block from a nibble codes area of the int16 layout (matmul_packed.h): group g's
// 32 bytes hold, for row r, bytes A_r = n(4g) | n(4g+2) << 4 and B_r = n(4g+1) | n(4g+3) << 4
// (n(s): the code at position s). Widened to one 32-bit lane per row, w = A_r | B_r << 8, the
// lane's four bytes n(4g), n(4g+1), n(4g+2), n(4g+3) are (w | w << 12) & 0x0f0f0f0f.
TM_AMX inline void nibbles_to_b_tile(const uint8_t* area, uint8_t* b_tile) {
  constexpr int kOrThenAnd = 0xa8;  // _mm512_ternarylogic_epi32 immediate for (a | b) & c
  const __m512i low4 = _mm512_set1_epi32(0x0f0f0f0f);
#pragma GCC unroll 8
  for (int g = 0; g < 8; ++g) {
    const __m512i w = _mm512_maskz_cvtepu16_epi32(
        0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(area + 32 * g)));
    _mm512_storeu_si512(
        b_tile + 64 * g,
        _mm512_ternarylogic_epi32(w, _mm512_maskz_slli_epi32(0xffff, w, 12), low4, kOrThenAnd));
  }
}

// One panel's B tiles and scale vectors into the scratch.
template <DType kType>
TM_AMX void prepare_panel(const uint8_t* panel, int64_t n_units, const Prepared& out) {
  constexpr size_t kRecord = record_bytes(kType);
  for (int64_t u = 0; u < n_units; ++u) {
    const uint8_t* rec = panel + static_cast<size_t>(u) * kRecord;
    const uint8_t* area = rec + codes_offset(kType);
    if constexpr (kType == DType::Q4_K) {
      const Q4KScales scales = q4_k_scales(rec);
      for (int j = 0; j < 8; ++j) {
        const int64_t b = 8 * u + j;
        _mm512_storeu_ps(out.d + 16 * b, q4_k_sub_scale(scales, rec, j));
        _mm512_storeu_ps(out.m + 16 * b, q4_k_sub_min(scales, rec, j));
        nibbles_to_b_tile(area + kNibbleBytes * j, out.b_tiles + 512 * b);
      }
    } else {
      static_assert(kType == DType::Q4_1, "amx_covers lists the formats");
      _mm512_storeu_ps(out.d + 16 * u, load_f16x16(rec));
      _mm512_storeu_ps(out.m + 16 * u, load_f16x16(rec + kF16Bytes));
      nibbles_to_b_tile(area, out.b_tiles + 512 * u);
    }
  }
}

// Block b's exact sums for 16 tokens (hi and lo parts) into c[0], c[1], in C tiles 0 and 1
// (kOdd: 2 and 3). The tile numbers are literals: GCC's tile intrinsics paste them into the
// instruction text.
template <bool kOdd>
TM_AMX inline void block_products(const int8_t* hi, const uint8_t* lo, int64_t n_in,
                                  const uint8_t* b_tile, int32_t (&c)[2][16 * 16]) {
  _tile_loadd(4, hi, n_in);
  _tile_loadd(5, lo, n_in);
  _tile_loadd(6, b_tile, 64);
  if constexpr (!kOdd) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_dpbsud(0, 4, 6);
    _tile_dpbuud(1, 5, 6);
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
  } else {
    _tile_zero(2);
    _tile_zero(3);
    _tile_dpbsud(2, 4, 6);
    _tile_dpbuud(3, 5, 6);
    _tile_stored(2, c[0], 64);
    _tile_stored(3, c[1], 64);
  }
}

// One panel x one tile of 16 tokens (t0 ..): y[t][0..16). The int16 kernels' float steps: per
// token acc = fma(float(I_b), D_b * xd_b, acc) over blocks b in order, mn = fma(M_b, xs_b, mn)
// over blocks in order, y = acc + mn.
template <DType kType>
TM_AMX void panel_tile(const QuantizedActivations& a, const SplitActivations& split,
                       const Prepared& w, int32_t (&c)[2][2][16 * 16], int64_t n_in, int64_t t0,
                       float* y, int64_t y_stride) {
  const int64_t nb = a.n_blocks;
  const int8_t* hi = split.hi.data() + t0 * n_in;
  const uint8_t* lo = split.lo.data() + t0 * n_in;
  const float* xd = a.scales.data() + t0 * nb;
  __m512 acc[16];
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t) acc[t] = _mm512_setzero_ps();
  auto products = [&](int64_t b) {
    if (b % 2 == 0)
      block_products<false>(hi + b * kQK, lo + b * kQK, n_in, w.b_tiles + 512 * b, c[0]);
    else
      block_products<true>(hi + b * kQK, lo + b * kQK, n_in, w.b_tiles + 512 * b, c[1]);
  };
  products(0);
  for (int64_t b = 0; b < nb; ++b) {
    if (b + 1 < nb) products(b + 1);
    const int32_t(&cb)[2][16 * 16] = c[b % 2];
    const __m512 d = _mm512_loadu_ps(w.d + 16 * b);
#pragma GCC unroll 16
    for (int t = 0; t < 16; ++t) {
      const __m512i sum =
          _mm512_add_epi32(_mm512_maskz_slli_epi32(0xffff, _mm512_load_si512(cb[0] + 16 * t), 8),
                           _mm512_load_si512(cb[1] + 16 * t));
      acc[t] = _mm512_fmadd_ps(int_to_float(sum), scaled(d, xd[t * nb + b]), acc[t]);
    }
  }
  // The min term, its own chain over the blocks (then added once, as the int16 kernels do).
  const float* xs = a.sums.data() + t0 * nb;
  __m512 mn[16];
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t) {
    _mm512_storeu_ps(y + t * y_stride, acc[t]);
    mn[t] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const __m512 m = _mm512_loadu_ps(w.m + 16 * b);
#pragma GCC unroll 16
    for (int t = 0; t < 16; ++t) mn[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(xs[t * nb + b]), mn[t]);
  }
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t)
    _mm512_storeu_ps(y + t * y_stride, _mm512_add_ps(_mm512_loadu_ps(y + t * y_stride), mn[t]));
}

// Panels go in groups whose B tiles fit in L2 (prepared once per group), and each tile of 16
// tokens runs over every panel of the group while its activations (16 x n_in x 2 bytes) stay
// in L1 or L2. (Panel-outer order re-read every token's activations from L2 per panel: the A
// tile loads then stalled, and 2-thread SmolLM2 prefill gained nothing.)
template <DType kType>
TM_AMX void tiles(const uint8_t* packed, int64_t n_in, const QuantizedActivations& a,
                  const SplitActivations& split, int64_t n_tiles, float* y, int64_t y_stride,
                  int64_t row_begin, int64_t row_end) {
  static const TileConfig config = make_config();
  const int64_t n_units = n_in / unit_elems(kType);
  const size_t panel_bytes = static_cast<size_t>(n_units) * record_bytes(kType);
  const int64_t nb = a.n_blocks;
  const size_t b_bytes = 512 * static_cast<size_t>(nb);  // one panel's B tiles
  constexpr size_t kGroupBytes = size_t{256} << 10;
  const int64_t group = std::max<int64_t>(1, static_cast<int64_t>(kGroupBytes / b_bytes));
  const int64_t n_panels = (row_end - row_begin) / kPanelRows;
  const int64_t in_group = std::min(group, n_panels);
  PanelScratch& s = thread_panel_scratch();
  if (s.b_tiles.size() < b_bytes * static_cast<size_t>(in_group)) {
    s.b_tiles.resize(b_bytes * static_cast<size_t>(in_group));
    s.d.resize(16 * static_cast<size_t>(nb * in_group));
    s.m.resize(16 * static_cast<size_t>(nb * in_group));
  }
  // Panel p of the group starting at p0: its place in the scratch.
  auto slot = [&](int64_t p, int64_t p0) {
    const size_t k = static_cast<size_t>(p - p0);
    return Prepared{s.b_tiles.data() + k * b_bytes, s.d.data() + k * 16 * nb,
                    s.m.data() + k * 16 * nb};
  };
  _tile_loadconfig(&config);
  for (int64_t p0 = 0; p0 < n_panels; p0 += group) {
    const int64_t p1 = std::min(n_panels, p0 + group);
    for (int64_t p = p0; p < p1; ++p)
      prepare_panel<kType>(packed + static_cast<size_t>(row_begin / kPanelRows + p) * panel_bytes,
                           n_units, slot(p, p0));
    for (int64_t i = 0; i < n_tiles; ++i)
      for (int64_t p = p0; p < p1; ++p)
        panel_tile<kType>(a, split, slot(p, p0), s.c, n_in, i * kAmxTokens,
                          y + i * kAmxTokens * y_stride + row_begin + p * kPanelRows, y_stride);
  }
  _tile_release();
}

}  // namespace

bool cpu_has_amx() {
  // AVX-512 VNNI too: the float steps are AVX-512, and the packed weights exist only with it.
  static const bool has = cpu_has_avx512_vnni() && cpuid_reports_amx() && os_grants_tile_data();
  return has;
}

bool amx_enabled() { return g_amx_allowed.load(std::memory_order_relaxed) && cpu_has_amx(); }

void set_amx_enabled(bool on) { g_amx_allowed.store(on, std::memory_order_relaxed); }

bool amx_covers(DType type) { return type == DType::Q4_1 || type == DType::Q4_K; }

SplitActivations& thread_split_activations() {
  thread_local SplitActivations s;
  return s;
}

TM_AVX512 void split_activations(const QuantizedActivations& a, int64_t n_tokens,
                                 SplitActivations& s) {
  const size_t n = static_cast<size_t>(n_tokens * a.n_in);  // a multiple of 32
  if (s.hi.size() < n) {
    s.hi.resize(n);
    s.lo.resize(n);
  }
  const __mmask32 kAll = 0xffffffffu;  // maskz: see load_f16x16 (GCC 12's maybe-uninitialized)
  for (size_t i = 0; i < n; i += 32) {
    const __m512i v = _mm512_loadu_si512(a.codes.data() + i);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.hi.data() + i),
                        _mm512_maskz_cvtepi16_epi8(kAll, _mm512_srai_epi16(v, 8)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.lo.data() + i),
                        _mm512_maskz_cvtepi16_epi8(kAll, v));
  }
}

void matmul_tiles_amx(DType type, const uint8_t* packed, int64_t n_in,
                      const QuantizedActivations& a, const SplitActivations& s, int64_t n_tiles,
                      float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) {
  TM_CHECK(row_begin % kPanelRows == 0 && row_end % kPanelRows == 0,
           "matmul_tiles_amx: ragged range");
  switch (type) {
    case DType::Q4_1:
      return tiles<DType::Q4_1>(packed, n_in, a, s, n_tiles, y, y_stride, row_begin, row_end);
    case DType::Q4_K:
      return tiles<DType::Q4_K>(packed, n_in, a, s, n_tiles, y, y_stride, row_begin, row_end);
    default:
      TM_CHECK(false, "matmul_tiles_amx: unsupported format");
  }
}

}  // namespace tmill::cpu::detail
