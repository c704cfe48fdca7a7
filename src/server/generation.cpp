#include "server/generation.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include "server/json_body.h"
#include "server/openai_response.h"
#include "server/service.h"
#include "server/sse.h"
#include "server/wakeup.h"

namespace tmill::server {
namespace {

using engine::RequestStream;
using Streams = std::vector<std::shared_ptr<RequestStream>>;

// A wait never lasts longer than this even without a wake-up: a missed notification costs at
// most this much latency, never a hang.
constexpr std::chrono::milliseconds kMaxWait{250};

// Cancels every engine request of a generation that ends for any reason other than
// completion: early returns, a failed write, and a coroutine frame destroyed at shutdown.
struct CancelOnExit {
  Streams& streams;
  ~CancelOnExit() {
    for (auto& s : streams)
      if (!s->done()) s->cancel();
  }
};

struct InFlight {
  std::atomic<int>& count;
  explicit InFlight(std::atomic<int>& c) : count(c) { ++count; }
  ~InFlight() { --count; }
};

// Reads from the client while its request runs, only to notice that it went away: EOF or a
// reset marks the request `gone`. Bytes that arrive (a pipelined request) end the watch and are
// handed back to the connection's buffer afterwards.
struct PeerWatch {
  bool done = false;
  bool gone = false;
  size_t n = 0;
  std::array<char, 4096> bytes{};
};

asio::awaitable<void> watch_peer(beast::tcp_stream& stream, std::shared_ptr<PeerWatch> watch,
                                 std::shared_ptr<Wakeup> wakeup) {
  auto [ec, n] = co_await stream.async_read_some(asio::buffer(watch->bytes), kAwaitTuple);
  watch->n = n;
  watch->gone = ec && ec != asio::error::operation_aborted;
  watch->done = true;
  wakeup->signal();
}

ApiError submit_error(const engine::SubmitFailure& failure, Endpoint endpoint) {
  const char* param = endpoint == Endpoint::Chat ? "messages" : "prompt";
  switch (failure.error) {
    case engine::SubmitError::Invalid:
      return invalid_request(failure.message);
    case engine::SubmitError::TooLong:
      return invalid_request(failure.message, param, "context_length_exceeded");
    case engine::SubmitError::QueueFull: {
      ApiError e = server_error(
          503, "the server is busy (request queue full); retry later: " + failure.message,
          "queue_full");
      e.retry_after_seconds = 1;
      return e;
    }
    case engine::SubmitError::ShuttingDown:
      break;
  }
  ApiError e = server_error(503, "the server is shutting down", "shutting_down");
  e.retry_after_seconds = 1;
  return e;
}

uint64_t random_seed() {
  thread_local std::mt19937_64 rng{(static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                   std::random_device{}()};
  return rng();
}

// Moves every pending event into the builder; returns the chunks they produce.
std::vector<nlohmann::json> drain(const Streams& streams, ResponseBuilder& builder) {
  std::vector<nlohmann::json> chunks;
  for (size_t p = 0; p < streams.size(); ++p)
    for (const engine::StreamEvent& e : streams[p]->take())
      for (nlohmann::json& c : builder.on_event(p, e)) chunks.push_back(std::move(c));
  return chunks;
}

class SseWriter {
 public:
  SseWriter(beast::tcp_stream& stream, bool chunked) : stream_(stream), chunked_(chunked) {}

  asio::awaitable<bool> header(unsigned version, bool keep_alive) {
    http::response<http::empty_body> res{http::status::ok, version};
    res.set(http::field::server, "tokenmill");
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache");
    res.set("X-Accel-Buffering", "no");  // reverse proxies must not hold events back
    res.keep_alive(keep_alive);
    if (chunked_) res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    stream_.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_write_header(stream_, sr, kAwaitTuple);
    stream_.expires_never();
    co_return !ec;
  }

  asio::awaitable<bool> data(const std::string& text) {
    stream_.expires_after(std::chrono::seconds(30));
    boost::system::error_code ec;
    if (chunked_) {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(stream_, http::make_chunk(asio::buffer(text)), kAwaitTuple);
    } else {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(stream_, asio::buffer(text), kAwaitTuple);
    }
    stream_.expires_never();
    co_return !ec;
  }

  asio::awaitable<bool> end() {
    if (!chunked_) co_return true;
    stream_.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk_last(), kAwaitTuple);
    stream_.expires_never();
    co_return !ec;
  }

 private:
  beast::tcp_stream& stream_;
  bool chunked_;
};

// The final byte of a response waits until its usage is in the ledger, so a client that got
// its answer is always billed, even if the server dies right after (kill -9). Group commit makes
// this a few milliseconds; a ledger that cannot write for kRecordDeadline no longer holds back
// answers (it reports its failure on stderr and keeps retrying).
constexpr std::chrono::seconds kRecordDeadline{30};

asio::awaitable<void> wait_recorded(Service& service, const ResponseBuilder& builder,
                                    Wakeup& wakeup) {
  AccessControl* access = service.access();
  if (!access) co_return;
  const std::vector<uint64_t> tickets = builder.usage_tickets();
  if (tickets.empty()) co_return;
  auto pending = std::make_shared<std::atomic<size_t>>(tickets.size());
  auto notify = wakeup.notifier();
  for (uint64_t ticket : tickets)
    access->when_recorded(ticket, [pending, notify] {
      if (pending->fetch_sub(1) == 1) notify();
    });
  const auto deadline = std::chrono::steady_clock::now() + kRecordDeadline;
  while (pending->load() > 0 && std::chrono::steady_clock::now() < deadline)
    co_await wakeup.wait(kMaxWait);
}

std::string format_amount(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

asio::awaitable<bool> collect_response(Service& service, beast::tcp_stream& stream,
                                       const Streams& streams, ResponseBuilder& builder,
                                       Wakeup& wakeup, const PeerWatch& watch, unsigned version,
                                       bool keep_alive) {
  for (;;) {
    drain(streams, builder);
    if (builder.finished() || builder.failure()) break;
    if (watch.gone) co_return false;  // CancelOnExit frees the engine's work
    co_await wakeup.wait(kMaxWait);
  }
  co_await wait_recorded(service, builder, wakeup);
  if (builder.failure())
    co_return co_await write_error(service, stream, version, keep_alive, *builder.failure());
  const ExtraHeaders headers = {{"x-tokenmill-cost-usd", format_amount(builder.cost_usd())},
                                {"x-tokenmill-energy-j", format_amount(builder.energy_j())}};
  co_return co_await write_json(service, stream, version, keep_alive, builder.response(), headers);
}

asio::awaitable<bool> stream_response(Service& service, beast::tcp_stream& stream,
                                      const OpenAIRequest& req, const Streams& streams,
                                      ResponseBuilder& builder, Wakeup& wakeup,
                                      const PeerWatch& watch, unsigned version, bool keep_alive) {
  // HTTP/1.0 has no chunked encoding: the stream then ends by closing the connection.
  const bool chunked = version >= 11;
  if (!chunked) keep_alive = false;
  SseWriter sse(stream, chunked);
  service.counters().count_response(200);
  if (!co_await sse.header(version, keep_alive)) co_return false;
  for (;;) {
    std::string out;
    for (const nlohmann::json& chunk : drain(streams, builder)) out += sse_event(chunk);
    const bool failed = builder.failure().has_value();
    if (failed || builder.finished()) co_await wait_recorded(service, builder, wakeup);
    if (failed) {
      // Mid-stream the status line is already out: the error travels as an event, as
      // OpenAI-compatible servers do, and the stream still ends with [DONE].
      out += sse_event(error_json(*builder.failure()));
      out += kSseDone;
    } else if (builder.finished()) {
      if (req.include_usage) out += sse_event(builder.usage_chunk());
      out += kSseDone;
    }
    if (!out.empty() && !co_await sse.data(out)) co_return false;
    if (failed || builder.finished()) break;
    if (watch.gone) co_return false;
    co_await wakeup.wait(kMaxWait);
  }
  if (!co_await sse.end()) co_return false;
  co_return keep_alive;
}

}  // namespace

asio::awaitable<bool> handle_generation(Service& service, beast::tcp_stream& stream,
                                        beast::flat_buffer& buffer, const Request& request,
                                        Endpoint endpoint, const Principal& principal,
                                        bool keep_alive) {
  const unsigned version = request.version();
  auto parsed = parse_openai_request(endpoint, request.body(), service.limits());
  if (!parsed.ok())
    co_return co_await write_error(service, stream, version, keep_alive, parsed.error());
  const OpenAIRequest& req = parsed.value();
  auto prepared = service.prompts().prepare(req, random_seed());
  if (!prepared.ok())
    co_return co_await write_error(service, stream, version, keep_alive, prepared.error());

  ResponseContext ctx;
  ctx.endpoint = endpoint;
  ctx.id = make_response_id(endpoint);
  const std::string response_id = ctx.id;
  ctx.created = static_cast<int64_t>(std::time(nullptr));
  ctx.model = service.options().model_id;
  ctx.n = req.n;
  ctx.logprobs = req.logprobs;
  ctx.echo = req.echo;
  ctx.include_usage = req.include_usage;
  ctx.echo_texts = prepared->echo_texts;
  for (const auto& g : prepared->requests) ctx.prompt_tokens.push_back(g.prompt);
  ResponseBuilder builder(std::move(ctx), service.prompts().tokenizer());

  // Quotas and budget before any work: refusals cost the engine nothing.
  Admission admission;
  const int32_t parts = static_cast<int32_t>(prepared->requests.size());
  if (AccessControl* access = service.access()) {
    AdmissionRequest what;
    what.model = service.options().model_id;
    what.parts = parts;
    for (const engine::GenerationRequest& g : prepared->requests) {
      what.prompt_tokens += static_cast<int64_t>(g.prompt.size());
      what.max_completion_tokens += int64_t{g.max_tokens} * g.n;
    }
    auto admitted = access->admit(principal, what);
    if (!admitted.ok())
      co_return co_await write_error(service, stream, version, keep_alive, admitted.error());
    admission = admitted.value();
  }
  for (int32_t part = 0; part < parts; ++part) {
    engine::RequestOwner& owner = prepared->requests[static_cast<size_t>(part)].owner;
    owner.tenant = principal.tenant;
    owner.weight = principal.weight;
    owner.key_id = principal.key_id;
    owner.model = service.options().model_id;
    owner.request_id = response_id;
    owner.part = part;
    owner.reservation_id = admission.reservation_id;
  }

  InFlight in_flight(service.in_flight);
  auto wakeup = std::make_shared<Wakeup>(stream.get_executor());
  Streams streams;
  CancelOnExit cancel_on_exit{streams};
  for (engine::GenerationRequest& g : prepared->requests) {
    engine::SubmitFailure failure;
    auto s = service.engine().submit(std::move(g), &failure);
    if (!s) {  // earlier prompts of the same request are cancelled by cancel_on_exit
      if (AccessControl* access = service.access())
        access->withdraw(admission, parts - static_cast<int32_t>(streams.size()));
      co_return co_await write_error(service, stream, version, keep_alive,
                                     submit_error(failure, endpoint));
    }
    s->set_notify(wakeup->notifier());
    streams.push_back(std::move(s));
  }

  auto watch = std::make_shared<PeerWatch>();
  asio::co_spawn(stream.get_executor(), watch_peer(stream, watch, wakeup), asio::detached);
  bool keep = req.stream ? co_await stream_response(service, stream, req, streams, builder, *wakeup,
                                                    *watch, version, keep_alive)
                         : co_await collect_response(service, stream, streams, builder, *wakeup,
                                                     *watch, version, keep_alive);
  // The watcher must be finished before the connection reads again (or goes away): stop it
  // and hand back what it read.
  if (!watch->done) {
    boost::system::error_code ignored;
    stream.socket().cancel(ignored);
    while (!watch->done) co_await wakeup->wait(kMaxWait);
  }
  if (watch->n > 0) {
    auto space = buffer.prepare(watch->n);
    asio::buffer_copy(space, asio::buffer(watch->bytes.data(), watch->n));
    buffer.commit(watch->n);
  }
  co_return keep && !watch->gone;
}

}  // namespace tmill::server
