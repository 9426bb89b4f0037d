#include "store/sqlite/recent_keys.h"

#include <algorithm>

namespace hookwire::store {

namespace {
constexpr size_t kFirstLevelCapacity = 65536;
constexpr size_t kBitsPerHash = 10;
// Odd multipliers that spread a hash over the 512 bits of a block, one per bit set.
constexpr uint64_t kSpread[8] = {0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                                 0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53,
                                 0x94D049BB133111EB, 0xBF58476D1CE4E5B9};
}  // namespace

void KeyFilter::bits(uint64_t hash, const Level& level, size_t* block, uint16_t (&bit)[8]) {
  *block = static_cast<size_t>((static_cast<unsigned __int128>(hash) * level.blocks.size()) >> 64);
  for (int i = 0; i < 8; ++i) bit[i] = static_cast<uint16_t>(((hash ^ (hash >> 29)) * kSpread[i]) >> 55);
}

void KeyFilter::add(uint64_t hash) {
  if (levels_.empty() || levels_.back().count >= levels_.back().capacity) {
    Level next;
    next.capacity = levels_.empty() ? kFirstLevelCapacity : 2 * levels_.back().capacity;
    next.blocks.assign((next.capacity * kBitsPerHash + 511) / 512, {});
    levels_.push_back(std::move(next));
  }
  Level& level = levels_.back();
  size_t block;
  uint16_t bit[8];
  bits(hash, level, &block, bit);
  for (uint16_t b : bit) level.blocks[block][b / 64] |= uint64_t{1} << (b % 64);
  ++level.count;
}

bool KeyFilter::may_contain(uint64_t hash) const {
  for (const Level& level : levels_) {
    size_t block;
    uint16_t bit[8];
    bits(hash, level, &block, bit);
    bool all = true;
    for (uint16_t b : bit) all = all && (level.blocks[block][b / 64] >> (b % 64) & 1);
    if (all) return true;
  }
  return false;
}

size_t KeyFilter::bytes() const {
  size_t n = 0;
  for (const Level& level : levels_) n += level.blocks.size() * sizeof(level.blocks[0]);
  return n;
}

uint64_t RecentKeys::hash(std::string_view entry_key) {
  // Stored on disk, so defined here byte for byte (std::hash may differ between library versions): eight
  // bytes at a time, little-endian, each word mixed in with multiply-rotate steps, then murmur3's finalizer.
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15;
  uint64_t h = 0x243F6A8885A308D3 ^ (entry_key.size() * kMul);
  const auto* p = reinterpret_cast<const unsigned char*>(entry_key.data());
  size_t left = entry_key.size();
  while (left > 0) {
    const size_t n = std::min<size_t>(8, left);
    uint64_t w = 0;
    for (size_t i = 0; i < n; ++i) w |= uint64_t{p[i]} << (8 * i);
    p += n;
    left -= n;
    w *= 0xFF51AFD7ED558CCD;
    w = (w << 31) | (w >> 33);
    h ^= w;
    h = ((h << 27) | (h >> 37)) * kMul + 0x52DCE729;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCD;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53;
  h ^= h >> 33;
  return h;
}

std::string RecentKeys::entry_key(std::string_view app_id, std::string_view key) {
  std::string k;
  k.reserve(key.size() + 1 + app_id.size());
  k.append(key);
  k.push_back('\0');
  k.append(app_id);
  return k;
}

std::optional<int64_t> RecentKeys::find(const std::string& entry_key) const {
  if (auto it = current_.find(entry_key); it != current_.end()) return it->second;
  if (auto it = frozen_.find(entry_key); it != frozen_.end()) return it->second;
  return std::nullopt;
}

void RecentKeys::add(std::string entry_key, int64_t msg_rowid) {
  current_.insert_or_assign(std::move(entry_key), msg_rowid);
  current_last_rowid_ = std::max(current_last_rowid_, msg_rowid);
  if (current_.size() >= kGenerationKeys && frozen_.empty()) freeze();
}

void RecentKeys::freeze() {
  frozen_.swap(current_);
  current_.reserve(kGenerationKeys);  // grown once, not rehashed step by step while the writer waits
  fold_order_.clear();
  fold_order_.reserve(frozen_.size());
  for (const auto& e : frozen_) fold_order_.push_back({hash(e.first), &e});
  std::sort(fold_order_.begin(), fold_order_.end(),
            [](const Folded& a, const Folded& b) { return a.hash < b.hash; });
  folded_ = 0;
  frozen_last_rowid_ = current_last_rowid_;
  current_last_rowid_ = 0;
}

RecentKeys::FoldStep RecentKeys::next_fold_step() const {
  FoldStep step;
  if (frozen_.empty()) return step;
  if (folded_ < fold_order_.size()) {
    step.begin = fold_order_.data() + folded_;
    step.end = fold_order_.data() + std::min(fold_order_.size(), folded_ + kFoldChunk);
  } else {
    step.folded_up_to = frozen_last_rowid_;
  }
  return step;
}

void RecentKeys::fold_step_committed(const FoldStep& step) {
  for (auto it = step.begin; it != step.end; ++it) indexed(it->hash);
  folded_ += static_cast<size_t>(step.end - step.begin);
  if (!step.folded_up_to) return;
  // The generation is in the index and a restart no longer reads it back: lookups go to the index now.
  fold_order_.clear();
  fold_order_.shrink_to_fit();
  frozen_.clear();
  if (current_.size() >= kGenerationKeys) freeze();
}

}  // namespace hookwire::store
