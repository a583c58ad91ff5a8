# What the tests of tests/hosts share, on top of scripts/lib/netns.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/netns.sh"

# hosts_setup TEST: for a test with a server host and hosts w1, w2. Without
# root and `ip netns` it fails under CI=true and exits 77 (a skip) elsewhere,
# saying why. Otherwise sets WORK (a temporary folder), makes the hosts and
# arranges that everything is removed at exit, with the tails of
# $WORK/w1.log and w2.log printed when the test failed.
hosts_setup() {
  HOSTS_TEST=$1
  if ! netns_available; then
    local why="needs root and ip netns (iproute2)"
    if [ "${CI:-}" = true ]; then echo "$HOSTS_TEST: $why (CI=true)" >&2; exit 1; fi
    echo "$HOSTS_TEST: skipped: $why"
    exit 77
  fi
  WORK=$(mktemp -d "/tmp/popqueue-$HOSTS_TEST.XXXXXX")
  chmod 755 "$WORK"
  trap hosts_cleanup EXIT
  netns_init
  netns_host w1
  netns_host w2
}

hosts_cleanup() {
  local s=$? f
  if ((s != 0 && s != 77)); then
    for f in "$WORK"/w1.log "$WORK"/w2.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done >&2
  fi
  netns_cleanup
  rm -rf "$WORK"
}

# The store server of a tests/hosts test, on the server host of
# scripts/lib/netns.sh (netns_init first): a PostgreSQL (fsync off: these
# tests are about the network) or a Redis with AOF, listening on the bridge
# address only, with its files in WORK. Prints the URL the worker hosts use.
# netns_cleanup stops it with everything else in the namespaces.
#
#   url=$(hosts_start_server postgres|redis WORK)
hosts_start_server() {
  local backend=$1 work=$2 srv=${NETNS_ADDR[srv]} bin="" runas d
  case "$backend" in
    postgres)

      for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bin=$d; done
      [ -n "$bin" ] || { echo "hosts: PostgreSQL binaries not found" >&2; return 1; }
      runas=postgres
      id postgres >/dev/null 2>&1 || runas=nobody
      mkdir "$work/pg"
      chown "$runas" "$work/pg"
      (cd / && su -s /bin/sh "$runas" -c "'$bin/initdb' -D '$work/pg/data' -U postgres -A trust --no-sync >'$work/pg/initdb.log' 2>&1") ||
        { cat "$work/pg/initdb.log" >&2; return 1; }
      echo "host all all $NETNS_NET.0/24 trust" >>"$work/pg/data/pg_hba.conf"
      (cd / && netns_exec srv su -s /bin/sh "$runas" -c "'$bin/pg_ctl' -D '$work/pg/data' -l '$work/pg/server.log' -w -o \"-p 5432 -k '$work/pg' -c listen_addresses=$srv -c fsync=off -c synchronous_commit=off\" start >/dev/null") ||
        { cat "$work/pg/server.log" >&2; return 1; }
      echo "postgres://postgres@$srv:5432/postgres"
      ;;
    redis)
      netns_exec srv redis-server --bind "$srv" --port 6379 --protected-mode no --save '' \
        --appendonly yes --appendfsync everysec --dir "$work" --daemonize no \
        >"$work/redis.log" 2>&1 &
      for _ in $(seq 100); do
        netns_exec srv redis-cli -h "$srv" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
      done
      echo "redis://$srv:6379"
      ;;
    *) echo "hosts: backend is postgres or redis, not '$backend'" >&2; return 2 ;;
  esac
}
