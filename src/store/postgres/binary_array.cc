#include "store/postgres/binary_array.h"

#include <cassert>

namespace hookwire::store::postgres {

namespace {

// Network byte order, as every integer of the binary format is.
void put32(std::string& out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  out.append(b, 4);
}

void put64(std::string& out, uint64_t v) {
  put32(out, static_cast<uint32_t>(v >> 32));
  put32(out, static_cast<uint32_t>(v));
}

}  // namespace

void BinaryArray::length(int32_t n) {
  put32(elements_, static_cast<uint32_t>(n));
  ++count_;
}

void BinaryArray::text(std::string_view v) {
  assert(element_ == Element::kText);
  length(static_cast<int32_t>(v.size()));
  elements_.append(v);
}

void BinaryArray::text(const std::optional<std::string>& v) {
  if (v) {
    text(std::string_view(*v));
  } else {
    null();
  }
}

void BinaryArray::int64(int64_t v) {
  assert(element_ == Element::kBigint);
  length(8);
  put64(elements_, static_cast<uint64_t>(v));
}

void BinaryArray::int64(const std::optional<int64_t>& v) {
  if (v) {
    int64(*v);
  } else {
    null();
  }
}

void BinaryArray::int32(int32_t v) {
  assert(element_ == Element::kInteger);
  length(4);
  put32(elements_, static_cast<uint32_t>(v));
}

void BinaryArray::boolean(bool v) {
  assert(element_ == Element::kBoolean);
  length(1);
  elements_.push_back(v ? '\1' : '\0');
}

void BinaryArray::null() {
  length(-1);
  has_null_ = true;
}

std::string BinaryArray::take() {
  // Dimensions, the has-NULL flag, the element type; then each dimension's length and lower bound (an empty
  // array has no dimension).
  std::string out;
  out.reserve(20 + elements_.size());
  put32(out, count_ ? 1 : 0);
  put32(out, has_null_ ? 1 : 0);
  put32(out, static_cast<uint32_t>(element_));
  if (count_) {
    put32(out, static_cast<uint32_t>(count_));
    put32(out, 1);
  }
  out += elements_;
  elements_.clear();
  count_ = 0;
  has_null_ = false;
  return out;
}

}  // namespace hookwire::store::postgres
