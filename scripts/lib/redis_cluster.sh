# A Redis Cluster for the tests: the original README's recipe, 3 masters and
# 3 replicas on 127.0.0.1 (cluster-enabled yes, cluster-node-timeout 5000,
# appendonly yes), created with `redis-cli --cluster create ...
# --cluster-replicas 1`. Sourced by scripts/lib/services.sh, which starts it
# as the service "redis_cluster" (start_redis_cluster) and stops it in
# services_stop (stop_redis_cluster). Everything lives in
# $SERVICES_DIR/redis-cluster/node<1..6>/ (config, AOF, nodes.conf, log).
# A test or script may start a cluster of its own the same way: source
# services.sh, set SERVICES_DIR to a folder of its own, call
# start_redis_cluster, and run $SERVICES_DIR/redis-cluster/stop.sh at the
# end (tests/integration/drain_cluster_test.cc, bench/cluster.sh).
#
# Settings (environment):
#   POPQUEUE_TEST_REDIS_CLUSTER_NODE_TIMEOUT  cluster-node-timeout in ms
#       (default 5000, the README's). Lower it to make failover tests faster
#       (a replica takes over about 1-2 node timeouts after its master died);
#       below ~2000 a busy 2-core machine can trigger failovers by itself.
#
# Exports:
#   POPQUEUE_TEST_REDIS_CLUSTER_URL    redis://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/?cluster=1
#                                      (the three first masters as seeds)
#   POPQUEUE_TEST_REDIS_CLUSTER_PORTS  the six client ports, space-separated
#   POPQUEUE_TEST_REDIS_CLUSTER_KILL   script: kill.sh PORT  SIGKILLs that node
#   POPQUEUE_TEST_REDIS_CLUSTER_START  script: start.sh PORT starts it again in
#                                      place (same port, nodes.conf, AOF; a
#                                      master killed and replaced comes back
#                                      as a replica)
#   POPQUEUE_TEST_REDIS_CLUSTER_WAIT   script: wait.sh [SECONDS] waits until
#                                      every running node says cluster_state:ok
#                                      and sees 3 live masters holding all
#                                      16384 slots, every replica's link to its
#                                      master is up, and with all 6 nodes
#                                      running there are 3 replicas (default
#                                      60 s)

REDIS_CLUSTER_DIR=""

start_redis_cluster() {
  local i port bus dir node_timeout ports="" seeds="" create="" used=""
  command -v redis-server >/dev/null || { echo "services: redis-server not found (install redis-server)" >&2; return 1; }
  command -v redis-cli >/dev/null || { echo "services: redis-cli not found (install redis-tools)" >&2; return 1; }
  node_timeout=${POPQUEUE_TEST_REDIS_CLUSTER_NODE_TIMEOUT:-5000}
  dir="$SERVICES_DIR/redis-cluster"
  mkdir -p "$dir"
  for i in 1 2 3 4 5 6; do
    # The cluster bus defaults to port + 10000, which need not be free (or
    # even valid) for a random port: pick it too (cluster-port, Redis 7).
    # No port twice among the twelve (free_port may hand one out again).
    port=$(free_port)
    while case " $used " in *" $port "*) true ;; *) false ;; esac; do port=$(free_port); done
    used="$used $port"
    bus=$(free_port)
    while case " $used " in *" $bus "*) true ;; *) false ;; esac; do bus=$(free_port); done
    used="$used $bus"
    mkdir -p "$dir/node$i"
    cat >"$dir/node$i/redis.conf" <<EOS
