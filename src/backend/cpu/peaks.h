// Machine probes for the roofline: STREAM-style read bandwidth and peak f32 FMA throughput,
// both with every thread of a pool. Best of several passes, so a noisy neighbour lowers the
// figure less than it would a mean.
#pragma once

#include "core/thread_pool.h"

namespace tmill::cpu {

// Bytes/s reading a buffer much larger than the last-level cache (512 MiB, huge pages like the
// packed weights), all threads.
double measure_read_bandwidth(ThreadPool& pool);

// f32 flop/s (an FMA counts 2) of independent FMA chains in registers, all threads. Uses
// AVX2+FMA when available, else scalar code (then the figure is the scalar peak).
double measure_fma_peak(ThreadPool& pool);

}  // namespace tmill::cpu
