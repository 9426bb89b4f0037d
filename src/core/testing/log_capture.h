// LogCapture: for tests that check what hookwire logs. While alive, spdlog's default logger writes to memory
// (every level from `level` up, formatted "[level] message") instead of stderr; text() and count() read what
// was written. The previous default logger comes back on destruction. One capture at a time; the sink is
// thread-safe (the dispatcher logs from its own thread), but every thread that logs must be stopped before
// the capture ends: spdlog's free functions use the default logger through a raw pointer, and the capture's
// logger dies with it.
#pragma once

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hookwire::testing {

class LogCapture {
 public:
  explicit LogCapture(spdlog::level::level_enum level = spdlog::level::debug)
      : previous_(spdlog::default_logger()), sink_(std::make_shared<Sink>()) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(level);
    logger->set_pattern("[%l] %v");
    spdlog::set_default_logger(std::move(logger));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<std::string> lines() const { return sink_->lines(); }
  std::string text() const {
    std::string out;
    for (const auto& l : lines()) out += l;
    return out;
  }
  // Lines containing every one of `parts`.
  size_t count(std::initializer_list<std::string_view> parts) const {
    size_t n = 0;
    for (const auto& l : lines()) {
      bool all = true;
      for (auto p : parts) all = all && l.find(p) != std::string::npos;
      n += all ? 1 : 0;
    }
    return n;
  }

 private:
  class Sink : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::vector<std::string> lines() {
      std::lock_guard lock(mutex_);
      return lines_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      spdlog::memory_buf_t formatted;
      formatter_->format(msg, formatted);
      lines_.emplace_back(formatted.data(), formatted.size());
    }
    void flush_() override {}

   private:
    std::vector<std::string> lines_;
  };

  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<Sink> sink_;
};

}  // namespace hookwire::testing
