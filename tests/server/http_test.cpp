// The server over real sockets, in-process, with the shipped SmolLM2 model (skipped when it is
// not downloaded): keep-alive, SSE framing, the HTTP limits, disconnect -> cancellation, and
// that bad input never stops the server from serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "backend/device.h"
#include "common/test_support.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "server/http_server.h"
#include "server/prompt_builder.h"
#include "server/service.h"
#include "tokenizer/chat_template/chat_template.h"

namespace tmill::server {
namespace {

using nlohmann::json;

struct Running {
  std::unique_ptr<backend::Device> device;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> engine;
  std::shared_ptr<Service> service;
  std::unique_ptr<HttpServer> http;
  std::thread thread;
  uint16_t port = 0;
  std::string eog_bias;  // logit_bias that bans every end-of-generation token
};

Running* g_server = nullptr;

class Http : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = testing::models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf";
    auto file = gguf::File::open(path);
    if (!file.ok()) return;
    auto r = std::make_unique<Running>();
    backend::DeviceOptions dopt;
    dopt.n_threads = 2;
    r->device = std::move(backend::create_device("cpu", dopt)).value();
    auto tokenizer = tok::Tokenizer::from_gguf(*file);
    ASSERT_TRUE(tokenizer.ok());
    auto tmpl = tok::ChatTemplate::from_gguf(*file, *tokenizer);
    ASSERT_TRUE(tmpl.ok());
    auto m = model::Model::load(std::move(file).value(), *r->device, model::ModelOptions{});
    ASSERT_TRUE(m.ok()) << m.error().message;
    r->model = std::move(m).value();
    engine::EngineOptions eo;
    eo.n_ctx = 4096;
    eo.max_running = 8;
    eo.kv_blocks = 1024;
    auto e = engine::Engine::create(*r->model, *tokenizer, eo);
    ASSERT_TRUE(e.ok()) << e.error().message;
    r->engine = std::move(e).value();
    ServerOptions so;
    so.port = 0;
    so.model_id = "smol";
    so.model_names = {"smol"};
    so.shutdown_deadline_ms = 2000;
    PromptLimits limits{eo.n_ctx, int64_t{eo.kv_blocks} * eo.block_size};
    r->service = std::make_shared<Service>(
        *r->engine, PromptBuilder(*tokenizer, std::move(tmpl).value(), limits), so);
    r->http = std::make_unique<HttpServer>(r->service);
    ASSERT_TRUE(r->http->listen().ok());
    r->port = r->http->port();
    r->engine->start();
    r->thread = std::thread([srv = r.get()] { srv->http->run(); });
    json bias = json::object();
    for (int32_t id : tokenizer->eog_ids()) bias[std::to_string(id)] = -100;
    r->eog_bias = bias.dump();
    g_server = r.release();
  }

  static void TearDownTestSuite() {
    if (g_server == nullptr) return;
    const auto t0 = std::chrono::steady_clock::now();
    g_server->http->stop();
    g_server->thread.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    delete g_server;
    g_server = nullptr;
  }

  void SetUp() override {
    if (g_server == nullptr) {
      if (testing::models_required()) FAIL() << "SmolLM2 model missing";
      GTEST_SKIP() << "SmolLM2 model not downloaded";
    }
  }
};

int connect_to_server() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(g_server->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early (limits): the test reads its answer
    sent += static_cast<size_t>(n);
  }
}

struct Response {
  int status = 0;
  std::string headers;
  std::string body;
};

