// AVX2+FMA+F16C attention kernel (see attention.h). Per tile of up to kTile cached positions:
//   1. scores[h][i] = scale·q_h · k_i for the group's heads, each K row converted from f16 once
//      and multiplied into up to 4 heads' accumulators;
//   2. online softmax per head: new running max, rescale of the old accumulator and sum,
//      probabilities with a vectorized exp;
//   3. acc_h += Σ_i p[h][i] · v_i, each V row converted once per 4 heads, the accumulators held in
//      registers across the tile.
// While step 1 runs over a tile, the next tile's K and V rows (or, on the last tile, those of
// job.next's first tile) are prefetched, two positions per two scored. In batched decode the
// cache comes from DRAM (the weight stream evicts it between layers), and a block's rows for
// one head are its only contiguous run (2 KiB for SmolLM2), too short for the hardware
// prefetchers to get ahead: on demand loads alone the kernel ran at a third of its in-cache
// speed (kernels_bench attention dram). Prefetching a whole tile at once did nothing (the
// core has far fewer line-fill slots than a tile has lines); spread over the tile, it keeps
// them busy. Prefetches change no result.
// Only call after cpu_has_avx2() (matmul_avx2.h).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/attention.h"
#include "backend/cpu/avx2_helpers.h"

namespace tmill::cpu::detail {
namespace {

constexpr int kTile = 32;

// K and V rows of up to kTile consecutive positions.
struct TileRows {
  const uint16_t* k[kTile];
  const uint16_t* v[kTile];
  int n = 0;
};

// Positions [p0, min(p0 + kTile, job.last + 1)) of job.
inline void gather_rows(const AttentionJob& job, int32_t p0, TileRows& rows) {
  rows.n = std::max(0, std::min<int>(kTile, job.last - p0 + 1));
  for (int i = 0; i < rows.n; ++i) {
    rows.k[i] = cache_row(job.k_cache, job.k_row_bytes, job, p0 + i);
    rows.v[i] = cache_row(job.v_cache, job.v_row_bytes, job, p0 + i);
  }
}

// Prefetches positions [i0, i1) of `rows` (clipped to rows.n): their K and V rows.
inline void prefetch_rows(const TileRows& rows, int i0, int i1, size_t k_bytes, size_t v_bytes) {
  constexpr size_t kLine = 64;
  for (int i = i0; i < std::min(i1, rows.n); ++i) {
    const char* k = reinterpret_cast<const char*>(rows.k[i]);
    const char* v = reinterpret_cast<const char*>(rows.v[i]);
    for (size_t off = 0; off < k_bytes; off += kLine) _mm_prefetch(k + off, _MM_HINT_T0);
    for (size_t off = 0; off < v_bytes; off += kLine) _mm_prefetch(v + off, _MM_HINT_T0);
  }
}

TM_AVX2 inline __m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// scores[h][i] for heads [0, H) of the pointers given, positions [i0, i0 + R): R rows at once
// give R·H independent FMA chains (two FMA pipes of 4-cycle latency want 8) and reuse each
// query load R times; every score's own summation order is the same for any R.
template <int H, int R>
TM_AVX2 inline void score_rows(const float* q, int hd, const uint16_t* const* k_rows, int i0,
                               float* scores) {
  __m256 a[R][H];
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) a[r][h] = _mm256_setzero_ps();
  for (int c = 0; c < hd; c += 8) {
    __m256 kk[R];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) kk[r] = load_f16x8(k_rows[i0 + r] + c);
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) {
      const __m256 qq = _mm256_loadu_ps(q + h * hd + c);
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) a[r][h] = _mm256_fmadd_ps(qq, kk[r], a[r][h]);
    }
  }
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) scores[h * kTile + i0 + r] = hsum(a[r][h]);
}

