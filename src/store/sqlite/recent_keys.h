// RecentKeys: the idempotency keys of the newest messages (API idempotency keys and inbound deduplication
// keys), held in memory in front of the `message_keys` index.
//
// Why: these keys are random (UUIDs, GitHub delivery ids). Inserting each into a B-tree as its message is
// written dirties one index page per message, and each dirty page is written to the WAL at commit and to the
// database at checkpoint: on the inbound path that was the largest cost after TCP itself. Instead:
//   - a new key is appended to `message_keys_log` (in insertion order, so it shares pages with its
//     neighbours) in the message's transaction, and kept here once that transaction commits;
//   - once kGenerationKeys keys have gathered, the generation is frozen and folded into `message_keys` in key
//     order, kFoldChunk keys per write batch: each index page then takes many keys per write;
//   - when the whole generation is in the index, its log rows are deleted, kDeleteChunk per batch.
// Folding rides along with the write batches in small steps so that no batch stalls for long.
// After a restart the log (what was not folded yet) is read back into memory.
//
// Entries are hints: a key is held by the newest entry found in the transaction's own pending keys, the
// current generation, the folding one, then `message_keys`; and only if the message row (by rowid) still
// has that application and key. clear_message_idempotency_key and deleted applications leave stale hints,
// which read as "free".
//
// In front of the probe of `message_keys` sits a filter of the keys it holds (KeyFilter, a blocked Bloom
// filter: no false negatives, ~1 % false positives), built at open by reading the index once and fed by each
// committed fold step. A new key, the common case, then costs no B-tree probe at all.
//
// Thread-safety: none; the store's writer thread owns it. It mirrors committed state only: the store adds a
// transaction's keys after its COMMIT and advances the fold after the COMMIT that wrote the step. That is
// also why one database file must have one writing SqliteStore at a time (the store locks the file).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hookwire::store {

// A set of 64-bit hashes that answers "maybe" or "no", never a false "no". Blocked: each hash sets 8 bits in
// one 64-byte block (one cache miss per query). Grows by adding a level twice the size of the last when that
// one holds its capacity, at 10 bits per hash (~1 % false positives per level).
class KeyFilter {
 public:
  void add(uint64_t hash);
  bool may_contain(uint64_t hash) const;
  size_t bytes() const;

 private:
  struct Level {
    std::vector<std::array<uint64_t, 8>> blocks;
    size_t capacity = 0, count = 0;
  };
  static void bits(uint64_t hash, const Level& level, size_t* block, uint16_t (&bit)[8]);
  std::vector<Level> levels_;
};

class RecentKeys {
 public:
  static constexpr size_t kGenerationKeys = 32768;
  static constexpr size_t kFoldChunk = 256;
  static constexpr int64_t kDeleteChunk = 1024;

  // Entries are keyed by the key, a NUL, the application id, and folded in that order: the order of the
  // message_keys index. The key comes first because it is what differs (a UUID), so comparisons end early.
  using Map = std::unordered_map<std::string, int64_t>;  // entry key -> message rowid
  using Entry = Map::value_type;
  static std::string entry_key(std::string_view app_id, std::string_view key);
  // The (application id, key) of an entry key.
  static std::pair<std::string_view, std::string_view> split(std::string_view entry_key);

  // The message rowid of the newest committed hint for `entry_key` in memory.
  std::optional<int64_t> find(const std::string& entry_key) const;

  // A committed key: its message's rowid and its row in message_keys_log. Freezes the generation when it
  // is full and the previous one is done (sorting it: a few ms, once per generation).
  void add(std::string entry_key, int64_t msg_rowid, int64_t log_rowid);

  // What the next write batch does towards the fold: index the entries [begin, end) (in entry key order),
  // or delete the generation's log rows up to `delete_log_up_to`; nothing when no generation is frozen.
  struct FoldStep {
    const Entry* const* begin = nullptr;
    const Entry* const* end = nullptr;
    std::optional<int64_t> delete_log_up_to;
    bool empty() const { return begin == end && !delete_log_up_to; }
  };
  FoldStep next_fold_step() const;
  // The step's transaction committed: its keys are in the index, or its log rows gone.
  void fold_step_committed(const FoldStep& step);

  // The index holds `entry_key` (at open: every key read from it; then each fold step as it commits).
  void indexed(std::string_view entry_key) { index_filter_.add(hash(entry_key)); }
  // False only when the index surely does not hold `entry_key`.
  bool maybe_indexed(std::string_view entry_key) const { return index_filter_.may_contain(hash(entry_key)); }

  // Entries in memory (the frozen generation's stay until its log is deleted).
  size_t size() const { return current_.size() + frozen_.size(); }

 private:
  void freeze();
  static uint64_t hash(std::string_view entry_key) { return std::hash<std::string_view>{}(entry_key); }

  Map current_;
  int64_t current_first_log_ = 0, current_last_log_ = 0;  // its log rows (0: none yet)
  Map frozen_;                                            // the generation being folded, for lookups
  std::vector<const Entry*> fold_order_;                  // frozen_'s entries by entry key
  size_t folded_ = 0;                                     // how many of fold_order_ are in the index
  int64_t log_deleted_up_to_ = 0, frozen_last_log_ = 0;   // the frozen generation's log rows left to delete
  KeyFilter index_filter_;                                // what message_keys holds
};

}  // namespace hookwire::store
