#include "store/postgres/connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>

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

std::string_view PgResult::text(int row, int column) const { return get(row, column).value_or(""); }

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
  const std::string pg_options = fmt::format("-c statement_timeout={}", options.statement_timeout.count());
  const char* keys[] = {"connect_timeout", "application_name", "options", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), options.application_name.c_str(), pg_options.c_str(), url.c_str(),
                          nullptr};
  pg_conn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
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

Result<PgResult> PgConnection::finish(pg_result* r, std::string_view what) {
  PgResult result(r);
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = primary ? primary : PQerrorMessage(c_.get());
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const std::string_view sqlstate = state ? state : "";
  if (sqlstate == "23505") return Error::conflict(message);
  if (!ok() || unavailable_state(sqlstate))
    return Error::unavailable(fmt::format("postgres: {}: {}", what, message));
  return Error::internal(fmt::format("postgres: {}: {} (SQLSTATE {})", what, message, sqlstate));
}

namespace {
struct Params {
  explicit Params(const std::vector<std::optional<std::string>>& params) {
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  }
  int size() const { return static_cast<int>(values.size()); }
  std::vector<const char*> values;
};
}  // namespace

Result<PgResult> PgConnection::exec(std::string_view sql,
                                    const std::vector<std::optional<std::string>>& params) {
  const std::string text(sql);
  const Params p(params);
  return finish(PQexecParams(c_.get(), text.c_str(), p.size(), nullptr, p.values.data(), nullptr, nullptr, 0),
                "statement");
}

Result<PgResult> PgConnection::exec_script(std::string_view sql) {
  const std::string text(sql);
  return finish(PQexec(c_.get(), text.c_str()), "script");
}

Status PgConnection::prepare(const std::string& name, std::string_view sql) {
  if (std::find(prepared_.begin(), prepared_.end(), name) != prepared_.end()) return {};
  const std::string text(sql);
  auto r = finish(PQprepare(c_.get(), name.c_str(), text.c_str(), 0, nullptr), "prepare " + name);
  if (!r) return r.take_error();
  prepared_.push_back(name);
  return {};
}

Result<PgResult> PgConnection::exec_prepared(const std::string& name,
                                             const std::vector<std::optional<std::string>>& params) {
  const Params p(params);
  return finish(PQexecPrepared(c_.get(), name.c_str(), p.size(), p.values.data(), nullptr, nullptr, 0), name);
}

}  // namespace hookwire::store::postgres
