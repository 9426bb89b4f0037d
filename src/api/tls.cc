#include "api/tls.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace hookwire::api {

namespace ssl = boost::asio::ssl;

namespace {

// The reason a file cannot be opened (the OS's words), or empty.
std::string unreadable(const std::string& file) {
  std::ifstream in(file);
  if (in) return {};
  return std::strerror(errno);
}

std::string read_bio(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

}  // namespace

Result<std::shared_ptr<TlsCredentials>> TlsCredentials::load(std::string cert_file, std::string key_file,
                                                             std::string field) {
  std::shared_ptr<TlsCredentials> creds(
      new TlsCredentials(std::move(cert_file), std::move(key_file), std::move(field)));
  auto ctx = creds->build();
  if (!ctx) return ctx.error();
  creds->current_ = std::move(*ctx);
  return creds;
}

Result<std::shared_ptr<ssl::context>> TlsCredentials::build() const {
  const std::string key_field = field_.substr(0, field_.rfind("-cert")) + "-key";
  if (auto why = unreadable(cert_file_); !why.empty())
    return Error::validation(field_, fmt::format("{}: cannot read {}: {}", field_, cert_file_, why));
  if (auto why = unreadable(key_file_); !why.empty())
    return Error::validation(key_field, fmt::format("{}: cannot read {}: {}", key_field, key_file_, why));
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (ctx->use_certificate_chain_file(cert_file_, ec); ec)
    return Error::validation(
        field_, fmt::format("{}: {} is not a PEM certificate chain: {}", field_, cert_file_, ec.message()));
  ctx->use_private_key_file(key_file_, ssl::context::pem, ec);
  if (ec && ERR_GET_LIB(static_cast<unsigned long>(ec.value())) == ERR_LIB_X509 &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH)
    return Error::validation(key_field, fmt::format("{}: the key in {} does not match the certificate in {}",
                                                    key_field, key_file_, cert_file_));
  if (ec)
    return Error::validation(
        key_field, fmt::format("{}: {} is not a PEM private key: {}", key_field, key_file_, ec.message()));
  if (SSL_CTX_check_private_key(native) != 1)
    return Error::validation(key_field, fmt::format("{}: the key in {} does not match the certificate in {}",
                                                    key_field, key_file_, cert_file_));
  return ctx;
}

Status TlsCredentials::reload() {
  auto ctx = build();
  if (!ctx) return ctx.error();
  std::lock_guard lock(mu_);
  current_ = std::move(*ctx);
  return {};
}

std::shared_ptr<ssl::context> TlsCredentials::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::string TlsCredentials::describe() const {
  auto ctx = current();
  X509* cert = SSL_CTX_get0_certificate(ctx->native_handle());
  if (!cert) return "no certificate";
  BIO* subject = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(subject, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  BIO* until = BIO_new(BIO_s_mem());
  ASN1_TIME_print(until, X509_get0_notAfter(cert));
  auto text = fmt::format("subject {}, valid until {}", read_bio(subject), read_bio(until));
  BIO_free(subject);
  BIO_free(until);
  return text;
}

bool TlsCredentials::expired() const {
  auto ctx = current();
  X509* cert = SSL_CTX_get0_certificate(ctx->native_handle());
  return cert && X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
}

}  // namespace hookwire::api
