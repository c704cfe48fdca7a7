#include <array>

#include "backend/cpu/cpu_device.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_packed_amx.h"
#include "backend/device.h"

namespace tmill::backend {

namespace {
const std::array<std::string, 1> kBackends = {"cpu"};
}

std::span<const std::string> available_backends() { return kBackends; }

Expected<std::unique_ptr<Device>> create_device(const std::string& name,
                                                const DeviceOptions& options) {
  if (name == "cpu") {
    TM_TRY(CpuDevice::select_kernels(options.kernels));
    if (!CpuDevice::is_weight_prefetch_mode(options.weight_prefetch))
      return fail("unknown weight prefetch '", options.weight_prefetch,
                  "' (choose auto, off, near or far)");
    cpu::set_batch_invariant(options.batch_invariant);
    cpu::detail::set_amx_enabled(options.amx);
    return std::unique_ptr<Device>(std::make_unique<CpuDevice>(options));
  }
  std::string known;
  for (const auto& b : kBackends) known += (known.empty() ? "" : ", ") + b;
  return fail("unknown backend '", name, "' (available: ", known, ")");
}

}  // namespace tmill::backend
