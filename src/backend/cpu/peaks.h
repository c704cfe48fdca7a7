// Machine probes for the roofline: STREAM-style read bandwidth, peak f32 FMA throughput and
// peak integer dot-product throughput, each with every thread of a pool. Best of several passes, so
// a noisy neighbour lowers the figure less than it would a mean.
#pragma once

#include "core/thread_pool.h"

namespace tmill::cpu {

// Bytes/s reading a buffer much larger than the last-level cache (512 MiB, huge pages like the
// packed weights), all threads.
double measure_read_bandwidth(ThreadPool& pool);

// f32 flop/s (an FMA counts 2) of independent FMA chains in registers, all threads. Uses
// AVX2+FMA when available, else scalar code (then the figure is the scalar peak).
double measure_fma_peak(ThreadPool& pool);

// The packed kernels' integer dot products (matmul_packed.h): int16 pairs (`vpdpwssd`, the
// default family) or int8 quads (`vpdpbusd`, --kernels int8), 512-bit, independent chains in
// registers, all threads. Ops/s with a multiply-add counting 2, so the figure compares with
// flops per token. 0 on CPUs without AVX-512 VNNI.
enum class IntDot { kInt16Pairs, kInt8Quads };
double measure_int_dot_peak(ThreadPool& pool, IntDot kind);

}  // namespace tmill::cpu
