#include "store/sqlite/recent_keys.h"

#include <algorithm>
#include <iterator>

namespace hookwire::store {

std::string RecentKeys::entry_key(std::string_view app_id, std::string_view key) {
  std::string k;
  k.reserve(key.size() + 1 + app_id.size());
  k.append(key);
  k.push_back('\0');
  k.append(app_id);
  return k;
}

std::pair<std::string_view, std::string_view> RecentKeys::split(std::string_view entry_key) {
  const size_t nul = entry_key.rfind('\0');  // application ids have no NUL; a key (from JSON) might
  return {entry_key.substr(nul + 1), entry_key.substr(0, nul)};
}

std::optional<int64_t> RecentKeys::find(std::string_view entry_key) const {
  if (auto it = current_.find(entry_key); it != current_.end()) return it->second;
  if (auto it = folding_.find(entry_key); it != folding_.end()) return it->second;
  return std::nullopt;
}

void RecentKeys::add(std::string entry_key, int64_t msg_rowid, int64_t log_rowid) {
  current_.insert_or_assign(std::move(entry_key), msg_rowid);
  if (current_first_log_ == 0) current_first_log_ = log_rowid;
  current_first_log_ = std::min(current_first_log_, log_rowid);
  current_last_log_ = std::max(current_last_log_, log_rowid);
  if (current_.size() >= kGenerationKeys && !frozen_) freeze();
}

void RecentKeys::freeze() {
  folding_ = std::move(current_);  // already in key order: nothing to sort
  current_.clear();
  frozen_ = true;
  log_deleted_up_to_ = current_first_log_ - 1;
  frozen_last_log_ = current_last_log_;
  current_first_log_ = current_last_log_ = 0;
}

RecentKeys::FoldStep RecentKeys::next_fold_step() const {
  FoldStep step{folding_.end(), folding_.end(), std::nullopt};
  if (!frozen_) return step;
  if (!folding_.empty()) {
    step.begin = folding_.begin();
    step.end = std::next(step.begin, static_cast<std::ptrdiff_t>(std::min(kFoldChunk, folding_.size())));
  } else {
    step.delete_log_up_to = std::min(frozen_last_log_, log_deleted_up_to_ + kDeleteChunk);
  }
  return step;
}

void RecentKeys::fold_step_committed(const FoldStep& step) {
  if (step.begin != step.end) folding_.erase(step.begin, step.end);
  if (!step.delete_log_up_to) return;
  log_deleted_up_to_ = *step.delete_log_up_to;
  if (log_deleted_up_to_ < frozen_last_log_) return;
  frozen_ = false;
  if (current_.size() >= kGenerationKeys) freeze();
}

}  // namespace hookwire::store
