#include "core/ids.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "core/encoding.h"

namespace hookwire {
namespace {
constexpr int64_t kKsuidEpoch = 1'400'000'000;
constexpr size_t kRawBytes = 20;
constexpr size_t kTextLen = 27;
constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

using Raw = std::array<uint8_t, kRawBytes>;

// Big-endian base62 of 20 bytes into exactly 27 characters (ASCII order of the alphabet = numeric order).
// Long division by 62 over five 32-bit limbs: 27 x 5 divisions by a constant, which compile to multiplies.
std::string encode62(const Raw& raw) {
  uint32_t limbs[5];
  for (int i = 0; i < 5; ++i)
    limbs[i] = uint32_t(raw[4 * i]) << 24 | uint32_t(raw[4 * i + 1]) << 16 | uint32_t(raw[4 * i + 2]) << 8 |
               uint32_t(raw[4 * i + 3]);
  std::string out(kTextLen, '0');
  for (size_t pos = kTextLen; pos-- > 0;) {
    uint64_t rem = 0;
    for (auto& limb : limbs) {
      const uint64_t acc = rem << 32 | limb;
      limb = static_cast<uint32_t>(acc / 62);
      rem = acc % 62;
    }
    out[pos] = kBase62[rem];
  }
  return out;
}

// Random bytes for ids, drawn from the CSPRNG 4 KiB at a time per thread (one RAND_bytes call per 256 ids).
void fill_random(uint8_t* out, size_t n) {
  thread_local std::string pool;
  thread_local size_t used = 0;
  if (pool.size() - used < n) {
    pool = random_bytes(4096);
    used = 0;
  }
  std::memcpy(out, pool.data() + used, n);
  used += n;
}

// Increments the 16-byte payload as one big-endian number; carries into the timestamp if it overflows.
void increment(Raw& r) {
  for (size_t i = kRawBytes; i-- > 0;)
    if (++r[i] != 0) return;
}

std::mutex g_mu;
Raw g_last{};
}  // namespace

std::string new_id(std::string_view prefix, TimePoint now) {
  Raw raw{};
  const int64_t secs = std::max<int64_t>(0, unix_seconds(now) - kKsuidEpoch);
  const uint32_t ts = static_cast<uint32_t>(secs);
  raw[0] = ts >> 24, raw[1] = ts >> 16, raw[2] = ts >> 8, raw[3] = ts;
  fill_random(raw.data() + 4, 16);
  {
    // Strictly increasing within the process: if the clock did not move past the last id, count up from it.
    std::lock_guard lock(g_mu);
    if (raw <= g_last) {
      raw = g_last;
      increment(raw);
    }
    g_last = raw;
  }
  std::string out(prefix);
  out += '_';
  out += encode62(raw);
  return out;
}

std::string new_id(std::string_view prefix) { return new_id(prefix, SystemClock::instance().now()); }

bool is_id(std::string_view s, std::string_view prefix) {
  if (s.size() != prefix.size() + 1 + kTextLen || s.substr(0, prefix.size()) != prefix ||
      s[prefix.size()] != '_')
    return false;
  for (char c : s.substr(prefix.size() + 1))
    if (!std::strchr(kBase62, c) || c == '\0') return false;
  return true;
}

std::string id_after(std::string_view id) {
  std::string out(id);
  // Counts up in base62 from the last character (the alphabet's ASCII order is its numeric order).
  for (size_t i = out.size(); i-- > 0 && out[i] != '_';) {
    const char* digit = std::strchr(kBase62, out[i]);
    if (!digit || *digit == '\0') break;  // not an id: nothing sensible to count
    if (out[i] != 'z') {
      out[i] = digit[1];
      return out;
    }
    out[i] = '0';
  }
  return out;
}

std::string min_id_at(std::string_view prefix, TimePoint t) {
  Raw raw{};
  const int64_t secs = std::max<int64_t>(0, unix_seconds(t) - kKsuidEpoch);
  const uint32_t ts = static_cast<uint32_t>(secs);
  raw[0] = ts >> 24, raw[1] = ts >> 16, raw[2] = ts >> 8, raw[3] = ts;
  std::string out(prefix);
  out += '_';
  out += encode62(raw);
  return out;
}

}  // namespace hookwire
