#include "store/postgres/connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace hookwire::store::postgres {

namespace {

// SQLSTATE classes and codes that mean "the server is not there (now)": retry later on a new connection.
bool unavailable_state(std::string_view state) {
  return state.starts_with("08") ||   // connection exception
         state.starts_with("57P") ||  // operator intervention: admin/crash shutdown, cannot connect now
         state.starts_with("53") ||   // insufficient resources (too many connections, disk full)
         state == "57014" ||          // statement timeout (statement_timeout)
         state == "40001" || state == "40P01";  // serialization failure, deadlock: try again
}

void log_notice(void*, const char* message) {
  std::string_view m(message);
  while (!m.empty() && m.back() == '\n') m.remove_suffix(1);
  spdlog::debug("postgres: {}", m);
}

}  // namespace

int PgResult::rows() const { return PQntuples(r_.get()); }
int PgResult::columns() const { return PQnfields(r_.get()); }

std::optional<std::string_view> PgResult::get(int row, int column) const {
  if (PQgetisnull(r_.get(), row, column)) return std::nullopt;
  return std::string_view(PQgetvalue(r_.get(), row, column),
                          static_cast<size_t>(PQgetlength(r_.get(), row, column)));
}

bool PgResult::is_null(int row, int column) const { return PQgetisnull(r_.get(), row, column) != 0; }

std::string_view PgResult::text(int row, int column) const { return get(row, column).value_or(""); }

int64_t PgResult::int64(int row, int column) const {
  const std::string_view v = text(row, column);
  int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

bool PgResult::boolean(int row, int column) const { return text(row, column) == "t"; }

int64_t PgResult::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n && *n ? std::stoll(n) : 0;
}

void PgResult::Free::operator()(pg_result* r) const { PQclear(r); }
void PgConnection::Close::operator()(pg_conn* c) const { PQfinish(c); }

Result<PgConnection> PgConnection::connect(const std::string& url, const ConnectOptions& options) {
  // Ours are defaults: libpq processes the keys in order and the last value wins, so the URL (expanded from
  // "dbname") comes last and overrides what it sets itself.
  const std::string timeout = std::to_string(std::max<int64_t>(1, options.connect_timeout.count()));
  std::string pg_options = fmt::format("-c statement_timeout={}", options.statement_timeout.count());
  if (options.idle_in_transaction_timeout.count() > 0)
    pg_options += fmt::format(" -c idle_in_transaction_session_timeout={}",
                              options.idle_in_transaction_timeout.count());
  const int64_t dead = options.dead_peer_timeout.count();
  const std::string idle = std::to_string(std::max<int64_t>(1, dead / 3));
  const std::string interval = std::to_string(std::max<int64_t>(1, dead / 6));
  const std::string user_timeout = std::to_string(dead * 1000);
  if (dead > 0) {
    // The server's end too: a client that vanished releases its locks as soon as the server notices.
    pg_options += fmt::format(
        " -c tcp_keepalives_idle={} -c tcp_keepalives_interval={} -c tcp_keepalives_count=3 -c "
        "tcp_user_timeout={}",
        idle, interval, user_timeout);
  }
  std::vector<const char*> keys = {"connect_timeout", "application_name", "options"};
  std::vector<const char*> values = {timeout.c_str(), options.application_name.c_str(), pg_options.c_str()};
  if (dead > 0) {
    for (const auto& [k, v] : {std::pair<const char*, const std::string*>{"keepalives_idle", &idle},
                               {"keepalives_interval", &interval},
                               {"tcp_user_timeout", &user_timeout}}) {
      keys.push_back(k);
      values.push_back(v->c_str());
    }
    keys.push_back("keepalives");
    values.push_back("1");
    keys.push_back("keepalives_count");
    values.push_back("3");
  }
  keys.push_back("dbname");
  values.push_back(url.c_str());
  keys.push_back(nullptr);
  values.push_back(nullptr);
  pg_conn* c = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (!c) return Error::unavailable("postgres: out of memory");
  PgConnection conn(c);
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Error::unavailable(fmt::format("postgres: cannot connect: {}", why));
  }
  PQsetNoticeProcessor(c, log_notice, nullptr);
  return conn;
}

