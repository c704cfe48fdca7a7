// The platform side of serving: who may call (API keys), how much (rate limits, budgets), and
// where usage goes (the ledger). One object implements both hooks the lower layers define:
//   server::AccessControl  - authentication, admission, /v1/usage, durability waits
//   engine::UsageObserver   - every finished engine request: priced, recorded, settled
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/expected.h"
#include "engine/usage_observer.h"
#include "platform/key_store.h"
#include "platform/ledger.h"
#include "platform/price_sheet.h"
#include "platform/quota.h"
#include "platform/usage_request.h"
#include "server/access.h"

namespace tmill::platform {

struct GatekeeperOptions {
  std::filesystem::path data_dir;
  PriceSheet prices;
  bool record_usage = true;  // false: no ledger (no /v1/usage, budgets start from 0 each run)
};

class Gatekeeper final : public server::AccessControl, public engine::UsageObserver {
 public:
  static Expected<std::unique_ptr<Gatekeeper>> open(GatekeeperOptions options);
  ~Gatekeeper() override;

  // Keys exist in the data dir (active or revoked): every route but /health needs one. Checked
  // again at most once a second, so a key created beside a running open server locks it.
  bool keys_required();

  // server::AccessControl
  server::ApiResult<server::Principal> authenticate(std::string_view authorization) override;
  server::ApiResult<server::Admission> admit(const server::Principal& who,
                                             const server::AdmissionRequest& what) override;
  void withdraw(const server::Admission& admission, int32_t parts_not_submitted) override;
  void when_recorded(uint64_t ticket, std::function<void()> fn) override;
  server::ApiResult<nlohmann::json> usage(const server::Principal& who,
                                          std::string_view query) override;
  std::string metrics_text() override;

  // engine::UsageObserver (engine thread)
  uint64_t on_request_finished(const engine::FinishedRequest& request) override;

  Ledger* ledger() { return ledger_.get(); }

 private:
  Gatekeeper(GatekeeperOptions options, std::unique_ptr<KeyStore> keys,
             std::unique_ptr<Ledger> ledger);
  // Token-bucket bookkeeping of one admitted request until all its parts have reported.
  struct Held {
    std::string key_id;
    RateLimits limits;
    int64_t reserved_tokens = 0;
    int64_t used_tokens = 0;
    int32_t parts_left = 1;
  };
  void settle_part(uint64_t reservation_id, int64_t used_tokens, int32_t parts);

  GatekeeperOptions options_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<Ledger> ledger_;
  RateLimiter rate_limiter_;
  BudgetTracker budgets_;

  std::mutex mutex_;  // guards what follows
  std::unordered_map<uint64_t, Held> held_;
  std::unordered_map<std::string, KeyLimits> limits_;  // by key id, from the last authenticate()
  bool keys_required_ = false;
  std::chrono::steady_clock::time_point keys_checked_{};
  std::atomic<uint64_t> rejected_auth_{0};
  std::atomic<uint64_t> rejected_rate_{0};
  std::atomic<uint64_t> rejected_budget_{0};
};

}  // namespace tmill::platform
