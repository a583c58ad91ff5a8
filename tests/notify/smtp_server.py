#!/usr/bin/python3
"""A real SMTP server for tests/notify/email_test.cc (Debian's python3-aiosmtpd).

It makes a self-signed certificate for 127.0.0.1/localhost in CERT_DIR with
the openssl CLI, listens on 127.0.0.1 (an ephemeral port), requires STARTTLS
before anything else and AUTH (PLAIN/LOGIN) with USER/PASSWORD before MAIL.

stdout, one line each, flushed:
  READY <port>             once listening (CERT_DIR/cert.pem then exists)
  MAIL <json>              per accepted message: envelope, headers, decoded body
  AUTHFAIL <login>         per refused login

Usage: smtp_server.py CERT_DIR USER PASSWORD. Runs until killed or stdin closes.
"""
import asyncio
import email
import email.policy
import json
import os
import socket
import subprocess
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def make_cert(cert_dir):
    cert = os.path.join(cert_dir, "cert.pem")
    key = os.path.join(cert_dir, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        emit("MAIL " + json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "body": msg.get_content(),
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }))
        return "250 OK"


def main():
    cert_dir, user, password = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
    cert, key = make_cert(cert_dir)
    import ssl
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword) and auth_data.login == user
                and auth_data.password == password):
            return AuthResult(success=True)
        login = auth_data.login.decode(errors="replace") if isinstance(
            auth_data, LoginPassword) else "?"
        emit("AUTHFAIL " + login)
        return AuthResult(success=False, handled=False)

    def factory():
        return SMTP(Handler(), hostname="localhost", tls_context=context,
                    require_starttls=True, authenticator=authenticator,
                    auth_required=True, auth_require_tls=True)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(loop.create_server(factory, sock=sock))
    emit("READY %d" % sock.getsockname()[1])
    # Stop when the test closes our stdin (or dies).
    loop.add_reader(sys.stdin.fileno(), lambda: (sys.stdin.read(), loop.stop()))
    loop.run_forever()


if __name__ == "__main__":
    main()
