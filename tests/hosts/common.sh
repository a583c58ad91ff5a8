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
# tests are about the network), a Redis with AOF, or a Redis Cluster of 3
# masters and 3 replicas (the README's recipe: cluster-enabled yes,
# cluster-node-timeout 5000, appendonly yes, made by `redis-cli --cluster
# create ... --cluster-replicas 1`; ports 7001-7006 of the server host),
# listening on the bridge address only, with its files in WORK. Prints the
# URL the worker hosts use. netns_cleanup stops it with everything else in
# the namespaces.
#
#   url=$(hosts_start_server postgres|redis|redis_cluster WORK)
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
    redis_cluster)
      hosts_start_redis_cluster "$work" || return 1
      echo "redis://$srv:7001,$srv:7002,$srv:7003/?cluster=1"
      ;;
    *) echo "hosts: backend is postgres, redis or redis_cluster, not '$backend'" >&2; return 2 ;;
  esac
}

# hosts_start_redis_cluster WORK: the six nodes of hosts_start_server
# redis_cluster on the server host, joined into a cluster; returns when
# every node says cluster_state:ok and sees 3 masters holding all 16384
# slots and 3 replicas whose link to their master is up (at most 60 s).
hosts_start_redis_cluster() {
  local work=$1 srv=${NETNS_ADDR[srv]} i port create="" ok nodes
  for i in 1 2 3 4 5 6; do
    port=$((7000 + i))
    mkdir -p "$work/cluster/node$i"
    cat >"$work/cluster/node$i/redis.conf" <<EOS
bind $srv
port $port
protected-mode no
daemonize no
dir $work/cluster/node$i
cluster-enabled yes
cluster-config-file $work/cluster/node$i/nodes.conf
cluster-node-timeout 5000
appendonly yes
appendfsync everysec
save ""
repl-diskless-sync-delay 0
logfile $work/cluster/node$i/server.log
EOS
    netns_exec srv redis-server "$work/cluster/node$i/redis.conf" >/dev/null 2>&1 &
    create="$create $srv:$port"
  done
  for port in 7001 7002 7003 7004 7005 7006; do
    for i in $(seq 100); do
      netns_exec srv redis-cli -h "$srv" -p "$port" ping 2>/dev/null | grep -q PONG && break
      sleep 0.1
    done
  done
  # shellcheck disable=SC2086
  netns_exec srv redis-cli --cluster create $create --cluster-replicas 1 --cluster-yes \
    >"$work/cluster/create.log" 2>&1 || { cat "$work/cluster/create.log" >&2; return 1; }
  for i in $(seq 600); do
    ok=1
    for port in 7001 7002 7003 7004 7005 7006; do
      netns_exec srv redis-cli -h "$srv" -p "$port" cluster info 2>/dev/null |
        grep -q cluster_state:ok || { ok=0; break; }
      nodes=$(netns_exec srv redis-cli -h "$srv" -p "$port" cluster nodes 2>/dev/null)
      echo "$nodes" | awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 { m++ }
        $3 ~ /slave/ && $3 !~ /fail/ && $8 == "connected" { r++ }
        END { exit !(m == 3 && r == 3) }' || { ok=0; break; }
      if netns_exec srv redis-cli -h "$srv" -p "$port" info replication 2>/dev/null | grep -q role:slave; then
        netns_exec srv redis-cli -h "$srv" -p "$port" info replication | grep -q master_link_status:up ||
          { ok=0; break; }
      fi
    done
    ((ok)) && return 0
    sleep 0.1
  done
  echo "hosts: the Redis Cluster on $srv:7001-7006 is not ok after 60 s" >&2
  tail -5 "$work"/cluster/node*/server.log >&2
  return 1
}
