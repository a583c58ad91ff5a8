#!/usr/bin/env bash
# The PostgreSQL store over TLS: a PostgreSQL server of the test's own with
# ssl=on and a certificate made here by openssl (CA, server certificate for
# localhost / 127.0.0.1). The URL's sslmode and sslrootcert go to libpq as
# they are:
#   sslmode=verify-full with the right CA      -> connects (popqueue stats)
#   sslmode=verify-full with another CA        -> refused, exit 1, libpq's
#                                                 "certificate verify failed"
#   sslmode=verify-full naming the wrong host  -> refused (hostname check)
#   sslmode=disable against hostssl-only pg_hba -> refused (no plaintext)
#
#   run_pg_tls_test.sh <popqueue>
#
# Exit 77 (skipped) without PostgreSQL server binaries or openssl, except
# under CI=true, where that fails.
set -euo pipefail
popqueue=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib/services.sh"

reason=
pg_bin >/dev/null 2>&1 || reason="no PostgreSQL server binaries (Debian: apt-get install postgresql-15)"
command -v openssl >/dev/null 2>&1 || reason="no openssl command"
if [[ -n $reason ]]; then
  if [[ ${CI:-} == true ]]; then echo "FAIL: $reason" >&2; exit 1; fi
  echo "SKIP: $reason"
  exit 77
fi

services_init
trap services_stop EXIT
certs=$SERVICES_DIR/pg-tls-certs
mkdir -p "$certs"
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$certs/ca.key" -out "$certs/ca.crt" -days 2 -subj "/CN=pg test CA"
q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$certs/wrong-ca.key" -out "$certs/wrong-ca.crt" -days 2 -subj "/CN=other CA"
q openssl req -newkey rsa:2048 -nodes -keyout "$certs/server.key" -out "$certs/server.csr" -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$certs/server.ext"
q openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" -set_serial 7 \
  -days 2 -extfile "$certs/server.ext" -out "$certs/server.crt"
# PostgreSQL wants its key owned by the server's user and private.
chmod 600 "$certs/server.key"
if [ "$(id -u)" -eq 0 ]; then
  runas=postgres
  id postgres >/dev/null 2>&1 || runas=nobody
  chown -R "$runas" "$certs"
  chmod 755 "$SERVICES_DIR" "$certs"
fi
start_postgres_server pg-tls fast -c ssl=on -c "ssl_cert_file=$certs/server.crt" \
  -c "ssl_key_file=$certs/server.key"
# Only TLS connections over TCP from here on.
hba=$SERVICES_DIR/pg-tls/data/pg_hba.conf
printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n' >"$hba"
[ "$(id -u)" -eq 0 ] && chown "$runas" "$hba"
"$SERVICES_DIR/pg-tls/stop.sh" && "$SERVICES_DIR/pg-tls/start.sh"
base=${PG_SERVER_URL%/postgres}   # postgres://postgres@127.0.0.1:PORT
port=${base##*:}

fail=0
run() {  # run NAME WANT_EXIT EXPECTED_TEXT URL
  local name=$1 want=$2 text=$3 url=$4 out rc
  set +e
  out=$(env -u DB_URL -u POSTGRES_URL "$popqueue" stats --db-url "$url" 2>&1)
  rc=$?
  set -e
  if [[ $rc -ne $want ]] || ! grep -q -- "$text" <<<"$out"; then
    echo "FAIL: $name: exit $rc (want $want), output:"
    echo "$out" | sed 's/^/    /'
    fail=1
  else
    echo "ok: $name (exit $rc): $(grep -m1 -- "$text" <<<"$out" | cut -c1-200)"
  fi
}
db=postgres
run "verify-full, right CA" 0 "" \
  "postgres://postgres@localhost:$port/$db?sslmode=verify-full&sslrootcert=$certs/ca.crt"
run "verify-full, right CA, by IP" 0 "" \
  "postgres://postgres@127.0.0.1:$port/$db?sslmode=verify-full&sslrootcert=$certs/ca.crt"
run "verify-full, wrong CA" 1 "certificate verify failed" \
  "postgres://postgres@localhost:$port/$db?sslmode=verify-full&sslrootcert=$certs/wrong-ca.crt"
# hostaddr reaches the same server under a name its certificate lacks.
run "verify-full, host not in the certificate" 1 "does not match host name" \
  "postgres://postgres@db.example:$port/$db?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=$certs/ca.crt"
run "sslmode=disable against hostssl only" 1 "no encryption" \
  "postgres://postgres@localhost:$port/$db?sslmode=disable"
exit $fail
