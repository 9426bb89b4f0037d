// BinaryArray: a one-dimensional array in PostgreSQL's binary wire format (what array_recv reads), sent as
// one parameter in binary format (Params::binary) to a statement that types it `$n::text[]`, `$n::bigint[]`,
// `$n::integer[]` or `$n::boolean[]`. What a multi-row statement (`INSERT ... SELECT * FROM unnest($1, ...)`)
// takes: one array per column. Text goes in as its bytes, so nothing is quoted or escaped.
// The element type must be the statement's (the server refuses an array of another element type).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hookwire::store::postgres {

class BinaryArray {
 public:
  // The element types, as their PostgreSQL type OIDs.
  enum class Element : uint32_t { kBoolean = 16, kBigint = 20, kInteger = 23, kText = 25 };
  explicit BinaryArray(Element element) : element_(element) {}

  // Each appends one element; the value's kind must match the element type (checked by an assert).
  void text(std::string_view v);
  void text(const std::string& v) { text(std::string_view(v)); }
  void text(const char* v) { text(std::string_view(v)); }
  void text(const std::optional<std::string>& v);
  void int64(int64_t v);
  void int64(const std::optional<int64_t>& v);
  void int32(int32_t v);
  void boolean(bool v);
  void null();

  size_t size() const { return count_; }
  // The array's bytes (header and elements); the builder is empty again after.
  std::string take();

 private:
  void length(int32_t n);  // an element's length word (-1: NULL)
  Element element_;
  std::string elements_;
  size_t count_ = 0;
  bool has_null_ = false;
};

}  // namespace hookwire::store::postgres
