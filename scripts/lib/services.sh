# Starts the services the tests need on 127.0.0.1, each in a temporary folder,
# and exports their URLs. Source it, call services_start, and services_stop at
# exit (scripts/test does both).
#
# Exports: POPQUEUE_TEST_POSTGRES_URL

SERVICES_DIR=""

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  echo "services: PostgreSQL server binaries not found (install postgresql-15)" >&2
  return 1
}

start_postgres() {
  local bin port dir
  bin=$(pg_bin) || return 1
  port=$(free_port)
  dir="$SERVICES_DIR/postgres"
  mkdir -p "$dir"
  # initdb refuses to run as root: run the server as the 'postgres' system
  # user (created by Debian's postgresql package) or 'nobody' otherwise.
  local runas=""
  if [ "$(id -u)" -eq 0 ]; then
    runas=postgres
    id postgres >/dev/null 2>&1 || runas=nobody
    chown -R "$runas" "$dir"
    chmod 755 "$SERVICES_DIR"
  fi
  run_pg() { if [ -n "$runas" ]; then su -s /bin/sh "$runas" -c "$*"; else sh -c "$*"; fi; }
  run_pg "'$bin/initdb' -D '$dir/data' -U postgres -A trust --no-sync -E UTF8 >'$dir/initdb.log' 2>&1" ||
    { cat "$dir/initdb.log" >&2; return 1; }
  run_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" start >/dev/null" ||
    { cat "$dir/server.log" >&2; return 1; }
  PG_STOP="run_pg \"'$bin/pg_ctl' -D '$dir/data' -m fast -w stop >/dev/null\""
  export POPQUEUE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export POPQUEUE_TEST_POSTGRES_DATA="$dir/data"
  echo "services: postgres on 127.0.0.1:$port"
}

services_start() {
  SERVICES_DIR=$(mktemp -d /tmp/popqueue-services.XXXXXX)
  start_postgres
}

services_stop() {
  [ -n "${PG_STOP:-}" ] && eval "$PG_STOP" || true
  [ -n "$SERVICES_DIR" ] && rm -rf "$SERVICES_DIR"
  SERVICES_DIR=""
}
