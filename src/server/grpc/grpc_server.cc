// The gRPC server (grpc_server.h), and how it does TLS.
//
// gRPC 1.51's C++ API has no hook per handshake (REST's cert callback,
// server/tls.h) and no way to push a new certificate into running
// credentials except its FileWatcherCertificateProvider, which re-reads
// files every refresh interval (1 s, its minimum). Watching the operator's
// files directly would change the certificate whenever they change, without
// SIGHUP, and could pair a new key with an old certificate while they are
// being replaced. So the server keeps copies in a private folder (mode
// 0700): identity.pem holds the key and then the chain (OpenSSL's PEM
// readers skip blocks of the other kind, so one file serves as both),
// client-ca.pem the client CAs. Start() and ReloadTls() check the files
// first (CheckTlsFiles) and then replace each copy by rename, so gRPC only
// ever reads a checked, matching pair; it takes it within a second.
#include "server/grpc/grpc_server.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/grpc/service.h"

namespace popqueue::server {
namespace {

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read \"", path, "\""));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `text` to dir/name through a temporary file and a rename, mode 0600.
absl::Status WriteAtomically(const std::string& dir, const std::string& name,
                             const std::string& text) {
  std::string tmp = absl::StrCat(dir, "/.", name, ".tmp");
  std::string path = absl::StrCat(dir, "/", name);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("TLS: cannot write \"", tmp, "\""));
  }
  ::chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("TLS: cannot rename \"", tmp, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status GrpcServer::WriteTlsCopies() {
  if (absl::Status s = CheckTlsFiles(tls_files_); !s.ok()) return s;
  absl::StatusOr<std::string> key = ReadWhole(tls_files_.key_file);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> chain = ReadWhole(tls_files_.cert_file);
  if (!chain.ok()) return chain.status();
  if (absl::Status s = WriteAtomically(tls_dir_, "identity.pem", *key + "\n" + *chain); !s.ok()) {
    return s;
  }
  if (!tls_files_.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadWhole(tls_files_.client_ca_file);
    if (!ca.ok()) return ca.status();
    return WriteAtomically(tls_dir_, "client-ca.pem", *ca);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(Queue* queue, GrpcOptions options) {
  if (queue == nullptr) return absl::InvalidArgumentError("queue: must not be null");
  if (!queue->status().ok()) return queue->status();
  if (options.address.empty()) {
    return absl::InvalidArgumentError("address: expected host:port, e.g. 0.0.0.0:50051");
  }
  if (options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_message_bytes: must be at least 1024, got %d", options.max_message_bytes));
  }
  if (!options.tls.enabled() && !options.tls.client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "tls: a client CA needs the server's certificate and key too");
  }
  auto access = AccessPolicy::Create({.legacy_token = options.token,
                                      .tokens = options.tokens,
                                      .public_reads = options.public_reads});
  if (!access.ok()) return access.status();
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  if (options.max_fetch_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_fetch_wait: must not be negative");
  }
  server->service_ = std::make_unique<PopQueueService>(
      queue, *std::move(access), RemoteWorkerOptions{.max_wait = options.max_fetch_wait});

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (options.tls.enabled()) {
    server->tls_files_ = options.tls;
    const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): no setenv anywhere
    std::string pattern =
        absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/popqueue-grpc-tls-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("TLS: cannot create a folder like ", pattern));
    }
    server->tls_dir_ = pattern;
    MutexLock lock(&server->mu_);
    if (absl::Status s = server->WriteTlsCopies(); !s.ok()) return s;
    const std::string identity = server->tls_dir_ + "/identity.pem";
    const bool verify_clients = !options.tls.client_ca_file.empty();
    server->provider_ = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        identity, identity, verify_clients ? server->tls_dir_ + "/client-ca.pem" : "",
        /*refresh_interval_sec=*/1);
    grpc::experimental::TlsServerCredentialsOptions tls_options(server->provider_);
    tls_options.watch_identity_key_cert_pairs();
    if (verify_clients) {
      tls_options.watch_root_certs();
      tls_options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    } else {
      tls_options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    }
    credentials = grpc::experimental::TlsServerCredentials(tls_options);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  // gRPC binds with SO_REUSEPORT by default: a second server on the same port
  // would start "successfully" and share the traffic. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::unique_ptr<grpc::Server> started = builder.BuildAndStart();
  bool listening = started && server->port_ != 0;
  {
    MutexLock lock(&server->mu_);
    server->server_ = std::move(started);
  }
  if (!listening) {
    return absl::UnavailableError(absl::StrFormat(
        "gRPC server could not listen on %s (address in use, or not host:port?)", options.address));
  }
  return server;
}

absl::Status GrpcServer::ReloadTls() {
  MutexLock lock(&mu_);
  if (tls_dir_.empty()) return absl::FailedPreconditionError("the gRPC server does not serve TLS");
  if (!provider_) return absl::FailedPreconditionError("the gRPC server is stopped");
  return WriteTlsCopies();
}

void GrpcServer::Stop() {
  MutexLock lock(&mu_);
  if (server_) {
    service_->StopWaiting();  // long-polling fetches answer now, with no jobs
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
    server_.reset();
  }
  // The watcher thread ends with the provider; then its files can go.
  provider_.reset();
  if (!tls_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(tls_dir_, ignored);
  }
}

GrpcServer::~GrpcServer() { Stop(); }

}  // namespace popqueue::server
