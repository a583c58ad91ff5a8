#!/usr/bin/env python3
"""TLS of `popqueue serve`, end to end, with certificates made by openssl.

Makes, in a temporary folder, a server CA and a wrong CA, two server
certificates (serials 0x1001 and 0x2002, CN localhost, SAN localhost and
127.0.0.1), a client CA with a client certificate and a client certificate
of the wrong CA. Then runs the real server binary twice:

1. --tls-cert/--tls-key: REST refuses a plain HTTP client, a client that
   trusts the CA reads /api/stats and the dashboard page, a client trusting
   the wrong CA fails its handshake; the same three for gRPC (Debian's
   python3-grpcio). The certificate files are replaced and the server gets
   SIGHUP: new REST and gRPC connections see serial 0x2002, and the
   listener never went away (same ports, the same process).
   A broken pair followed by SIGHUP is refused and the old one stays.
2. plus --grpc-client-ca: a gRPC client without a certificate is refused,
   one with a certificate of the wrong CA is refused, one signed by the
   client CA is served.

  tls_test.py --popqueue BIN --proto-dir DIR
Exits 0 when everything matched, 1 with the reason otherwise.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time


class Mismatch(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Mismatch(message)


def sh(*args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, **kw)


def make_ca(d, name, cn):
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
       "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.crt", "-days", "2",
       "-subj", f"/CN={cn}")


def make_cert(d, name, ca, serial, cn, client=False):
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes",
       "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
       "-subj", f"/CN={cn}")
    ext = f"{d}/{name}.ext"
    with open(ext, "w") as f:
        if client:
            f.write("extendedKeyUsage=clientAuth\n")
        else:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "extendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", f"{d}/{name}.csr",
       "-CA", f"{d}/{ca}.crt", "-CAkey", f"{d}/{ca}.key",
       "-set_serial", str(serial), "-days", "2", "-extfile", ext,
       "-out", f"{d}/{name}.crt")


class Server:
    def __init__(self, binary, work, extra):
        self.log_path = os.path.join(work, f"serve-{len(os.listdir(work))}.log")
        self.log = open(self.log_path, "w")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("POPQUEUE_") and k not in (
                   "DB_URL", "REDIS_URL", "MEMCACHED_URL", "POSTGRES_URL")}
        self.proc = subprocess.Popen(
            [binary, "serve", "--db-url", f"sqlite://{work}/jobs.db",
             "--port", "0", "--grpc-address", "127.0.0.1:0"] + extra,
            stdout=subprocess.DEVNULL, stderr=self.log, env=env, cwd=work)
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.text()
            m = re.search(r"REST API on (https?)://[^:]+:(\d+)/; gRPC on port (\d+)", text)
            if m:
                self.scheme, self.port, self.grpc_port = m.group(1), int(m.group(2)), int(m.group(3))
                return
            expect(self.proc.poll() is None, "server exited:\n" + text)
            time.sleep(0.05)
        raise Mismatch("server printed no ports:\n" + self.text())

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def https_get(port, path, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def served_serial(port, cafile, alpn=None):
    """The serial number (int) of the certificate a new connection sees."""
    ctx = ssl.create_default_context(cafile=cafile)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"],
                         input=der, capture_output=True, check=True).stdout.decode()
    return int(out.strip().split("=", 1)[1], 16)


def check_rest(server, d):
    # A plain HTTP client: the listener speaks TLS only.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/api/stats")
        r = conn.getresponse()
        raise Mismatch(f"plain HTTP was answered: {r.status}")
    except (http.client.HTTPException, ConnectionError, OSError) as e:
        print(f"  REST plain HTTP refused: {type(e).__name__}")
    finally:
        conn.close()
    status, body = https_get(server.port, "/api/stats", f"{d}/ca.crt")
    expect(status == 200 and '"totals"' in body, f"GET /api/stats over TLS: {status} {body[:200]}")
    status, body = https_get(server.port, "/", f"{d}/ca.crt")
    expect(status == 200 and "<html" in body.lower(), f"dashboard over TLS: {status} {body[:200]}")
    print("  REST with the right CA: /api/stats 200, dashboard 200")
    try:
        https_get(server.port, "/api/stats", f"{d}/wrong-ca.crt")
        raise Mismatch("REST with the wrong CA succeeded")
    except ssl.SSLCertVerificationError as e:
        print(f"  REST with the wrong CA refused: {e.verify_message}")


def grpc_call(grpc, pb, pb_grpc, port, creds):
    channel = grpc.secure_channel(
        f"127.0.0.1:{port}", creds,
        options=[("grpc.ssl_target_name_override", "localhost")]) if creds else \
        grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = pb_grpc.PopQueueStub(channel)
        return stub.ListJobs(pb.ListJobsRequest(limit=1), timeout=5)
    finally:
        channel.close()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def check_grpc(grpc, pb, pb_grpc, server, d):
    for name, creds in [("plaintext", None),
                        ("wrong CA", grpc.ssl_channel_credentials(read(f"{d}/wrong-ca.crt")))]:
        try:
            grpc_call(grpc, pb, pb_grpc, server.grpc_port, creds)
            raise Mismatch(f"gRPC {name} succeeded")
        except grpc.RpcError as e:
            expect(e.code() == grpc.StatusCode.UNAVAILABLE, f"gRPC {name}: {e.code()} {e.details()}")
            print(f"  gRPC {name} refused: {e.code().name}")
    grpc_call(grpc, pb, pb_grpc, server.grpc_port,
              grpc.ssl_channel_credentials(read(f"{d}/ca.crt")))
    print("  gRPC with the right CA: ListJobs OK")


def wait_serial(port, cafile, want, alpn=None, seconds=10):
    deadline = time.time() + seconds
    while True:
        got = served_serial(port, cafile, alpn)
        if got == want or time.time() > deadline:
            return got
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--popqueue", required=True)
    ap.add_argument("--proto-dir", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="popqueue-tls-")
    servers = []
    try:
        d = os.path.join(work, "certs")
        os.mkdir(d)
        make_ca(d, "ca", "popqueue test CA")
        make_ca(d, "wrong-ca", "some other CA")
        make_ca(d, "client-ca", "popqueue client CA")
        make_cert(d, "server1", "ca", 0x1001, "localhost")
        make_cert(d, "server2", "ca", 0x2002, "localhost")
        make_cert(d, "client", "client-ca", 0x3003, "worker-1", client=True)
        make_cert(d, "stranger", "wrong-ca", 0x4004, "stranger", client=True)
        # The files the server reads; replaced in place for the reload.
        shutil.copy(f"{d}/server1.crt", f"{d}/tls.crt")
        shutil.copy(f"{d}/server1.key", f"{d}/tls.key")

        stubs = os.path.join(work, "stubs")
        os.mkdir(stubs)
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + args.proto_dir,
                        "--python_out=" + stubs, "--grpc_python_out=" + stubs,
                        os.path.join(args.proto_dir, "popqueue.proto")], check=True)
        sys.path.insert(0, stubs)
        import grpc
        import popqueue_pb2 as pb
        import popqueue_pb2_grpc as pb_grpc

        print("server 1: --tls-cert --tls-key")
        s = Server(args.popqueue, work, ["--tls-cert", f"{d}/tls.crt", "--tls-key", f"{d}/tls.key"])
        servers.append(s)
        expect(s.scheme == "https", "the start-up line should say https://")
        check_rest(s, d)
        check_grpc(grpc, pb, pb_grpc, s, d)
        expect(served_serial(s.port, f"{d}/ca.crt") == 0x1001, "REST serial before reload")
        expect(served_serial(s.grpc_port, f"{d}/ca.crt", ["h2"]) == 0x1001, "gRPC serial before reload")

        # Keep one REST connection open across the reload: it must go on.
        ctx = ssl.create_default_context(cafile=f"{d}/ca.crt")
        kept = http.client.HTTPSConnection("localhost", s.port, context=ctx, timeout=10)
        kept.request("GET", "/healthz")
        kept.getresponse().read()

        shutil.copy(f"{d}/server2.key", f"{d}/tls.key.new")
        shutil.copy(f"{d}/server2.crt", f"{d}/tls.crt.new")
        os.replace(f"{d}/tls.key.new", f"{d}/tls.key")
        os.replace(f"{d}/tls.crt.new", f"{d}/tls.crt")
        s.proc.send_signal(signal.SIGHUP)
        got = wait_serial(s.port, f"{d}/ca.crt", 0x2002)
        expect(got == 0x2002, f"REST after SIGHUP serves serial {got:#x}, want 0x2002")
        t0 = time.time()
        got = wait_serial(s.grpc_port, f"{d}/ca.crt", 0x2002, ["h2"])
        expect(got == 0x2002, f"gRPC after SIGHUP serves serial {got:#x}, want 0x2002")
        print(f"  SIGHUP: new connections see serial 0x2002 (REST at once, gRPC after {time.time() - t0:.1f}s)")
        kept.request("GET", "/healthz")
        r = kept.getresponse()
        expect(r.status == 200, f"the connection opened before SIGHUP: {r.status}")
        r.read()
        kept.close()
        status, _ = https_get(s.port, "/api/stats", f"{d}/ca.crt")
        expect(status == 200, f"REST after reload: {status}")
        grpc_call(grpc, pb, pb_grpc, s.grpc_port, grpc.ssl_channel_credentials(read(f"{d}/ca.crt")))
        expect(s.proc.poll() is None, "the server exited on SIGHUP")
        print("  after SIGHUP: the same listeners serve REST and gRPC; the open connection went on")

        # A key that does not match: refused, the current pair stays.
        shutil.copy(f"{d}/server1.key", f"{d}/tls.key")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "TLS reload refused" not in s.text() and time.time() < deadline:
            time.sleep(0.05)
        expect("TLS reload refused" in s.text(), "no log line for a refused reload:\n" + s.text())
        expect(served_serial(s.port, f"{d}/ca.crt") == 0x2002, "a refused reload changed REST")
        time.sleep(1.5)  # one gRPC file-watch period: nothing may change
        expect(served_serial(s.grpc_port, f"{d}/ca.crt", ["h2"]) == 0x2002, "a refused reload changed gRPC")
        print("  SIGHUP with a mismatched key: refused (logged), serial 0x2002 stays")
        s.stop()
        servers.remove(s)

        print("server 2: plus --grpc-client-ca")
        shutil.copy(f"{d}/server1.key", f"{d}/tls.key")
        shutil.copy(f"{d}/server1.crt", f"{d}/tls.crt")
        s = Server(args.popqueue, work, ["--tls-cert", f"{d}/tls.crt", "--tls-key", f"{d}/tls.key",
                                         "--grpc-client-ca", f"{d}/client-ca.crt"])
        servers.append(s)
        ca = read(f"{d}/ca.crt")
        cases = [
            ("no client certificate", grpc.ssl_channel_credentials(ca), False),
            ("a certificate of the wrong CA",
             grpc.ssl_channel_credentials(ca, read(f"{d}/stranger.key"), read(f"{d}/stranger.crt")), False),
            ("a certificate of the client CA",
             grpc.ssl_channel_credentials(ca, read(f"{d}/client.key"), read(f"{d}/client.crt")), True),
        ]
        for name, creds, ok in cases:
            try:
                grpc_call(grpc, pb, pb_grpc, s.grpc_port, creds)
                expect(ok, f"gRPC with {name} succeeded")
                print(f"  gRPC with {name}: served")
            except grpc.RpcError as e:
                expect(not ok, f"gRPC with {name}: {e.code()} {e.details()}")
                expect(e.code() == grpc.StatusCode.UNAVAILABLE, f"gRPC with {name}: {e.code()}")
                print(f"  gRPC with {name}: refused ({e.code().name})")
        status, _ = https_get(s.port, "/api/stats", f"{d}/ca.crt")
        expect(status == 200, "REST asks no client certificate")
        s.stop()
        servers.remove(s)
        print("OK")
        return 0
    except Mismatch as e:
        print(f"FAIL: {e}", file=sys.stderr)
        for s in servers:
            print(f"--- server log ---\n{s.text()}", file=sys.stderr)
        return 1
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
