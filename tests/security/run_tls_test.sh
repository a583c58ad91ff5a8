#!/usr/bin/env bash
# Runs tests/security/tls_test.py against the popqueue binary.
#
#   run_tls_test.sh <popqueue> <tls_test.py> <proto dir>
#
# Exit 77 (CTest: skipped) when no Python with grpcio and grpc_tools or no
# openssl is found, except under CI=true, where that is a failure.
set -euo pipefail
popqueue=$1 script=$2 proto_dir=$3

python=
for candidate in ${POPQUEUE_PYTHON:-} /usr/bin/python3 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
reason=
[[ -n $python ]] || reason="no python3 with the grpc and grpc_tools modules (Debian: apt-get install python3-grpcio python3-grpc-tools)"
command -v openssl >/dev/null 2>&1 || reason="no openssl command (Debian: apt-get install openssl)"
if [[ -n $reason ]]; then
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: $reason" >&2
    exit 1
  fi
  echo "SKIP: $reason"
  exit 77
fi
exec "$python" "$script" --popqueue "$popqueue" --proto-dir "$proto_dir"
