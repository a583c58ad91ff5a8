// Loading and checking certificate files with OpenSSL, and the certificate
// callback that serves the current pair to each REST handshake (tls.h).
#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace popqueue::server {
namespace {

// The reason of the last OpenSSL error ("no such file", "key values
// mismatch", ...), and the queue cleared.
std::string OpenSslReason() {
  unsigned long code = ERR_peek_last_error();
  std::string reason = "unknown OpenSSL error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    reason = buf;
  }
  ERR_clear_error();
  return reason;
}

// An encrypted key would make OpenSSL prompt on the terminal: refuse it.
int NoPassword(char*, int, int, void*) { return 0; }

using CtxPtr = std::shared_ptr<SSL_CTX>;

absl::StatusOr<CtxPtr> LoadPair(const std::string& cert_file, const std::string& key_file,
                                TlsFile* failed) {
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return absl::InternalError("TLS: SSL_CTX_new failed: " + OpenSslReason());
  SSL_CTX_set_default_passwd_cb(ctx.get(), NoPassword);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    if (failed) *failed = TlsFile::kCert;
    return absl::InvalidArgumentError(absl::StrCat("cannot load a PEM certificate chain from \"",
                                                   cert_file, "\": ", OpenSslReason()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (failed) *failed = TlsFile::kKey;
    return absl::InvalidArgumentError(absl::StrCat("cannot use \"", key_file,
                                                   "\" as the unencrypted PEM private key of the "
                                                   "certificate in \"",
                                                   cert_file, "\": ", OpenSslReason()));
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    if (failed) *failed = TlsFile::kKey;
    return absl::InvalidArgumentError(absl::StrCat("the private key in \"", key_file,
                                                   "\" does not belong to the certificate in \"",
                                                   cert_file, "\": ", OpenSslReason()));
  }
  return ctx;
}

std::string DescribeX509(X509* cert) {
  std::string out = "subject ";
  char name[512];
  X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
  out += name;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      absl::StrAppend(&out, ", serial ", hex);
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1) {
      char* data = nullptr;
      long n = BIO_get_mem_data(bio, &data);
      absl::StrAppend(&out, ", valid until ", std::string(data, static_cast<size_t>(n)));
    }
    BIO_free(bio);
  }
  return out;
}

}  // namespace

absl::Status CheckTlsFiles(const TlsFiles& files, TlsFile* failed) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    if (failed) *failed = files.cert_file.empty() ? TlsFile::kCert : TlsFile::kKey;
    return absl::InvalidArgumentError("TLS needs both a certificate file and a private key file");
  }
  absl::StatusOr<CtxPtr> pair = LoadPair(files.cert_file, files.key_file, failed);
  if (!pair.ok()) return pair.status();
  if (!files.client_ca_file.empty()) {
    ERR_clear_error();
    X509_STORE* store = X509_STORE_new();
    bool ok = store != nullptr && X509_STORE_load_file(store, files.client_ca_file.c_str()) == 1;
    bool any = false;
    if (ok) {
      STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
      for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
        any = any || X509_OBJECT_get_type(sk_X509_OBJECT_value(objects, i)) == X509_LU_X509;
      }
    }
    std::string reason = ok ? "it holds no certificate" : OpenSslReason();
    X509_STORE_free(store);
    if (!ok || !any) {
      if (failed) *failed = TlsFile::kClientCa;
      return absl::InvalidArgumentError(absl::StrCat("cannot load PEM CA certificates from \"",
                                                     files.client_ca_file, "\": ", reason));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DescribeCertificate(const std::string& cert_file) {
  BIO* bio = BIO_new_file(cert_file.c_str(), "r");
  if (bio == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read \"", cert_file, "\": ", OpenSslReason()));
  }
  X509* cert = PEM_read_bio_X509(bio, nullptr, NoPassword, nullptr);
  BIO_free(bio);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no PEM certificate in \"", cert_file, "\": ", OpenSslReason()));
  }
  std::string out = DescribeX509(cert);
  X509_free(cert);
  return out;
}

absl::StatusOr<std::unique_ptr<TlsIdentity>> TlsIdentity::Load(std::string cert_file,
                                                               std::string key_file) {
  std::unique_ptr<TlsIdentity> identity(new TlsIdentity(std::move(cert_file), std::move(key_file)));
  if (absl::Status s = identity->Reload(); !s.ok()) return s;
  return identity;
}

TlsIdentity::~TlsIdentity() = default;

absl::Status TlsIdentity::Reload() {
  absl::StatusOr<CtxPtr> pair = LoadPair(cert_file_, key_file_, nullptr);
  if (!pair.ok()) return pair.status();
  std::string description = DescribeX509(SSL_CTX_get0_certificate(pair->get()));
  MutexLock lock(&mu_);
  pair_ = *std::move(pair);
  description_ = std::move(description);
  return absl::OkStatus();
}

std::string TlsIdentity::Describe() const {
  MutexLock lock(&mu_);
  return description_;
}

std::shared_ptr<SSL_CTX> TlsIdentity::Current() const {
  MutexLock lock(&mu_);
  return pair_;
}

bool TlsIdentity::Configure(SSL_CTX& ctx) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      &ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cert_cb(&ctx, &TlsIdentity::CertCallback, this);
  return true;
}

// Runs inside each handshake, before the server picks its certificate: the
// connection gets the pair current now (SSL_use_cert_and_key takes its own
// references, so a later Reload() does not affect it).
int TlsIdentity::CertCallback(SSL* ssl, void* arg) {
  std::shared_ptr<SSL_CTX> pair = static_cast<TlsIdentity*>(arg)->Current();
  if (!pair) return 0;
  X509* cert = SSL_CTX_get0_certificate(pair.get());
  EVP_PKEY* key = SSL_CTX_get0_privatekey(pair.get());
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(pair.get(), &chain);
  return SSL_use_cert_and_key(ssl, cert, key, chain, 1) == 1 ? 1 : 0;
}

}  // namespace popqueue::server
