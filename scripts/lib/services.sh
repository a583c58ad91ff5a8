# Starts the services the tests need on 127.0.0.1, each in a temporary folder,
# and exports their URLs. Source it, call services_start, and services_stop at
# exit (scripts/test does both).
#
# Exports: POPQUEUE_TEST_POSTGRES_URL, POPQUEUE_TEST_MONGODB_URL (with
# POPQUEUE_TEST_MONGODB_{STOP,START,RESTART}; MONGODB_URL, when set, is
# exported instead of starting FerretDB), POPQUEUE_TEST_MONGOJAVA_URL (with
# POPQUEUE_TEST_MONGOJAVA_{STOP,START,RESTART}: mongo-java-server, a second
# MongoDB-wire server), and for restart tests
# POPQUEUE_TEST_POSTGRES_{DATA,STOP,START,RESTART} (STOP/START/RESTART are
# executable scripts that stop / start / restart that server in place),
# POPQUEUE_TEST_REDIS_URL (with POPQUEUE_TEST_REDIS_{STOP,START,RESTART}) and
# POPQUEUE_TEST_MEMCACHED_URL (with POPQUEUE_TEST_MEMCACHED_{STOP,START,RESTART}).

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
  # From /: the server's user may not enter the caller's directory.
  run_pg() { if [ -n "$runas" ]; then (cd / && su -s /bin/sh "$runas" -c "$*"); else sh -c "$*"; fi; }
  run_pg "'$bin/initdb' -D '$dir/data' -U postgres -A trust --no-sync -E UTF8 >'$dir/initdb.log' 2>&1" ||
    { cat "$dir/initdb.log" >&2; return 1; }
  # start.sh / stop.sh let tests restart the server (tests/postgres).
  local as="sh -c"
  [ -n "$runas" ] && as="su -s /bin/sh $runas -c"
  cat >"$dir/start.sh" <<EOS
#!/bin/sh
cd /
cmd="'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" start >/dev/null"
$as "\$cmd"
EOS
  cat >"$dir/stop.sh" <<EOS
#!/bin/sh
cd /
cmd="'$bin/pg_ctl' -D '$dir/data' -m fast -w stop >/dev/null"
$as "\$cmd"
EOS
  printf '#!/bin/sh\n"%s" && "%s"\n' "$dir/stop.sh" "$dir/start.sh" >"$dir/restart.sh"
  chmod 755 "$dir/start.sh" "$dir/stop.sh" "$dir/restart.sh"
  "$dir/start.sh" || { cat "$dir/server.log" >&2; return 1; }
  PG_STOP="'$dir/stop.sh'"
  export POPQUEUE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export POPQUEUE_TEST_POSTGRES_DATA="$dir/data"
  export POPQUEUE_TEST_POSTGRES_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_POSTGRES_START="$dir/start.sh"
  export POPQUEUE_TEST_POSTGRES_RESTART="$dir/restart.sh"
  echo "services: postgres on 127.0.0.1:$port"
}

# start_postgres_durable: a second test server with PostgreSQL's durable
# defaults (fsync, synchronous_commit on), for the crash tests
# (tests/postgres/crash_test.cc): kill.sh SIGKILLs the postmaster and every
# backend, as a crash does (nothing is flushed, no shutdown checkpoint);
# start.sh brings it back through crash recovery. wal_writer_delay 10 s: the
# WAL of an asynchronous commit stays in the server's memory until the next
# synchronous commit, so a crash really loses it.
start_postgres_durable() {
  start_postgres_server postgres-durable durable -c wal_writer_delay=10000 \
    -c max_connections=50 || return 1
  local dir="$SERVICES_DIR/postgres-durable"
  cat >"$dir/kill.sh" <<EOS
#!/bin/sh
# Stop the postmaster first so it cannot restart its children, then SIGKILL all.
pid=\$(head -1 '$dir/data/postmaster.pid' 2>/dev/null) || exit 1
kill -STOP "\$pid" || exit 1
pkill -KILL -P "\$pid"
kill -KILL "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.01; done
EOS
  chmod 755 "$dir/kill.sh"
  export POPQUEUE_TEST_POSTGRES_DURABLE_URL="$PG_SERVER_URL"
  export POPQUEUE_TEST_POSTGRES_DURABLE_KILL="$dir/kill.sh"
  export POPQUEUE_TEST_POSTGRES_DURABLE_START="$dir/start.sh"
}

# services_init: the temporary folder of services_start without starting
# anything (for callers that pick their servers one by one, as scripts/bench).
services_init() {
  [ -n "$SERVICES_DIR" ] || SERVICES_DIR=$(mktemp -d /tmp/popqueue-services.XXXXXX)
}

