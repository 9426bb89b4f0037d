// `hookwire listen`: forward a hookwire application's (or inbound source's) events to a local service,
// without a tunnel: it reads GET .../poller/{sink}/stream?consumer={name}, POSTs each payload (its bytes as
// stored) to
// --forward-to signed with Standard Webhooks under a secret kept in a file (or with the provider's own
// headers,
// --pass-headers), retries while the local service is down, and commits each forwarded event's offset
// (POST .../polling-endpoint/{sink}/consumer/{name}/commit), so a restart of either side resumes after the
// last event forwarded. One line per event on stdout; exits 0 on SIGINT/SIGTERM.
#pragma once

#include <CLI/CLI.hpp>

namespace hookwire::cli {

void add_listen_command(CLI::App& app, int& exit_code);

}  // namespace hookwire::cli
