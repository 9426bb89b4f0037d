// UnavailableTx: a Tx that answers kUnavailable to everything (for stores: a stopped one, an unreachable
// database).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/store.h"

namespace hookwire::store {

// A Tx whose every operation fails with kUnavailable: what read functions submitted to a stopped store run
// against, so that they still produce a result (a read's done carries no status of its own), and what a store
// whose database cannot be reached gives them (PostgresStore). `detail` is the error's text.
class UnavailableTx final : public Tx {
 public:
  explicit UnavailableTx(std::string detail = "store is stopped") : detail_(std::move(detail)) {}
  Result<Application> get_application(std::string_view) override { return err(); }
  Result<Page<Application>> list_applications(const PageQuery&) override { return err(); }
  Status insert_application(const Application&) override { return err(); }
  Status update_application(const Application&) override { return err(); }
  Status delete_application(std::string_view) override { return err(); }
  Result<EventType> get_event_type(std::string_view) override { return err(); }
  Result<Page<EventType>> list_event_types(const PageQuery&, bool) override { return err(); }
  Status insert_event_type(const EventType&) override { return err(); }
  Status update_event_type(const EventType&) override { return err(); }
  Status delete_event_type(std::string_view) override { return err(); }
  Result<Endpoint> get_endpoint(std::string_view, std::string_view) override { return err(); }
  Result<Page<Endpoint>> list_endpoints(std::string_view, const PageQuery&) override { return err(); }
  Result<std::vector<Endpoint>> list_enabled_endpoints(std::string_view) override { return err(); }
  Status insert_endpoint(const Endpoint&) override { return err(); }
  Status update_endpoint(const Endpoint&) override { return err(); }
  Status delete_endpoint(std::string_view, std::string_view) override { return err(); }
  Status insert_message(Message&) override { return err(); }
  Result<Message> get_message(std::string_view, std::string_view) override { return err(); }
  Result<Page<Message>> list_messages(std::string_view, const MessageQuery&) override { return err(); }
  Result<Message> get_message_by_idempotency_key(std::string_view, std::string_view) override {
    return err();
  }
  Status clear_message_idempotency_key(std::string_view, std::string_view) override { return err(); }
  Status expunge_message_payload(std::string_view, std::string_view) override { return err(); }
  Result<ExpungeBatch> expunge_payloads_after(std::string_view, std::string_view, int) override {
    return err();
  }
  Status insert_attempt(const Attempt&) override { return err(); }
  Result<Attempt> get_attempt(std::string_view, std::string_view, std::string_view) override { return err(); }
  Status expunge_attempt_response(std::string_view, std::string_view, std::string_view) override {
    return err();
  }
  Status insert_delivery(const Delivery&) override { return err(); }
  Result<std::vector<Settled>> settle_deliveries(std::span<const Settlement>) override { return err(); }
  Result<EndpointHealthRecord> get_endpoint_health(std::string_view) override { return err(); }
  Status put_endpoint_health(std::string_view, const EndpointHealthRecord&) override { return err(); }
  Status set_endpoint_disabled(std::string_view, std::optional<std::string>,
                               std::optional<TimePoint>) override {
    return err();
  }
  Result<std::vector<AttemptSummary>> recent_endpoint_attempts(std::string_view, std::string_view, TimePoint,
                                                               int) override {
    return err();
  }
  Result<int> requeue_failed_deliveries(std::string_view, std::string_view, TimePoint, TimePoint,
                                        TimePoint) override {
    return err();
  }
  Result<std::vector<Delivery>> list_deliveries_by_message(std::string_view, std::string_view) override {
    return err();
  }
  Result<Page<Attempt>> list_attempts_by_message(std::string_view, std::string_view,
                                                 const AttemptQuery&) override {
    return err();
  }
  Result<Page<Attempt>> list_attempts_by_endpoint(std::string_view, std::string_view,
                                                  const AttemptQuery&) override {
    return err();
  }
  Result<Page<MessageDelivery>> list_endpoint_messages(std::string_view, std::string_view,
                                                       const DeliveryQuery&) override {
    return err();
  }
  Result<Page<EndpointDelivery>> list_message_endpoints(std::string_view, std::string_view,
                                                        const PageQuery&) override {
    return err();
  }
  Result<DeliveryCounts> count_endpoint_deliveries(std::string_view, std::string_view,
                                                   std::optional<TimePoint>,
                                                   std::optional<TimePoint>) override {
    return err();
  }
  Result<Page<MessageDelivery>> list_failed_deliveries(std::string_view, const DeliveryQuery&) override {
    return err();
  }
  Result<bool> try_lock_job(std::string_view) override { return err(); }
  Result<std::string> setting_or_put(std::string_view, std::string_view) override { return err(); }
  Result<IdempotencyRecord> get_idempotency(std::string_view) override { return err(); }
  Status put_idempotency(const IdempotencyRecord&) override { return err(); }
  Status purge_idempotency(TimePoint) override { return err(); }
  Result<Source> get_source(std::string_view) override { return err(); }
  Result<Page<Source>> list_sources(const PageQuery&) override { return err(); }
  Status insert_source(const Source&) override { return err(); }
  Status update_source(const Source&) override { return err(); }
  Status delete_source(std::string_view) override { return err(); }
  Status insert_source_request(const SourceRequest&, int) override { return err(); }
  Result<SourceRequest> get_source_request(std::string_view, std::string_view) override { return err(); }
  Result<Page<SourceRequest>> list_source_requests(std::string_view, const SourceRequestQuery&) override {
    return err();
  }
  Result<int> prune_source_requests(int) override { return err(); }
  Result<FeedPage> read_feed(const FeedQuery&) override { return err(); }
  Result<int64_t> feed_start() override { return err(); }
  Result<int64_t> feed_position_at(std::string_view, TimePoint) override { return err(); }
  Result<FeedConsumer> get_feed_consumer(std::string_view, std::string_view, std::string_view) override {
    return err();
  }
  Status put_feed_consumer(const FeedConsumer&) override { return err(); }
  Result<int> prune_messages(TimePoint, int) override { return err(); }
  Result<int> expire_payloads(TimePoint, int) override { return err(); }
  Status insert_token(const ApiToken&) override { return err(); }
  Result<ApiToken> get_token(std::string_view) override { return err(); }
  Result<ApiToken> get_token_by_hash(std::string_view) override { return err(); }
  Result<std::vector<ApiToken>> list_tokens() override { return err(); }
  Result<ApiToken> redeem_token(std::string_view, int, TimePoint) override { return err(); }
  Status update_token_expiry(std::string_view, std::optional<TimePoint>) override { return err(); }
  Status delete_tokens_expired_before(TimePoint) override { return err(); }
  Status insert_background_task(const BackgroundTask&) override { return err(); }
  Result<BackgroundTask> get_background_task(std::string_view) override { return err(); }
  Result<Page<BackgroundTask>> list_background_tasks(const BackgroundTaskQuery&) override { return err(); }
  Result<int> prune_background_tasks(TimePoint, int) override { return err(); }
  Result<AppUsage> app_usage(std::string_view, TimePoint, TimePoint) override { return err(); }
  Result<std::vector<EventTypeUsage>> event_type_usage() override { return err(); }

 private:
  Error err() const { return Error::unavailable(detail_); }
  std::string detail_;
};

}  // namespace hookwire::store
