# Hosts for tests: Linux network namespaces on a private bridge, made by the
# test and removed by it (issue 19). Sourced by tests/hosts/*.sh.
#
#   netns_init              a "server" namespace holding the bridge (address
#                           .1 of a private /24 picked at random in 10.200-
#                           10.249; it exists only inside these namespaces)
#   netns_host NAME         a host namespace NAME with its own address on the
#                           bridge (NETNS_ADDR[NAME]); its veth's bridge side
#                           is pq<id>-NAME in the server namespace
#   netns_exec NAME CMD...  runs CMD in host NAME ("srv" = the server's)
#   netns_name NAME         the namespace's name, for `ip netns exec "$(netns_name
#                           w1)" cmd &` (then $! is cmd's own pid: ip execs it)
#   netns_cut NAME          takes NAME's link down: nothing reaches it, and
#                           its packets go nowhere (a partition; this kernel
#                           has no netem qdisc)
#   netns_heal NAME         brings the link up again
#   netns_cleanup           kills every process left in the namespaces and
#                           deletes them (the veths and the bridge go with
#                           them); call it from an EXIT trap
#
# Needs root and iproute2 (`ip netns`); netns_available says whether this
# machine has both.

NETNS_ID=""
NETNS_NET=""
NETNS_SRV=""
NETNS_HOSTS=()
declare -A NETNS_ADDR=()

netns_available() {
  [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && ip netns list >/dev/null 2>&1
}

netns_init() {
  NETNS_ID=$(printf '%04x' $((RANDOM % 65536)))
  NETNS_NET="10.$((200 + RANDOM % 50)).$((RANDOM % 250))"
  NETNS_SRV="pq$NETNS_ID-srv"
  ip netns add "$NETNS_SRV" || return 1
  ip -n "$NETNS_SRV" link set lo up
  ip -n "$NETNS_SRV" link add br0 type bridge || return 1
  ip -n "$NETNS_SRV" addr add "$NETNS_NET.1/24" dev br0
  ip -n "$NETNS_SRV" link set br0 up
  NETNS_ADDR[srv]="$NETNS_NET.1"
}

netns_host() {
  local name=$1 ns="pq$NETNS_ID-$1" n=$((${#NETNS_HOSTS[@]} + 2))
  ip netns add "$ns" || return 1
  NETNS_HOSTS+=("$name")
  ip -n "$ns" link set lo up
  # Both ends are made in the host namespace, then one moves to the server's.
  ip -n "$ns" link add eth0 type veth peer name "pq$NETNS_ID-$name" || return 1
  ip -n "$ns" link set "pq$NETNS_ID-$name" netns "$NETNS_SRV" || return 1
  ip -n "$NETNS_SRV" link set "pq$NETNS_ID-$name" master br0
  ip -n "$NETNS_SRV" link set "pq$NETNS_ID-$name" up
  ip -n "$ns" addr add "$NETNS_NET.$n/24" dev eth0
  ip -n "$ns" link set eth0 up
  NETNS_ADDR[$name]="$NETNS_NET.$n"
}

netns_exec() {
  local name=$1
  shift
  ip netns exec "pq$NETNS_ID-$name" "$@"
}

netns_name() { echo "pq$NETNS_ID-$1"; }

netns_cut() { ip -n "$NETNS_SRV" link set "pq$NETNS_ID-$1" down; }
netns_heal() { ip -n "$NETNS_SRV" link set "pq$NETNS_ID-$1" up; }

netns_cleanup() {
  [ -n "$NETNS_ID" ] || return 0
  local name ns pids
  for name in "${NETNS_HOSTS[@]}" srv; do
    ns="pq$NETNS_ID-$name"
    pids=$(ip netns pids "$ns" 2>/dev/null) || continue
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  NETNS_ID=""
  NETNS_HOSTS=()
}
