# go_bin: prints the Go toolchain to build the Go-based test servers with
# (FerretDB, Toxiproxy): `go` on the PATH, else /usr/local/go (these
# machines), else Debian's golang-go; fails with a message naming WHAT.
#
#   go=$(go_bin FerretDB) || return 1
go_bin() {
  local go
  go=$(command -v go || true)
  [ -z "$go" ] && [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
  [ -z "$go" ] && [ -x /usr/lib/go/bin/go ] && go=/usr/lib/go/bin/go
  if [ -z "$go" ]; then
    echo "no Go toolchain to build $1 (install golang-go)" >&2
    return 1
  fi
  echo "$go"
}