# start_postgres_server NAME MODE [-c name=value ...]: one more PostgreSQL
# server, in $SERVICES_DIR/NAME (services_init first) on a free loopback port,
# for scripts/bench. MODE "durable" keeps PostgreSQL's defaults, which are
# Debian 12 postgresql-15's (fsync, synchronous_commit and full_page_writes
# on; 100 connections, 128 MB shared_buffers); "fast" turns fsync,
# synchronous_commit and full_page_writes off like the test server. Further
# -c settings are passed on (the same to every server a caller starts, so
# runs on them compare). Sets PG_SERVER_URL; services_stop stops it. The test
# server (start_postgres) is unchanged.
start_postgres_server() {
  local name=$1 mode=$2 bin port dir runas="" opts="-c listen_addresses=127.0.0.1"
  shift 2
  case "$mode" in
    durable) ;;
    fast) opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off" ;;
    *) echo "services: start_postgres_server: mode is durable or fast, not '$mode'" >&2; return 1 ;;
  esac
  while (($#)); do
    [ "$1" = -c ] && [ -n "${2:-}" ] || { echo "services: start_postgres_server: expected -c name=value" >&2; return 1; }
    opts="$opts -c $2"
    shift 2
  done
  bin=$(pg_bin) || return 1
  port=$(free_port)
  dir="$SERVICES_DIR/$name"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    runas=postgres
    id postgres >/dev/null 2>&1 || runas=nobody
    chown -R "$runas" "$dir"
    chmod 755 "$SERVICES_DIR"
  fi
  local as="sh -c"
  [ -n "$runas" ] && as="su -s /bin/sh $runas -c"
  (cd / && $as "'$bin/initdb' -D '$dir/data' -U postgres -A trust --no-sync -E UTF8 >'$dir/initdb.log' 2>&1") ||
    { cat "$dir/initdb.log" >&2; return 1; }
  cat >"$dir/start.sh" <<EOS
#!/bin/sh
cd /
cmd="'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o \"-p $port -k '$dir' $opts\" start >/dev/null"
$as "\$cmd"
EOS
  cat >"$dir/stop.sh" <<EOS
#!/bin/sh
cd /
cmd="'$bin/pg_ctl' -D '$dir/data' -m fast -w stop >/dev/null"
$as "\$cmd"
EOS
  chmod 755 "$dir/start.sh" "$dir/stop.sh"
  "$dir/start.sh" || { cat "$dir/server.log" >&2; return 1; }
  PG_SERVER_STOPS="${PG_SERVER_STOPS:-} $dir/stop.sh"
  PG_SERVER_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "services: postgres ($mode) on 127.0.0.1:$port"
}

# FerretDB (tests/mongodb/ferretdb): a MongoDB-wire server embedded in a tiny
# Go program, with its SQLite backend. Built once per go.mod/go.sum/main.go
# content into ~/.cache/popqueue-ferretdb (the first build downloads modules
# from the Go module proxy and takes a few minutes; later runs reuse it).
SERVICES_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$SERVICES_ROOT/scripts/lib/redis_cluster.sh"  # start_redis_cluster, stop_redis_cluster
source "$SERVICES_ROOT/scripts/lib/go.sh"  # go_bin

ferretdb_build() {
  local src="$SERVICES_ROOT/tests/mongodb/ferretdb" go key cache bin
  go=$(go_bin FerretDB) || return 1
  key=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/popqueue-ferretdb"
  bin="$cache/ferretdb-$key"
  if [ ! -x "$bin" ]; then
    mkdir -p "$cache"
    echo "services: building FerretDB (first run only) into $cache" >&2
    (cd "$src" && "$go" build -buildvcs=false -trimpath -o "$bin.tmp.$$" .) >&2 ||
      { rm -f "$bin.tmp.$$"; return 1; }
    mv "$bin.tmp.$$" "$bin"
    # Older builds (other go.sum / main.go) are no longer needed.
    find "$cache" -maxdepth 1 -name 'ferretdb-*' ! -name "ferretdb-$key" -delete
  fi
  echo "$bin"
}

start_ferretdb() {
  if [ -n "${MONGODB_URL:-}" ]; then
    # A real MongoDB: the same suite runs against it.
    export POPQUEUE_TEST_MONGODB_URL="$MONGODB_URL"
    echo "services: mongodb from MONGODB_URL"
    return
  fi
  local bin port dir backend
  bin=$(ferretdb_build) || return 1
  port=$(free_port)
  dir="$SERVICES_DIR/ferretdb"
  mkdir -p "$dir/data"
  # FerretDB's PostgreSQL backend pushes equality filters down to SQL; its
  # SQLite backend scans whole collections for anything but string _ids, so
  # it is only the fallback when PostgreSQL is not started.
  if [ -n "${POPQUEUE_TEST_POSTGRES_URL:-}" ]; then
    psql -q "$POPQUEUE_TEST_POSTGRES_URL" -c "CREATE DATABASE ferretdb" >/dev/null ||
      return 1
    backend="-postgresql-url '${POPQUEUE_TEST_POSTGRES_URL%/*}/ferretdb'"
  else
    backend="-dir '$dir/data'"
  fi
  # start.sh / stop.sh / restart.sh let tests restart the server in place
  # (same port, same data).
  write_daemon_scripts "$dir" \
    "'$bin' -listen 127.0.0.1:$port $backend" \
    "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $port), 1)'"
  "$dir/start.sh" || { cat "$dir/server.log" >&2; return 1; }
  FERRETDB_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_MONGODB_URL="mongodb://127.0.0.1:$port/"
  export POPQUEUE_TEST_MONGODB_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_MONGODB_START="$dir/start.sh"
  export POPQUEUE_TEST_MONGODB_RESTART="$dir/restart.sh"
  echo "services: ferretdb (mongodb) on 127.0.0.1:$port"
}

# mongo-java-server (tests/mongodb/javaserver): a second MongoDB-wire server,
# in Java, so the MongoDB suites run on two implementations (FerretDB above
# and this one; docs/mongodb.md lists where they differ). Maven resolves it
# from Maven Central into ~/.m2 and builds the ten-line main into
# ~/.cache/popqueue-mongojava once per pom.xml/main content. Its H2 backend
# (an MVStore file in the service folder) keeps the data across a restart,
# which the restart and chaos tests need; POPQUEUE_MONGOJAVA_BACKEND=memory
# picks the in-memory backend (faster, loses everything on restart).
mongojava_build() {
  local src="$SERVICES_ROOT/tests/mongodb/javaserver" key cache out
  command -v mvn >/dev/null && command -v java >/dev/null ||
    { echo "services: mvn and java not found (scripts/install-deps installs maven and openjdk-17-jdk-headless)" >&2; return 1; }
  key=$(cat "$src/pom.xml" "$src"/src/main/java/popqueue/*.java | sha256sum | cut -c1-16)
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/popqueue-mongojava"
  out="$cache/$key"
  if [ ! -f "$out/classpath.txt" ]; then
    mkdir -p "$cache"
    echo "services: building mongo-java-server's main (first run only) into $cache" >&2
    rm -rf "$out.tmp.$$"
    (cd "$src" && mvn -q -B -Dstyle.color=never -Dpopqueue.build.dir="$out.tmp.$$" package \
      dependency:build-classpath -Dmdep.outputFile="$out.tmp.$$/classpath.txt") >&2 ||
      { rm -rf "$out.tmp.$$"; return 1; }
    rm -rf "$out" && mv "$out.tmp.$$" "$out"
    find "$cache" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +
  fi
  echo "$out/classes:$(cat "$out/classpath.txt")"
}

start_mongojava() {
  local cp port dir backend=${POPQUEUE_MONGOJAVA_BACKEND:-h2}
  case "$backend" in
    h2|memory) ;;
    *) echo "services: POPQUEUE_MONGOJAVA_BACKEND is h2 or memory, not '$backend'" >&2; return 1 ;;
  esac
  cp=$(mongojava_build) || return 1
  port=$(free_port)
  dir="$SERVICES_DIR/mongojava"
  mkdir -p "$dir"
  local args="$port memory"
  [ "$backend" = h2 ] && args="$port h2 '$dir/data.mv'"
  write_daemon_scripts "$dir" \
    "java -Xmx2g -XX:+UseParallelGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dio.netty.eventLoopThreads=16 -cp '$cp' popqueue.MongoJavaServer $args" \
    "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $port), 1)'"
  "$dir/start.sh" || { cat "$dir/server.log" >&2; return 1; }
  MONGOJAVA_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_MONGOJAVA_URL="mongodb://127.0.0.1:$port/"
  export POPQUEUE_TEST_MONGOJAVA_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_MONGOJAVA_START="$dir/start.sh"
  export POPQUEUE_TEST_MONGOJAVA_RESTART="$dir/restart.sh"
  echo "services: mongo-java-server ($backend backend) on 127.0.0.1:$port"
}

# A daemon started from start.sh with its pid in $dir/pid; stop.sh kills it
# (TERM, then KILL after 10 s) and restart.sh does both, same port and data.
write_daemon_scripts() {
  local dir=$1 start_cmd=$2 ready_cmd=$3
  cat >"$dir/start.sh" <<EOS
#!/bin/sh
$start_cmd >>'$dir/server.log' 2>&1 &
echo \$! >'$dir/pid'
i=0
until $ready_cmd >/dev/null 2>&1; do
  i=\$((i + 1))
  if [ \$i -gt 300 ] || ! kill -0 \$(cat '$dir/pid') 2>/dev/null; then
    echo "$dir: server did not start; see $dir/server.log" >&2; exit 1
  fi
  sleep 0.05
done
EOS
  cat >"$dir/stop.sh" <<EOS
#!/bin/sh
[ -f '$dir/pid' ] || exit 0
pid=\$(cat '$dir/pid')
kill \$pid 2>/dev/null
i=0
while kill -0 \$pid 2>/dev/null; do
  i=\$((i + 1))
  [ \$i -gt 200 ] && kill -9 \$pid 2>/dev/null
  sleep 0.05
done
rm -f '$dir/pid'
EOS
  printf '#!/bin/sh\n"%s" && "%s"\n' "$dir/stop.sh" "$dir/start.sh" >"$dir/restart.sh"
  chmod 755 "$dir/start.sh" "$dir/stop.sh" "$dir/restart.sh"
}

# redis-server with AOF (appendfsync everysec) in its own folder, so restart
# tests find their data again.
start_redis() {
  local port dir
  command -v redis-server >/dev/null || { echo "services: redis-server not found (install redis-server)" >&2; return 1; }
  port=$(free_port)
  dir="$SERVICES_DIR/redis"
  mkdir -p "$dir"
  write_daemon_scripts "$dir" \
    "redis-server --bind 127.0.0.1 --port $port --dir '$dir' --appendonly yes --appendfsync everysec --save '' --daemonize no --protected-mode no" \
    "redis-cli -h 127.0.0.1 -p $port ping | grep -q PONG"
  "$dir/start.sh" || { cat "$dir/server.log" >&2; return 1; }
  REDIS_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_REDIS_URL="redis://127.0.0.1:$port"
  export POPQUEUE_TEST_REDIS_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_REDIS_START="$dir/start.sh"
  export POPQUEUE_TEST_REDIS_RESTART="$dir/restart.sh"
  echo "services: redis on 127.0.0.1:$port"
}

start_memcached() {
  local port dir runas=""
  command -v memcached >/dev/null || { echo "services: memcached not found (install memcached)" >&2; return 1; }
  port=$(free_port)
  dir="$SERVICES_DIR/memcached"
  mkdir -p "$dir"
  # memcached refuses to run as root without -u.
  [ "$(id -u)" -eq 0 ] && runas="-u nobody"
  write_daemon_scripts "$dir" \
    "memcached -l 127.0.0.1 -p $port -U 0 -m 64 $runas" \
    "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $port), 1)'"
  "$dir/start.sh" || { cat "$dir/server.log" >&2; return 1; }
  MEMCACHED_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_MEMCACHED_URL="memcached://127.0.0.1:$port"
  export POPQUEUE_TEST_MEMCACHED_STOP="$dir/stop.sh"
  export POPQUEUE_TEST_MEMCACHED_START="$dir/start.sh"
  export POPQUEUE_TEST_MEMCACHED_RESTART="$dir/restart.sh"
  echo "services: memcached on 127.0.0.1:$port"
}

services_start() {
  SERVICES_DIR=$(mktemp -d /tmp/popqueue-services.XXXXXX)
  # POPQUEUE_SERVICES narrows the set during development (scripts/with-services).
  local s
  for s in ${POPQUEUE_SERVICES:-postgres postgres_durable ferretdb mongojava redis redis_cluster memcached}; do
    "start_$s" || return 1
  done
}

services_stop() {
  [ -n "${REDIS_STOP:-}" ] && "$REDIS_STOP" || true
  REDIS_STOP=""
  stop_redis_cluster
  [ -n "${MEMCACHED_STOP:-}" ] && "$MEMCACHED_STOP" || true
  MEMCACHED_STOP=""
  [ -n "${FERRETDB_STOP:-}" ] && "$FERRETDB_STOP" || true
  FERRETDB_STOP=""
  [ -n "${MONGOJAVA_STOP:-}" ] && "$MONGOJAVA_STOP" || true
  MONGOJAVA_STOP=""
  [ -n "${PG_STOP:-}" ] && eval "$PG_STOP" || true
  local stop
  for stop in ${PG_SERVER_STOPS:-}; do "$stop" || true; done
  PG_SERVER_STOPS=""
  [ -n "$SERVICES_DIR" ] && rm -rf "$SERVICES_DIR"
  SERVICES_DIR=""
}
