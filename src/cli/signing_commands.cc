#include "cli/signing_commands.h"

#include <fmt/core.h>
#include <hookwire/signing.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"

namespace hookwire::cli {
namespace {

namespace sg = hookwire::signing;

// Everything the three commands parse into; lives as long as the CLI::App (shared by the callbacks).
struct SigningArgs {
  std::string scheme = "standard-webhooks";
  std::vector<std::string> secrets;
  std::string id;
  std::optional<int64_t> timestamp;
  std::optional<int64_t> now;
  int64_t tolerance = 300;
  std::vector<std::string> headers;
  bool svix_headers = false;
  bool no_sha1 = false;
  sg::GenericHmacOptions generic;
  std::string encoding = "hex";
  std::string secret_encoding = "raw";
  std::string digest = "sha256";
  std::string token_header = "x-webhook-token";
  bool asymmetric = false;
};

std::string read_stdin() {
  std::string body;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) body.append(buf, n);
  return body;
}

// Options from the command line; nullopt (after printing why) when they are inconsistent.
std::optional<sg::Options> options_from(const SigningArgs& a) {
  auto scheme = sg::parse_scheme(a.scheme);
  if (!scheme) {
    fmt::print(stderr,
               "unknown scheme '{}': use standard-webhooks, svix, stripe, github, shopify, generic-hmac or "
               "static-token (the verifier names of inbound sources)\n",
               a.scheme);
    return std::nullopt;
  }
  sg::Options o;
  o.scheme = *scheme;
  o.secrets = a.secrets;
  o.tolerance = std::chrono::seconds{a.tolerance};
  o.family = a.svix_headers || a.scheme == "svix" ? sg::HeaderFamily::kSvix : sg::HeaderFamily::kWebhook;
  o.github_allow_sha1 = !a.no_sha1;
  o.token_header = a.token_header;
  o.generic = a.generic;
  o.generic.encoding = a.encoding == "base64" ? sg::Encoding::kBase64 : sg::Encoding::kHex;
  o.generic.secret_is_base64 = a.secret_encoding == "base64";
  o.generic.digest = a.digest == "sha512" ? sg::Digest::kSha512 : sg::Digest::kSha256;
  return o;
}

void add_scheme_options(CLI::App& cmd, SigningArgs& a) {
  cmd.add_option(
         "--scheme", a.scheme,
         "standard-webhooks, svix (svix-* headers), stripe, github, shopify, generic-hmac, static-token: the "
         "verifier names of inbound sources (standard, generic and token are accepted too)")
      ->capture_default_str();
  cmd.add_option("--secret", a.secrets, "secret or key; repeat for rotation")->required();
  auto* g = cmd.add_option_group("generic", "generic HMAC and token options");
  g->add_option("--signature-header", a.generic.signature_header)->capture_default_str();
  g->add_option("--timestamp-header", a.generic.timestamp_header)->capture_default_str();
  g->add_option("--id-header", a.generic.id_header);
  g->add_option("--prefix", a.generic.prefix, "e.g. sha256=");
  g->add_option("--template", a.generic.content_template,
                "signed content: text with {id}, {timestamp}, {body}")
      ->capture_default_str();
  g->add_option("--encoding", a.encoding)->check(CLI::IsMember({"hex", "base64"}))->capture_default_str();
  g->add_option("--secret-encoding", a.secret_encoding)
      ->check(CLI::IsMember({"raw", "base64"}))
      ->capture_default_str();
  g->add_option("--digest", a.digest)->check(CLI::IsMember({"sha256", "sha512"}))->capture_default_str();
  g->add_option("--token-header", a.token_header)->capture_default_str();
}

// Both commands read the body before they check their options: a caller piping the body in gets the
// error message and exit code 2, not a broken pipe because hookwire exited before reading.
int run_sign(const SigningArgs& a) {
  std::string body = read_stdin();
  auto o = options_from(a);
  if (!o) return 2;
  auto signer = sg::Signer::create(*o);
  if (!signer) {
    fmt::print(stderr, "cannot sign: {}\n", signer.error());
    return 2;
  }
  std::string id = a.id.empty() ? new_id(id_prefix::kMessage) : a.id;
  int64_t ts = a.timestamp.value_or(unix_seconds(SystemClock::instance().now()));
  for (const auto& h : signer->sign({id, ts, body})) fmt::print("{}: {}\n", h.name, h.value);
  return 0;
}

int run_verify(const SigningArgs& a) {
  std::string body = read_stdin();
  auto o = options_from(a);
  if (!o) return 2;
  auto verifier = sg::Verifier::create(*o);
  if (!verifier) {
    fmt::print(stderr, "cannot verify: {}\n", verifier.error());
    return 2;
  }
  std::vector<sg::Header> headers;
  for (const std::string& line : a.headers) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) {
      fmt::print(stderr, "-H '{}': expected 'name: value'\n", line);
      return 2;
    }
    std::string_view value = std::string_view(line).substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r'))
      value.remove_suffix(1);
    headers.push_back({line.substr(0, colon), std::string(value)});
  }
  int64_t now = a.now.value_or(unix_seconds(SystemClock::instance().now()));
  sg::VerifyResult r = verifier->verify(sg::lookup_in(headers), body, now);
  if (r.ok()) {
    fmt::print("ok: signature valid (secret #{})\n", r.key_index + 1);
    return 0;
  }
  fmt::print("invalid: {}: {}\n", sg::to_string(r.reason), r.message);
  return 1;
}

}  // namespace

void add_signing_commands(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SigningArgs>();

  auto* sign = app.add_subcommand("sign", "sign a body read from stdin; prints the headers to send");
  add_scheme_options(*sign, *args);
  sign->add_option("--id", args->id, "message id (default: a new msg_ id)");
  sign->add_option("--timestamp", args->timestamp, "Unix seconds (default: now)");
  sign->add_flag("--svix-headers", args->svix_headers, "standard: emit svix-* instead of webhook-* headers");
  sign->callback([args, &exit_code] { exit_code = run_sign(*args); });

  auto* verify = app.add_subcommand("verify",
                                    "verify a body read from stdin against headers; exit 0 if valid, 1 if "
                                    "not (and why), 2 on usage errors");
  add_scheme_options(*verify, *args);
  verify->add_option("-H,--header", args->headers, "'name: value', repeatable")->required();
  verify->add_option("--tolerance", args->tolerance, "accepted timestamp distance in seconds")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  verify->add_option("--now", args->now, "current time in Unix seconds (default: the system clock)");
  verify->add_flag("--no-sha1", args->no_sha1, "github: refuse the legacy X-Hub-Signature (sha1)");
  verify->callback([args, &exit_code] { exit_code = run_verify(*args); });

  auto* secret = app.add_subcommand("secret", "manage signing secrets");
  secret->require_subcommand(1);
  auto* fresh = secret->add_subcommand("new", "print a new whsec_ secret, or a whsk_/whpk_ key pair");
  fresh->add_flag("--asymmetric", args->asymmetric,
                  "Ed25519 (v1a): prints the whsk_ secret key, then the whpk_ public key");
  fresh->callback([args, &exit_code] {
    if (args->asymmetric) {
      sg::KeyPair kp = sg::generate_key_pair();
      fmt::print("{}\n{}\n", kp.secret_key, kp.public_key);
    } else {
      fmt::print("{}\n", sg::generate_secret());
    }
    exit_code = 0;
  });
}

}  // namespace hookwire::cli
