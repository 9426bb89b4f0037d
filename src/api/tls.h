// TlsCredentials: a listener's certificate chain and private key, loaded from two PEM files into an OpenSSL
// server context, and reloaded from the same files on demand (SIGHUP).
//
// A reload builds a new context and swaps it in only if the files load and the key matches the certificate;
// otherwise the current context stays and the error is returned. New connections take the context current
// when they are accepted; connections already open keep theirs. The context speaks TLS 1.2 and 1.3 only, with
// OpenSSL's default ciphers and no renegotiation.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <string>

#include "core/result.h"

namespace hookwire::api {

class TlsCredentials {
 public:
  // kValidation naming `field` (e.g. "--tls-cert") when a file cannot be read or parsed, or the key does not
  // match the certificate.
  static Result<std::shared_ptr<TlsCredentials>> load(std::string cert_file, std::string key_file,
                                                      std::string field = "--tls-cert");

  // Loads the files again; on failure the current context stays.
  Status reload();
  std::shared_ptr<boost::asio::ssl::context> current() const;
  // The leaf certificate, for the log: "subject CN=example.com, valid until 2027-01-01 00:00:00 UTC".
  std::string describe() const;
  // The leaf certificate's notAfter has passed.
  bool expired() const;
  const std::string& cert_file() const { return cert_file_; }

 private:
  TlsCredentials(std::string cert_file, std::string key_file, std::string field)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), field_(std::move(field)) {}
  Result<std::shared_ptr<boost::asio::ssl::context>> build() const;

  const std::string cert_file_;
  const std::string key_file_;
  const std::string field_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;
};

}  // namespace hookwire::api
