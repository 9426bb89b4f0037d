// Result<T>: the value of an operation that can fail in an expected way.
//
// Expected failures (bad input, unknown ids, conflicts, I/O trouble) travel as values; programmer errors are
// asserts. Every module reports failures with the same small set of codes so that the API layer maps them to
// HTTP statuses in exactly one place (api/errors.h).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace hookwire {

enum class Errc {
  kBadRequest,       // the request as a whole is malformed (bad JSON, bad query string)
  kValidation,       // a field is missing or wrong; Error::field names it
  kUnauthorized,     // missing or wrong credentials
  kForbidden,        // credentials fine, action not allowed
  kNotFound,         // the named object does not exist
  kConflict,         // uniqueness violated (uid, eventId, idempotency key in flight)
  kPayloadTooLarge,  // body over the configured limit
  kUnavailable,      // shutting down or overloaded: try again
  kInternal,         // a bug or an I/O failure the caller cannot fix
};

struct Error {
  Errc code = Errc::kInternal;
  std::string detail;  // human text, safe to show to the API caller
  std::string field;   // for kValidation: the offending field ("body.url", "query.limit")

  static Error bad_request(std::string d) { return {Errc::kBadRequest, std::move(d), {}}; }
  static Error validation(std::string f, std::string d) {
    return {Errc::kValidation, std::move(d), std::move(f)};
  }
  static Error not_found(std::string d) { return {Errc::kNotFound, std::move(d), {}}; }
  static Error conflict(std::string d) { return {Errc::kConflict, std::move(d), {}}; }
  static Error internal(std::string d) { return {Errc::kInternal, std::move(d), {}}; }
  static Error unavailable(std::string d) { return {Errc::kUnavailable, std::move(d), {}}; }
};

// E is the error type: core's Error nearly everywhere; a module whose callers branch on something richer
// (the HTTP client's failure kinds) names its own.
template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  E&& take_error() {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, E> v_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }
  Error&& take_error() {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace hookwire
