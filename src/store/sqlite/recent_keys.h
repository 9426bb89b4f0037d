// RecentKeys: the idempotency keys of the newest messages (API idempotency keys and inbound deduplication
// keys), held in memory in front of the `message_keys` index.
//
// Why: these keys are random (UUIDs, GitHub delivery ids). Inserting each into a B-tree as its message is
// written dirties one index page per message, and each dirty page is written to the WAL at commit and to the
// database at checkpoint: on the inbound path that was the largest cost after TCP itself. Instead:
//   - a new key is written only in its message's row (`messages.idempotency_key`), and kept here once that
//     transaction commits;
//   - once kGenerationKeys keys have gathered, the generation is frozen and folded into `message_keys` in the
//     index's order (by hash, below), kFoldChunk keys per write batch: each index page then takes many keys
//     per write;
//   - when the whole generation is in the index, `message_keys_state.folded_up_to` moves to the rowid of its
//     newest message.
// Folding rides along with the write batches in small steps so that no batch stalls for long.
// After a restart the keys of the messages above `folded_up_to` (what was not folded yet) are read back into
// memory. That needs message rowids that only ever increase, so the writer assigns them itself (SQLite's own
// choice, one above the largest, goes back when the newest rows are deleted).
//
// Entries are hints: a key is held by the newest entry found in the transaction's own pending keys, the
// current generation, the folding one, then `message_keys`; and only if the message row (by rowid) still
// has that application and key. clear_message_idempotency_key and deleted applications leave stale hints,
// which read as "free".
//
// `message_keys` holds (hash of the entry key, message rowid) pairs (migration 11), not the keys: entries of
// ~14 bytes instead of ~75, ~450 to an 8 KiB page, so a fold step rewrites a fifth of the pages and each
// insert compares integers (bench/inbound: +4 %). A probe returns every message whose key hashes alike,
// newest first (one, unless the key was used again after its TTL, or two keys share a hash); each is checked
// against its row.
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

  // Entries are keyed by the key, a NUL and the application id (the key first: it is what differs, so
  // comparisons end early); the index stores their hash().
  using Map = std::unordered_map<std::string, int64_t>;  // entry key -> message rowid
  using Entry = Map::value_type;
  static std::string entry_key(std::string_view app_id, std::string_view key);

  // The message rowid of the newest committed hint for `entry_key` in memory.
  std::optional<int64_t> find(const std::string& entry_key) const;

  // A committed key and its message's rowid (keys come in increasing rowid order). Freezes the generation
  // when it is full and the previous one is done (sorting it: a few ms, once per generation).
  void add(std::string entry_key, int64_t msg_rowid);

  // An entry of the frozen generation with its hash: what the index stores, and the fold's order.
  struct Folded {
    uint64_t hash;
    const Entry* entry;
  };
  // What the next write batch does towards the fold: index the entries [begin, end) (in hash order), or,
  // once they all are, set `message_keys_state.folded_up_to` to `folded_up_to`; nothing when no generation
  // is frozen.
  struct FoldStep {
    const Folded* begin = nullptr;
    const Folded* end = nullptr;
    std::optional<int64_t> folded_up_to;
    bool empty() const { return begin == end && !folded_up_to; }
  };
  FoldStep next_fold_step() const;
  // The step's transaction committed: its keys are in the index, or the generation is done.
  void fold_step_committed(const FoldStep& step);

  // The index holds an entry of this hash() (at open: every entry read from it; then each fold step as it
  // commits).
  void indexed(uint64_t key_hash) { index_filter_.add(key_hash); }
  // False only when the index surely holds no entry of this hash().
  bool maybe_indexed(uint64_t key_hash) const { return index_filter_.may_contain(key_hash); }

  // What `message_keys` stores of an entry key: a 64-bit hash that is the same in every build and process
  // (it is kept on disk), with the message rowid. Entries of equal hash are told apart by their message row.
  static uint64_t hash(std::string_view entry_key);

  // Entries in memory (the frozen generation's stay until its fold is done).
  size_t size() const { return current_.size() + frozen_.size(); }

 private:
  void freeze();

  Map current_;
  int64_t current_last_rowid_ = 0;  // the newest message rowid of current_
  Map frozen_;                      // the generation being folded, for lookups
  std::vector<Folded> fold_order_;  // frozen_'s entries by hash: the index's order
  size_t folded_ = 0;               // how many of fold_order_ are in the index
  int64_t frozen_last_rowid_ = 0;   // the newest message rowid of frozen_
  KeyFilter index_filter_;          // what message_keys holds
};

}  // namespace hookwire::store