bool PgConnection::ok() const { return c_ && PQstatus(c_.get()) == CONNECTION_OK; }

bool PgConnection::in_failed_transaction() const {
  return c_ && PQtransactionStatus(c_.get()) == PQTRANS_INERROR;
}

Result<PgResult> PgConnection::finish(pg_result* r, std::string_view what) {
  PgResult result(r);
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* constraint = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : nullptr;
  std::string message = primary ? primary : PQerrorMessage(c_.get());
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  last_sqlstate_ = state ? state : "";
  last_constraint_ = constraint ? constraint : "";
  const std::string_view sqlstate = last_sqlstate_;
  if (sqlstate == "23505") return Error::conflict(message);
  if (!ok() || unavailable_state(sqlstate))
    return Error::unavailable(fmt::format("postgres: {}: {}", what, message));
  return Error::internal(fmt::format("postgres: {}: {} (SQLSTATE {})", what, message, sqlstate));
}

namespace {
struct TextParams {
  explicit TextParams(const std::vector<std::optional<std::string>>& params) {
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  }
  int size() const { return static_cast<int>(values.size()); }
  std::vector<const char*> values;
};
}  // namespace

Params& Params::owned(std::string v) {
  owned_.push_back(std::move(v));
  values_.push_back(owned_.back().c_str());
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

Params& Params::text(std::string_view v) {
  // Binary format: libpq sends the bytes with their length, so no copy and no terminating NUL is needed. A
  // NULL pointer would mean SQL NULL: an empty view still needs an address.
  values_.push_back(v.data() ? v.data() : "");
  lengths_.push_back(static_cast<int>(v.size()));
  formats_.push_back(1);
  return *this;
}

Params& Params::text(const std::optional<std::string>& v) { return v ? text(std::string_view(*v)) : null(); }
Params& Params::int64(int64_t v) { return owned(std::to_string(v)); }
Params& Params::int64(const std::optional<int64_t>& v) { return v ? int64(*v) : null(); }
Params& Params::boolean(bool v) { return owned(v ? "t" : "f"); }
Params& Params::literal(std::string v) { return owned(std::move(v)); }

Params& Params::binary(std::string v) {
  owned_.push_back(std::move(v));
  values_.push_back(owned_.back().data());
  lengths_.push_back(static_cast<int>(owned_.back().size()));
  formats_.push_back(1);
  return *this;
}

Params& Params::null() {
  values_.push_back(nullptr);
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

Result<PgResult> PgConnection::exec(std::string_view sql,
                                    const std::vector<std::optional<std::string>>& params) {
  const std::string text(sql);
  const TextParams p(params);
  return finish(PQexecParams(c_.get(), text.c_str(), p.size(), nullptr, p.values.data(), nullptr, nullptr, 0),
                "statement");
}

Result<PgResult> PgConnection::exec(std::string_view sql, const Params& params) {
  const std::string text(sql);
  return finish(PQexecParams(c_.get(), text.c_str(), params.size(), nullptr, params.values_.data(),
                             params.lengths_.data(), params.formats_.data(), 0),
                "statement");
}

Result<PgResult> PgConnection::exec_script(std::string_view sql) {
  const std::string text(sql);
  return finish(PQexec(c_.get(), text.c_str()), "script");
}

Status PgConnection::prepare(const std::string& name, std::string_view sql) {
  if (prepared_.count(name)) return {};
  const std::string text(sql);
  auto r = finish(PQprepare(c_.get(), name.c_str(), text.c_str(), 0, nullptr), "prepare " + name);
  if (!r) return r.take_error();
  prepared_.insert(name);
  return {};
}

Result<PgResult> PgConnection::exec_prepared(const std::string& name,
                                             const std::vector<std::optional<std::string>>& params) {
  const TextParams p(params);
  return finish(PQexecPrepared(c_.get(), name.c_str(), p.size(), p.values.data(), nullptr, nullptr, 0), name);
}

Result<PgResult> PgConnection::exec_prepared(const std::string& name, const Params& params) {
  return finish(PQexecPrepared(c_.get(), name.c_str(), params.size(), params.values_.data(),
                               params.lengths_.data(), params.formats_.data(), 0),
                name);
}

std::vector<Result<PgResult>> PgConnection::exec_pipeline(const std::vector<PipelineStep>& steps) {
  std::vector<Result<PgResult>> out;
  out.reserve(steps.size());
  auto lost = [&] {
    last_sqlstate_.clear();
    last_constraint_.clear();
    std::string why = PQerrorMessage(c_.get());
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Error::unavailable(fmt::format("postgres: pipeline: {}", why));
  };
  pg_conn* c = c_.get();
  if (PQenterPipelineMode(c) != 1) {
    const Error e = lost();
    while (out.size() < steps.size()) out.emplace_back(e);
    return out;
  }
  static const Params kNone;
  size_t sent = 0;
  for (const auto& step : steps) {
    const Params& p = step.params ? *step.params : kNone;
    const int queued = step.prepared
                           ? PQsendQueryPrepared(c, step.prepared->c_str(), p.size(), p.values_.data(),
                                                 p.lengths_.data(), p.formats_.data(), 0)
                           : PQsendQueryParams(c, step.sql, p.size(), nullptr, p.values_.data(),
                                               p.lengths_.data(), p.formats_.data(), 0);
    if (queued != 1) break;
    ++sent;
  }
  bool synced = PQpipelineSync(c) == 1;
  // Each sent step's result, then the NULL that ends it; then the sync's own result.
  for (size_t i = 0; i < sent && synced; ++i) {
    pg_result* r = PQgetResult(c);
    if (!r) {
      synced = false;
      break;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
      out.emplace_back(Error::internal("postgres: skipped: an earlier statement of the pipeline failed"));
    } else {
      const std::string what = steps[i].prepared ? *steps[i].prepared : std::string(steps[i].sql);
      out.push_back(finish(r, what));
    }
    while (pg_result* extra = PQgetResult(c)) PQclear(extra);
  }
  if (synced) {
    pg_result* r = PQgetResult(c);
    synced = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
  }
  if (!synced || PQexitPipelineMode(c) != 1) {
    // Lost midway (or libpq out of step with the server): the connection is of no further use.
    const Error e = lost();
    while (out.size() < steps.size()) out.emplace_back(e);
    c_.reset();  // closed: ok() is false from now on, and the owner makes a new one
    return out;
  }
  if (out.size() < steps.size()) {  // libpq refused to queue a step (its own error)
    const Error unsent = lost();
    while (out.size() < steps.size()) out.emplace_back(unsent);
  }
  return out;
}

std::string describe_server(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (error) PQfreemem(error);
  if (!options) return "";
  std::string host, port, dbname;
  for (auto* o = options; o->keyword; ++o) {
    if (!o->val) continue;
    const std::string_view key(o->keyword);
    if (key == "host" || (key == "hostaddr" && host.empty())) host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
  }
  PQconninfoFree(options);
  return fmt::format("{}:{}/{}", host.empty() ? "localhost" : host, port.empty() ? "5432" : port, dbname);
}

int PgConnection::socket() const { return PQsocket(c_.get()); }
int PgConnection::backend_pid() const { return PQbackendPID(c_.get()); }

Result<std::vector<PgConnection::Notification>> PgConnection::notifications() {
  if (PQconsumeInput(c_.get()) == 0 || !ok()) {
    std::string why = PQerrorMessage(c_.get());
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Error::unavailable(fmt::format("postgres: connection lost: {}", why));
  }
  std::vector<Notification> out;
  while (PGnotify* n = PQnotifies(c_.get())) {
    out.push_back({n->relname, n->be_pid, n->extra ? n->extra : ""});
    PQfreemem(n);
  }
  return out;
}

}  // namespace hookwire::store::postgres
