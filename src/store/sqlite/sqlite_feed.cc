// SqliteTx's feed, retention and token operations, and SqliteStore's feed head.
// PLACEHOLDER while the pull door is built (issue #19): every operation answers kInternal until the store
// work lands. Not to be merged into a release as it is.
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_tx.h"

namespace hookwire::store {

namespace {
Error not_built() { return Error::internal("feed store operations are not built yet"); }
}  // namespace

Result<FeedPage> SqliteTx::read_feed(const FeedQuery&) { return not_built(); }
Result<int64_t> SqliteTx::feed_start() { return not_built(); }
Result<int64_t> SqliteTx::feed_position_at(std::string_view, TimePoint) { return not_built(); }
Result<FeedConsumer> SqliteTx::get_feed_consumer(std::string_view, std::string_view, std::string_view) {
  return not_built();
}
Status SqliteTx::put_feed_consumer(const FeedConsumer&) { return not_built(); }
Result<int> SqliteTx::prune_messages(TimePoint, int) { return not_built(); }
Result<int> SqliteTx::expire_payloads(TimePoint, int) { return not_built(); }
Status SqliteTx::insert_token(const ApiToken&) { return not_built(); }
Result<ApiToken> SqliteTx::get_token(std::string_view) { return not_built(); }
Result<std::vector<ApiToken>> SqliteTx::list_tokens() { return not_built(); }
Status SqliteTx::update_token_expiry(std::string_view, std::optional<TimePoint>) { return not_built(); }
Status SqliteTx::delete_tokens_expired_before(TimePoint) { return not_built(); }

int64_t SqliteStore::feed_head() const { return 0; }
void SqliteStore::set_feed_listener(std::function<void(const FeedAdvance&)>) {}

}  // namespace hookwire::store