// Lanes i .. i + 7 that are below n, as an all-ones/all-zeros mask.
TM_AVX2 inline __m256 lanes_below(int i, int n) {
  const __m256i lane =
      _mm256_add_epi32(_mm256_set1_epi32(i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
}

// max(scores[0 .. n)), 0 < n <= kTile (the lanes past n of the tile row hold stale values). Eight
// lanes at a time: a scalar loop was one serial vmaxss chain per head and tile, 10% of
// SmolLM2's prefill attention. Exact, so the result is the scalar loop's.
TM_AVX2 inline float valid_max(const float* scores, int n) {
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
  __m256 m = minus_inf;
  for (int i = 0; i < n; i += 8)
    m = _mm256_max_ps(m,
                      _mm256_blendv_ps(minus_inf, _mm256_loadu_ps(scores + i), lanes_below(i, n)));
  __m128 r = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  r = _mm_max_ps(r, _mm_movehl_ps(r, r));
  r = _mm_max_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// What a tile's score pass prefetches: `rows` (null: nothing), with row sizes in bytes.
struct Prefetch {
  const TileRows* rows = nullptr;
  size_t k_bytes = 0, v_bytes = 0;
};

// scores[h][i] for heads [0, H) of the pointers given, positions [0, n); prefetches ahead.rows'
// positions i, i + 1 along with positions i, i + 1's scores, and the rest at the end.
template <int H>
TM_AVX2 void tile_scores(const float* q, int hd, const uint16_t* const* k_rows, int n,
                         float* scores, const Prefetch& ahead) {
  int i = 0;
  for (; i + 2 <= n; i += 2) {
    if (ahead.rows) prefetch_rows(*ahead.rows, i, i + 2, ahead.k_bytes, ahead.v_bytes);
    score_rows<H, 2>(q, hd, k_rows, i, scores);
  }
  if (i < n) score_rows<H, 1>(q, hd, k_rows, i, scores);
  if (ahead.rows) prefetch_rows(*ahead.rows, i, kTile, ahead.k_bytes, ahead.v_bytes);
}

// acc[h][c, c + 8C) += Σ_i p[h][i] · v_i[c, c + 8C) for heads [0, H): C chunks of 8 at once for
// C·H independent FMA chains; each element's sum over i keeps its order for any C.
template <int H, int C>
TM_AVX2 inline void value_chunks(const float* p, int hd, const uint16_t* const* v_rows, int n,
                                 int c, float* acc) {
  __m256 a[C][H];
#pragma GCC unroll 2
  for (int k = 0; k < C; ++k)
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) a[k][h] = _mm256_loadu_ps(acc + h * hd + c + 8 * k);
  for (int i = 0; i < n; ++i) {
    __m256 vv[C];
#pragma GCC unroll 2
    for (int k = 0; k < C; ++k) vv[k] = load_f16x8(v_rows[i] + c + 8 * k);
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) {
      const __m256 w = _mm256_broadcast_ss(p + h * kTile + i);
#pragma GCC unroll 2
      for (int k = 0; k < C; ++k) a[k][h] = _mm256_fmadd_ps(w, vv[k], a[k][h]);
    }
  }
#pragma GCC unroll 2
  for (int k = 0; k < C; ++k)
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) _mm256_storeu_ps(acc + h * hd + c + 8 * k, a[k][h]);
}

// acc[h] += Σ_i p[h][i] · v_i for heads [0, H).
template <int H>
TM_AVX2 void tile_values(const float* p, int hd, const uint16_t* const* v_rows, int n, float* acc) {
  int c = 0;
  for (; c + 16 <= hd; c += 16) value_chunks<H, 2>(p, hd, v_rows, n, c, acc);
  if (c < hd) value_chunks<H, 1>(p, hd, v_rows, n, c, acc);
}

// The group's scores; the first pass over the tile does the prefetching.
TM_AVX2 void scores_all(const float* q, int group, int hd, const uint16_t* const* k_rows, int n,
                        float* scores, Prefetch ahead) {
  int h = 0;
  for (; h + 4 <= group; h += 4) {
    tile_scores<4>(q + h * hd, hd, k_rows, n, scores + h * kTile, ahead);
    ahead.rows = nullptr;
  }
  switch (group - h) {
    case 3:
      tile_scores<3>(q + h * hd, hd, k_rows, n, scores + h * kTile, ahead);
      break;
    case 2:
      tile_scores<2>(q + h * hd, hd, k_rows, n, scores + h * kTile, ahead);
      break;
    case 1:
      tile_scores<1>(q + h * hd, hd, k_rows, n, scores + h * kTile, ahead);
      break;
    default:
      break;
  }
}