// Reads one response: Content-Length, chunked, or until EOF.
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}

  bool fill() {
    char buf[8192];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    data_.append(buf, static_cast<size_t>(n));
    return true;
  }

  std::string take_line() {  // a CRLF-terminated line, without the CRLF
    size_t pos;
    while ((pos = data_.find("\r\n")) == std::string::npos)
      if (!fill()) return "";
    std::string line = data_.substr(0, pos);
    data_.erase(0, pos + 2);
    return line;
  }

  std::string take(size_t n) {
    while (data_.size() < n)
      if (!fill()) break;
    std::string out = data_.substr(0, n);
    data_.erase(0, std::min(n, data_.size()));
    return out;
  }

  // Reads the status line and headers only.
  Response head() {
    Response r;
    size_t pos;
    while ((pos = data_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return r;
    r.headers = data_.substr(0, pos + 2);
    data_.erase(0, pos + 4);
    if (r.headers.size() > 12) r.status = std::stoi(r.headers.substr(9, 3));
    return r;
  }

  // One chunk of a chunked body ("" at the end).
  std::string chunk() {
    const std::string size_line = take_line();
    if (size_line.empty()) return "";
    const size_t size = std::stoul(size_line, nullptr, 16);
    std::string out = take(size);
    take_line();
    return out;
  }

  Response read() {
    Response r = head();
    const std::string lower = lowercase(r.headers);
    if (auto p = lower.find("content-length: "); p != std::string::npos) {
      r.body = take(std::stoul(lower.substr(p + 16)));
    } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      for (std::string c = chunk(); !c.empty(); c = chunk()) r.body += c;
    } else {
      while (fill()) {
      }
      r.body = std::move(data_);
      data_.clear();
    }
    return r;
  }

 private:
  static std::string lowercase(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  int fd_;
  std::string data_;
};

std::string post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

Response exchange(const std::string& request) {
  const int fd = connect_to_server();
  send_all(fd, request);
  Response r = Reader(fd).read();
  ::close(fd);
  return r;
}

double metric(const std::string& name) {
  const Response r = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string key = "\n" + name + " ";
  const size_t p = r.body.find(key);
  if (p == std::string::npos) return -1;
  return std::stod(r.body.substr(p + key.size()));
}

// Waits up to `seconds` for the engine to have nothing running.
// Polls /metrics until `done` holds or `seconds` pass.
template <class Predicate>
bool metrics_within(double seconds, Predicate done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool idle_within(double seconds) {
  return metrics_within(seconds, [] {
    return metric("tokenmill_running_sequences") == 0 && metric("tokenmill_queue_length") == 0;
  });
}

TEST_F(Http, KeepAliveServesSeveralRequestsOnOneConnection) {
  const int fd = connect_to_server();
  Reader reader(fd);
  send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  Response a = reader.read();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(json::parse(a.body)["status"], "ok");
  send_all(fd, post("/v1/chat/completions",
                    R"({"model":"smol","messages":[{"role":"user","content":"Hi"}],)"
                    R"("max_tokens":4,"temperature":0})"));
  Response b = reader.read();
  ASSERT_EQ(b.status, 200) << b.body;
  const json j = json::parse(b.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "smol");
  EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 4);
  send_all(fd, "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  Response c = reader.read();
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(json::parse(c.body)["data"][0]["id"], "smol");
  ::close(fd);
}

TEST_F(Http, StreamingIsServerSentEvents) {
  const int fd = connect_to_server();
  send_all(fd, post("/v1/completions",
                    R"({"model":"smol","prompt":"1, 2, 3,","max_tokens":5,"temperature":0,)"
                    R"("n":2,"stream":true,"stream_options":{"include_usage":true}})"));
  Response r = Reader(fd).read();
  ::close(fd);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.headers.find("text/event-stream"), std::string::npos);
  std::vector<json> chunks;
  size_t pos = 0;
  bool done = false;
  while (pos < r.body.size()) {
    const size_t end = r.body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    const std::string event = r.body.substr(pos, end - pos);
    pos = end + 2;
    ASSERT_EQ(event.rfind("data: ", 0), 0u) << event;
    if (event == "data: [DONE]") {
      done = true;
      EXPECT_EQ(pos, r.body.size());
      break;
    }
    chunks.push_back(json::parse(event.substr(6)));
  }
  EXPECT_TRUE(done);
  ASSERT_GE(chunks.size(), 3u);
  int finishes[2] = {0, 0};
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i]["id"], chunks[0]["id"]);
    ASSERT_EQ(chunks[i]["choices"].size(), 1u);
    const json& c = chunks[i]["choices"][0];
    if (!c["finish_reason"].is_null()) ++finishes[c["index"].get<int>()];
  }
  EXPECT_EQ(finishes[0], 1);
  EXPECT_EQ(finishes[1], 1);
  const json& usage = chunks.back();
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["id"], chunks[0]["id"]);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 10);
}

