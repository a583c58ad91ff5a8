# Toxiproxy (github.com/Shopify/toxiproxy/v2, a fault-injecting TCP proxy)
# for the fault tests of tests/hosts/ (issue 19). Built from the Go module
# proxy on first use, like FerretDB, into ~/.cache/popqueue-toxiproxy.
#
#   toxiproxy_build             prints the server binary's path (builds it once)
#   toxiproxy_start DIR         starts a server on a free loopback port, logs in
#                               DIR; sets TOXIPROXY_API (http://127.0.0.1:PORT)
#                               and TOXIPROXY_PID
#   toxiproxy_proxy NAME LISTEN UPSTREAM     a proxy (host:port each)
#   toxiproxy_toxic NAME TOXIC TYPE STREAM JSON_ATTRIBUTES   adds a toxic
#   toxiproxy_untoxic NAME TOXIC             removes it
#   toxiproxy_stop
#
# Needs curl for the HTTP API.

source "$(dirname "${BASH_SOURCE[0]}")/go.sh"  # go_bin

TOXIPROXY_VERSION=v2.5.0
TOXIPROXY_API=""
TOXIPROXY_PID=""

toxiproxy_build() {
  local go cache bin
  go=$(go_bin Toxiproxy) || return 1
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/popqueue-toxiproxy/$TOXIPROXY_VERSION"
  bin="$cache/server"
  if [ ! -x "$bin" ]; then
    mkdir -p "$cache"
    echo "toxiproxy: building $TOXIPROXY_VERSION (first run only) into $cache" >&2
    (cd "$cache" && GOBIN="$cache" GOFLAGS=-buildvcs=false \
      "$go" install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION") >&2 ||
      return 1
  fi
  echo "$bin"
}

toxiproxy_start() {
  local dir=$1 bin port
  bin=$(toxiproxy_build) || return 1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin" -host 127.0.0.1 -port "$port" >"$dir/toxiproxy.log" 2>&1 &
  TOXIPROXY_PID=$!
  TOXIPROXY_API="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    curl -sf "$TOXIPROXY_API/version" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "toxiproxy: the server did not start; see $dir/toxiproxy.log" >&2
  return 1
}

toxiproxy_call() {  # METHOD PATH [JSON]
  local out
  out=$(curl -sS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} \
    -w '\n%{http_code}' "$TOXIPROXY_API$2") || return 1
  case "${out##*$'\n'}" in
    2??) return 0 ;;
    *) echo "toxiproxy: $1 $2: ${out%$'\n'*}" >&2; return 1 ;;
  esac
}

toxiproxy_proxy() {
  toxiproxy_call POST /proxies "{\"name\":\"$1\",\"listen\":\"$2\",\"upstream\":\"$3\",\"enabled\":true}"
}

toxiproxy_toxic() {
  toxiproxy_call POST "/proxies/$1/toxics" \
    "{\"name\":\"$2\",\"type\":\"$3\",\"stream\":\"$4\",\"toxicity\":1.0,\"attributes\":$5}"
}

toxiproxy_untoxic() { toxiproxy_call DELETE "/proxies/$1/toxics/$2"; }

toxiproxy_stop() {
  [ -n "$TOXIPROXY_PID" ] && kill "$TOXIPROXY_PID" 2>/dev/null && wait "$TOXIPROXY_PID" 2>/dev/null
  TOXIPROXY_PID=""
  return 0
}
