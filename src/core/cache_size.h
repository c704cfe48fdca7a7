// The size of the last-level cache that this process's threads share.
//
// Why not sysconf(_SC_LEVEL3_CACHE_SIZE) alone: on AMD EPYC, glibc reports the whole package's L3
// (384 MiB on a 12-CCD part) although a core only reaches its own CCD's slice (32 MiB), and a
// VM pinned to one CCD sees only that. Choices that depend on whether the weights fit in cache
// (the CPU backend's automatic weight prefetch, bench --roofline's note) went wrong there. The
// kernel's sysfs cache description gives the size per sharing domain, so it is read first.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace tmill {

// Bytes of the highest-level data or unified cache of CPU 0, from sysfs; else glibc's L3, else
// L2; 0 when nothing tells.
size_t last_level_cache_bytes();

// A sysfs cache "size" value ("32768K", "1M", "512") in bytes; nullopt when it does not parse.
std::optional<size_t> parse_cache_size(std::string_view text);

}  // namespace tmill