TEST_F(Http, LimitsAndMalformedInput) {
  Response r =
      exchange("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(r.status, 431);
  // The body is refused from its Content-Length, before it is sent.
  r = exchange("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error");
  r = exchange("BLAH\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  r = exchange(post("/v1/completions", std::string(1'000'000, '[') + std::string(1'000'000, ']')));
  EXPECT_EQ(r.status, 400);
  r = exchange(post("/v1/completions", "{\"model\":\"smol\",\"prompt\":\"\xff\"}"));
  EXPECT_EQ(r.status, 400);
  r = exchange(post("/v1/completions", R"({"model":"nope","prompt":"x"})"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "model_not_found");
  r = exchange(post("/v1/completions", R"({"model":"smol","prompt":"x","max_tokens":5000})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "context_length_exceeded");
  r = exchange("GET /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.headers.find("Allow: POST"), std::string::npos);
  r = exchange("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 404);
  // Still serving.
  r = exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
}

TEST_F(Http, ExpectContinue) {
  const std::string body = R"({"model":"smol","prompt":"Hi","max_tokens":1})";
  const int fd = connect_to_server();
  send_all(fd,
           "POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
           "Content-Length: " +
               std::to_string(body.size()) + "\r\n\r\n");
  Reader reader(fd);
  EXPECT_EQ(reader.head().status, 100);
  send_all(fd, body);
  EXPECT_EQ(reader.read().status, 200);
  ::close(fd);
}

TEST_F(Http, StreamingClientDisconnectCancels) {
  ASSERT_TRUE(idle_within(30));
  const double cancelled0 = [] {
    const Response r = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string key = "tokenmill_requests_total{status=\"cancelled\"} ";
    return std::stod(r.body.substr(r.body.find(key) + key.size()));
  }();
  const int fd = connect_to_server();
  send_all(fd, post("/v1/completions", R"({"model":"smol","prompt":"Once upon a time",)"
                                       R"("max_tokens":3000,"stream":true,"logit_bias":)" +
                                           g_server->eog_bias + "}"));
  Reader reader(fd);
  ASSERT_EQ(reader.head().status, 200);
  EXPECT_FALSE(reader.chunk().empty());  // the first event arrived: the request is running
  ::close(fd);
  EXPECT_TRUE(idle_within(1.0)) << "the sequence is still running 1 s after the disconnect";
  const Response r = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string key = "tokenmill_requests_total{status=\"cancelled\"} ";
  EXPECT_GT(std::stod(r.body.substr(r.body.find(key) + key.size())), cancelled0);
}

TEST_F(Http, NonStreamingClientDisconnectCancels) {
  ASSERT_TRUE(idle_within(30));
  const int fd = connect_to_server();
  send_all(fd, post("/v1/completions", R"({"model":"smol","prompt":"Once upon a time",)"
                                       R"("max_tokens":3000,"logit_bias":)" +
                                           g_server->eog_bias + "}"));
  // Running once the engine has taken it (a fixed sleep was too short under sanitizers).
  EXPECT_TRUE(metrics_within(30, [] { return metric("tokenmill_running_sequences") > 0; }));
  ::close(fd);
  EXPECT_TRUE(idle_within(1.0)) << "the sequence is still running 1 s after the disconnect";
}

}  // namespace
}  // namespace tmill::server
