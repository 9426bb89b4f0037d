// The terminal workflow against a running server: `hookwire send` (a message, or an event type's example),
// `hookwire messages` (recent messages with their delivery status), `hookwire message ID` (one message and
// its attempts), `hookwire resend` and `hookwire recover`. The server and token come from --server/--token,
// HOOKWIRE_SERVER/HOOKWIRE_TOKEN, or the serve config file (--config: its listen address and admin token),
// else http://127.0.0.1:8071 and the admin token kept in the data directory (--data-dir, ./hookwire-data).
#pragma once

#include <CLI/CLI.hpp>

namespace hookwire::cli {

// `serve` is the serve subcommand (its options check the config file's keys).
void add_client_commands(CLI::App& app, const CLI::App& serve, int& exit_code);

}  // namespace hookwire::cli
