// TLS for the listeners of `popqueue serve`: the certificate chain and
// private key files of tlsCert / tlsKey (and grpcClientCa for gRPC client
// certificates), checked when the configuration loads, served by REST
// (HttpServer) and gRPC (GrpcServer) and reloaded on SIGHUP.
//
// REST: httplib's SSLServer is built with a callback that prepares its
// SSL_CTX (TLS 1.2 or later, no compression, no renegotiation) and installs
// a certificate callback (SSL_CTX_set_cert_cb). Every handshake takes the
// pair that is current at that moment from a TlsIdentity, so Reload() swaps
// the certificate for new connections while the listener and the
// connections in flight carry on. A pair that fails to load or does not
// match is refused and the previous one stays.
//
// gRPC 1.51 offers no per-handshake hook in its C++ API; grpc_server.cc
// says how it reloads.
//
// Thread-safety: the functions are pure; TlsIdentity is thread-safe
// (Reload() may race handshakes).
#ifndef POPQUEUE_SERVER_TLS_H_
#define POPQUEUE_SERVER_TLS_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace popqueue::server {

struct TlsFiles {
  std::string cert_file;  // PEM: the server certificate, then intermediates
  std::string key_file;   // PEM: its private key, unencrypted
  // PEM: the CAs a gRPC client's certificate must chain to; set = gRPC
  // requires and verifies a client certificate. "" = none asked.
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Which file a check refused.
enum class TlsFile { kCert, kKey, kClientCa };

// OK when cert_file and key_file are both given, load and match, and
// client_ca_file (when given, only with a certificate) holds at least one
// certificate. InvalidArgument otherwise, naming the file and OpenSSL's
// reason; *failed (if not null) says which file.
absl::Status CheckTlsFiles(const TlsFiles& files, TlsFile* failed = nullptr);

// "subject CN=localhost, serial 1001, valid until 2027-12-07 07:00:00 GMT"
// of the first certificate in `cert_file`.
absl::StatusOr<std::string> DescribeCertificate(const std::string& cert_file);

// The server certificate and key that new TLS handshakes present.
class TlsIdentity {
 public:
  static absl::StatusOr<std::unique_ptr<TlsIdentity>> Load(std::string cert_file,
                                                           std::string key_file);
  ~TlsIdentity();
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;

  // Reads the files again; on any error the previous pair stays and the
  // error is returned. Handshakes after a successful return see the new pair.
  absl::Status Reload();
  // The current certificate, as DescribeCertificate.
  std::string Describe() const;
  // Prepares a server SSL_CTX to take its certificate from this identity at
  // every handshake. The identity must outlive the context.
  bool Configure(SSL_CTX& ctx);

 private:
  TlsIdentity(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}
  static int CertCallback(SSL* ssl, void* arg);
  std::shared_ptr<SSL_CTX> Current() const;

  const std::string cert_file_;
  const std::string key_file_;
  mutable Mutex mu_;
  // A context holding only the pair (loaded and checked by OpenSSL).
  std::shared_ptr<SSL_CTX> pair_ ABSL_GUARDED_BY(mu_);
  std::string description_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::server

#endif  // POPQUEUE_SERVER_TLS_H_
