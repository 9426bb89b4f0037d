// ServedApiTest: a GoogleTest fixture base for route tests over real HTTP: a store in a fresh test directory
// (SQLite, or PostgreSQL emptied for the test: store/testing/backends.h), an injected clock (set to now,
// in the store's milliseconds), a URL guard that allows 127.0.0.0/8, the ApiContext wired to them (admin
// token "t"), a router, and an HttpServer on 127.0.0.1:0 with a TestClient. with_feed() adds what the pull
// door needs: a FeedHub woken by the store. A fixture calls open_store(), sets what else its context needs,
// registers routes on router_, then serve(). A suite that runs on both backends is also
// ::testing::WithParamInterface<Backend> and passes GetParam() on.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <utility>

#include "api/http_server.h"
#include "api/router.h"
#include "api/testing/http_test_client.h"
#include "api/v1/support.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "delivery/url_guard.h"
#include "feed/hub.h"
#include "store/store.h"
#include "store/testing/backends.h"
#include "store/testing/test_dir.h"

namespace hookwire::api::testing {

class ServedApiTest : public ::testing::Test {
 protected:
  explicit ServedApiTest(const char* dir_name,
                         store::testing::Backend backend = store::testing::Backend::kSqlite)
      : dir_{dir_name}, backend_{backend} {}

  // Opens the store and wires ctx_. Call under ASSERT_NO_FATAL_FAILURE.
  void open_store() {
    store_ = backend_.open(dir_.path());
    ASSERT_NE(store_, nullptr);
    clock_.set(from_unix_millis(unix_millis(std::chrono::system_clock::now())));  // the store keeps ms
    auto guard = delivery::UrlGuard::from_config({"127.0.0.0/8"}, false);
    ASSERT_TRUE(guard.ok());
    guard_ = std::move(*guard);
    ctx_.store = store_.get();
    ctx_.clock = &clock_;
    ctx_.metrics = &metrics_;
    ctx_.admin_token = "t";
    ctx_.url_guard = &guard_;
  }
  // The FeedHub, advanced by the store after each durable batch as the app wires it.
  void with_feed() {
    store_->set_feed_listener([this](const store::Store::FeedAdvance& a) { hub_.advance(a); });
    ctx_.feed_hub = &hub_;
  }
  // Runs `fn` as one store write and waits for it (test set-up beside the routes under test).
  Status run_write(std::function<Status(store::Tx&)> fn) {
    std::promise<Status> done;
    store_->submit_write(std::move(fn), [&done](Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }
  // Serves router_ on 127.0.0.1:0 and connects client_. Call under ASSERT_NO_FATAL_FAILURE.
  void serve(ServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(options, router_, metrics_);
    auto bound = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(bound.ok());
    port_ = bound->port();
    server_->start();
    client_ = std::make_unique<TestClient>(port_);
  }
  void TearDown() override {
    client_.reset();
    hub_.stop();
    if (server_) server_->stop();
    if (store_) store_->stop();
  }

  store::testing::TestDir dir_;
  store::testing::BackendStore backend_;
  ManualClock clock_;
  metrics::Registry metrics_;
  feed::FeedHub hub_;
  delivery::UrlGuard guard_;
  std::unique_ptr<store::Store> store_;
  v1::ApiContext ctx_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::unique_ptr<TestClient> client_;
};

}  // namespace hookwire::api::testing