TM_AVX2 void values_all(const float* p, int group, int hd, const uint16_t* const* v_rows, int n,
                        float* acc) {
  int h = 0;
  for (; h + 4 <= group; h += 4) tile_values<4>(p + h * kTile, hd, v_rows, n, acc + h * hd);
  switch (group - h) {
    case 3:
      tile_values<3>(p + h * kTile, hd, v_rows, n, acc + h * hd);
      break;
    case 2:
      tile_values<2>(p + h * kTile, hd, v_rows, n, acc + h * hd);
      break;
    case 1:
      tile_values<1>(p + h * kTile, hd, v_rows, n, acc + h * hd);
      break;
    default:
      break;
  }
}

TM_AVX2 void attention_impl(const AttentionJob& job, float* scratch) {
  const int hd = job.head_dim;
  const int group = job.group;
  float* q = scratch;           // [group][hd], scaled
  float* acc = q + group * hd;  // [group][hd]
  float* p = acc + group * hd;  // [group][kTile]
  float* run_max = p + group * kTile;
  float* run_sum = run_max + group;
  const __m256 scale = _mm256_set1_ps(job.scale);
  for (int i = 0; i < group * hd; i += 8) {
    _mm256_storeu_ps(q + i, _mm256_mul_ps(_mm256_loadu_ps(job.q + i), scale));
    _mm256_storeu_ps(acc + i, _mm256_setzero_ps());
  }
  for (int h = 0; h < group; ++h) {
    run_max[h] = -INFINITY;
    run_sum[h] = 0.0f;
  }

  TileRows tiles[2];  // this tile's rows and the next one's, alternating
  int cur = 0;
  gather_rows(job, job.first, tiles[cur]);
  for (int32_t p0 = job.first; p0 <= job.last; p0 += kTile) {
    const int n = tiles[cur].n;
    const uint16_t* const* k_rows = tiles[cur].k;
    const uint16_t* const* v_rows = tiles[cur].v;
    // What to prefetch during this tile: the job's next tile, else the next job's first.
    TileRows& next = tiles[cur ^ 1];
    const AttentionJob* source = p0 + kTile <= job.last ? &job : job.next;
    Prefetch ahead;
    if (source != nullptr) {
      gather_rows(*source, source == &job ? p0 + kTile : source->first, next);
      ahead = {&next, source->k_row_bytes, source->v_row_bytes};
    }
    scores_all(q, group, hd, k_rows, n, p, ahead);

    for (int h = 0; h < group; ++h) {
      float* ph = p + h * kTile;
      const float tile_max = valid_max(ph, n);
      const float new_max = std::max(run_max[h], tile_max);
      const float correction = std::exp(run_max[h] - new_max);  // 0 on the first tile
      run_max[h] = new_max;
      const __m256 m = _mm256_set1_ps(new_max);
      __m256 sum = _mm256_setzero_ps();
      for (int i = 0; i < n; i += 8) {
        // Lanes past n hold stale scores: zero their probabilities.
        const __m256 valid = lanes_below(i, n);
        const __m256 e =
            _mm256_and_ps(valid, exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(ph + i), m)));
        _mm256_storeu_ps(ph + i, e);
        sum = _mm256_add_ps(sum, e);
      }
      run_sum[h] = run_sum[h] * correction + hsum(sum);
      if (correction != 1.0f) {
        const __m256 c = _mm256_set1_ps(correction);
        float* ah = acc + h * hd;
        for (int d = 0; d < hd; d += 8)
          _mm256_storeu_ps(ah + d, _mm256_mul_ps(_mm256_loadu_ps(ah + d), c));
      }
    }
    values_all(p, group, hd, v_rows, n, acc);
    cur ^= 1;
  }

  for (int h = 0; h < group; ++h) {
    const __m256 inv = _mm256_set1_ps(run_sum[h] > 0.0f ? 1.0f / run_sum[h] : 0.0f);
    float* o = job.out + h * hd;
    const float* ah = acc + h * hd;
    for (int d = 0; d < hd; d += 8)
      _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(ah + d), inv));
  }
}

}  // namespace

void attention_avx2(const AttentionJob& job, float* scratch) { attention_impl(job, scratch); }

}  // namespace tmill::cpu::detail