bind 127.0.0.1
port $port
protected-mode no
daemonize no
dir $dir/node$i
cluster-enabled yes
cluster-config-file $dir/node$i/nodes.conf
cluster-node-timeout $node_timeout
cluster-port $bus
appendonly yes
appendfsync everysec
save ""
# Replicas sync at once (the default waits 5 s for more replicas to join).
repl-diskless-sync-delay 0
logfile $dir/node$i/server.log
EOS
    echo "$port" >"$dir/node$i/port"
    ports="$ports $port"
    create="$create 127.0.0.1:$port"
  done
  ports=${ports# }
  cat >"$dir/start.sh" <<EOS
#!/bin/sh
# start.sh PORT: starts the node listening on PORT (again), in place.
for d in '$dir'/node*; do
  [ "\$(cat "\$d/port")" = "\$1" ] || continue
  redis-server "\$d/redis.conf" >>"\$d/stdout.log" 2>&1 &
  echo \$! >"\$d/pid"
  i=0
  until redis-cli -h 127.0.0.1 -p "\$1" ping 2>/dev/null | grep -q PONG; do
    i=\$((i + 1))
    if [ \$i -gt 300 ] || ! kill -0 \$(cat "\$d/pid") 2>/dev/null; then
      echo "\$d: redis-server did not start; see \$d/server.log" >&2; exit 1
    fi
    sleep 0.05
  done
  exit 0
done
echo "start.sh: no cluster node on port \$1" >&2; exit 1
EOS
  cat >"$dir/kill.sh" <<EOS
#!/bin/sh
# kill.sh PORT [SIGNAL]: kills the node listening on PORT (SIGKILL by default).
for d in '$dir'/node*; do
  [ "\$(cat "\$d/port")" = "\$1" ] || continue
  [ -f "\$d/pid" ] || exit 0
  pid=\$(cat "\$d/pid")
  kill -"\${2:-KILL}" \$pid 2>/dev/null
  while kill -0 \$pid 2>/dev/null; do sleep 0.05; done
  rm -f "\$d/pid"
  exit 0
done
echo "kill.sh: no cluster node on port \$1" >&2; exit 1
EOS
  cat >"$dir/stop.sh" <<EOS
#!/bin/sh
for d in '$dir'/node*; do
  [ -f "\$d/pid" ] || continue
  pid=\$(cat "\$d/pid")
  kill \$pid 2>/dev/null
  i=0
  while kill -0 \$pid 2>/dev/null; do
    i=\$((i + 1))
    [ \$i -gt 200 ] && kill -9 \$pid 2>/dev/null
    sleep 0.05
  done
  rm -f "\$d/pid"
done
EOS
  cat >"$dir/wait.sh" <<EOS
#!/bin/sh
# wait.sh [SECONDS]: until every running node reports cluster_state:ok, sees
# 3 masters serving all 16384 slots and no failed node, every running
# replica has its master link up, and (when all 6 run) 3 replicas. Right
# after 'redis-cli --cluster create' the replicas are still slot-less
# masters in 'cluster nodes'; this waits for them to become replicas.
limit=\$(( \${1:-60} * 10 ))
i=0
while :; do
  ok=1; running=0
  for d in '$dir'/node*; do
    [ -f "\$d/pid" ] || continue
    running=\$((running + 1))
    p=\$(cat "\$d/port")
    redis-cli -h 127.0.0.1 -p \$p cluster info 2>/dev/null | grep -q 'cluster_state:ok' || { ok=0; break; }
    nodes=\$(redis-cli -h 127.0.0.1 -p \$p cluster nodes 2>/dev/null)
    # Live masters that serve slots (a 9th field), and their slot total.
    masters=\$(echo "\$nodes" | awk '\$3 ~ /master/ && \$3 !~ /fail/ && NF >= 9' | wc -l)
    slots=\$(echo "\$nodes" | awk '\$3 ~ /master/ && \$3 !~ /fail/ { for (f = 9; f <= NF; f++) { if (\$f ~ /^\[/) continue; n = split(\$f, r, "-"); s += (n == 2 ? r[2] - r[1] + 1 : 1) } } END { print s + 0 }')
    [ "\$masters" = 3 ] && [ "\$slots" = 16384 ] || { ok=0; break; }
    echo "\$nodes" | awk '\$3 ~ /master/ && \$3 !~ /fail/ && NF < 9 { bad = 1 } END { exit bad }' || { ok=0; break; }
    replicas=\$(echo "\$nodes" | awk '\$3 ~ /slave/ && \$3 !~ /fail/' | wc -l)
    info=\$(redis-cli -h 127.0.0.1 -p \$p info replication 2>/dev/null)
    case "\$info" in
      *role:slave*) echo "\$info" | grep -q 'master_link_status:up' || { ok=0; break; } ;;
    esac
    echo "\$info" | grep -q 'role:' || { ok=0; break; }
    seen_replicas=\$replicas
  done
  if [ \$ok = 1 ] && [ \$running = 6 ] && [ "\$seen_replicas" != 3 ]; then ok=0; fi
  [ \$ok = 1 ] && exit 0
  i=\$((i + 1))
  [ \$i -gt \$limit ] && { echo "wait.sh: the cluster in $dir is not ok after \${1:-60} s" >&2; exit 1; }
  sleep 0.1
done
EOS
  chmod 755 "$dir/start.sh" "$dir/kill.sh" "$dir/stop.sh" "$dir/wait.sh"
  REDIS_CLUSTER_DIR="$dir"
  for port in $ports; do
    "$dir/start.sh" "$port" || return 1
  done
  # shellcheck disable=SC2086
  redis-cli --cluster create $create --cluster-replicas 1 --cluster-yes \
    >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; return 1; }
  "$dir/wait.sh" 60 || return 1
  for port in $(echo "$ports" | cut -d' ' -f1-3); do
    seeds="$seeds,127.0.0.1:$port"
  done
  export POPQUEUE_TEST_REDIS_CLUSTER_URL="redis://${seeds#,}/?cluster=1"
  export POPQUEUE_TEST_REDIS_CLUSTER_PORTS="$ports"
  export POPQUEUE_TEST_REDIS_CLUSTER_KILL="$dir/kill.sh"
  export POPQUEUE_TEST_REDIS_CLUSTER_START="$dir/start.sh"
  export POPQUEUE_TEST_REDIS_CLUSTER_WAIT="$dir/wait.sh"
  echo "services: redis cluster (3 masters + 3 replicas, node timeout ${node_timeout} ms) on 127.0.0.1:${ports// /,}"
}

stop_redis_cluster() {
  [ -n "$REDIS_CLUSTER_DIR" ] && [ -x "$REDIS_CLUSTER_DIR/stop.sh" ] && "$REDIS_CLUSTER_DIR/stop.sh" || true
  REDIS_CLUSTER_DIR=""
}
