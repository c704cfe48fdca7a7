// A test suite base that loads SmolLM2-135M (Q4_1) once per suite on a 2-thread CPU device:
// the real model the serving-engine tests run requests through. Skips (or fails, when models
// are required) if the model has not been fetched.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "backend/device.h"
#include "common/test_support.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tmill::engine::testing {

class SmolLM2Suite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = tmill::testing::models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf";
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return;
    backend::DeviceOptions opts;
    opts.n_threads = 2;
    device_ = std::move(backend::create_device("cpu", opts).value()).release();
    auto file = gguf::File::open(path);
    model_ = std::move(model::Model::load(std::move(file).value(), *device_).value()).release();
    tokenizer_ = new tok::Tokenizer(tok::Tokenizer::from_gguf(model_->file()).value());
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete model_;
    delete device_;
    tokenizer_ = nullptr;
    model_ = nullptr;
    device_ = nullptr;
  }
  void SetUp() override {
    if (model_ == nullptr) {
      if (tmill::testing::models_required()) FAIL() << "SmolLM2 model not found";
      GTEST_SKIP() << "SmolLM2 model not found (run scripts/fetch-models)";
    }
  }

  static inline backend::Device* device_ = nullptr;
  static inline model::Model* model_ = nullptr;
  static inline tok::Tokenizer* tokenizer_ = nullptr;
};

}  // namespace tmill::engine::testing
