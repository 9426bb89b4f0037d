// Coroutine front door to a Store: `co_await store::read<T>(store, fn)` / `co_await store::write<T>(...)`.
// The function runs on a store thread; the awaiting coroutine resumes on its own executor with the result.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "store/store.h"

namespace hookwire::store {

namespace detail {
template <class T, class Handler>
void complete(Handler handler, Result<T> result) {
  auto ex = boost::asio::get_associated_executor(handler);
  boost::asio::post(
      ex, [h = std::move(handler), r = std::move(result)]() mutable { std::move(h)(std::move(r)); });
}
}  // namespace detail

// Runs fn against a snapshot. fn returns Result<T>.
template <class T, class Fn>
boost::asio::awaitable<Result<T>> read(Store& store, Fn fn) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(Result<T>)>(
      [&store](auto handler, Fn fn) {
        auto state = std::make_shared<std::pair<decltype(handler), std::optional<Result<T>>>>(
            std::move(handler), std::nullopt);
        store.submit_read(
            [state, fn = std::move(fn)](Tx& tx) mutable { state->second.emplace(fn(tx)); },
            [state] { detail::complete<T>(std::move(state->first), std::move(*state->second)); });
      },
      boost::asio::use_awaitable, std::move(fn));
}

// Runs fn in the group-committing writer. fn returns Result<T>; an error rolls back fn's own changes. The
// coroutine resumes after the batch is durable (or committed, with Ack::kCommitted), with fn's value, fn's
// error, or the commit's error.
template <class T, class Fn>
boost::asio::awaitable<Result<T>> write(Store& store, Fn fn, Ack ack = Ack::kDurable) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(Result<T>)>(
      [&store, ack](auto handler, Fn fn) {
        auto state = std::make_shared<std::pair<decltype(handler), std::optional<Result<T>>>>(
            std::move(handler), std::nullopt);
        store.submit_write(
            [state, fn = std::move(fn)](Tx& tx) mutable -> Status {
              state->second.emplace(fn(tx));
              if (!state->second->ok()) return state->second->error();
              return {};
            },
            [state](Status st) {
              // fn's own error wins; otherwise a failed commit fails everyone in the batch.
              const bool fn_failed = state->second && !state->second->ok();
              if (st.ok() || fn_failed) {
                detail::complete<T>(std::move(state->first), std::move(*state->second));
              } else {
                detail::complete<T>(std::move(state->first), Result<T>(st.take_error()));
              }
            },
            ack);
      },
      boost::asio::use_awaitable, std::move(fn));
}

// The callback forms of read() and write(), for code that is not a coroutine (a DeliveryQueue's methods):
// fn(Tx&) returns Result<T>; done gets it on the store's thread (fn's error, or for a write the commit's).
template <class T, class Fn>
void read_then(Store& store, Fn fn, std::function<void(Result<T>)> done) {
  auto out = std::make_shared<std::optional<Result<T>>>();
  store.submit_read([fn = std::move(fn), out](Tx& tx) mutable { out->emplace(fn(tx)); },
                    [out, done = std::move(done)] { done(std::move(**out)); });
}
template <class T, class Fn>
void write_then(Store& store, Fn fn, std::function<void(Result<T>)> done, Ack ack = Ack::kDurable) {
  auto out = std::make_shared<std::optional<Result<T>>>();
  store.submit_write(
      [fn = std::move(fn), out](Tx& tx) mutable -> Status {
        out->emplace(fn(tx));
        if (!(*out)->ok()) return (*out)->error();
        return {};
      },
      [out, done = std::move(done)](Status st) {
        const bool fn_failed = *out && !(*out)->ok();
        if (st.ok() || fn_failed) return done(std::move(**out));
        done(st.take_error());
      },
      ack);
}

// Awaits an operation that reports through a callback, perhaps on another thread (DeliveryQueue's methods):
// start(done) begins it, done(Result<T>) ends it; the coroutine resumes on its own executor.
template <class T, class Start>
boost::asio::awaitable<Result<T>> completion(Start start) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(Result<T>)>(
      [](auto handler, Start start) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start([h](Result<T> r) { detail::complete<T>(std::move(*h), std::move(r)); });
      },
      boost::asio::use_awaitable, std::move(start));
}

}  // namespace hookwire::store
