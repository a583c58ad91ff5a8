#!/usr/bin/env bash
# The original README's REST and gRPC snippets, run as printed against
# `popqueue serve` (tests/readme/original_README.md is that README, verbatim):
#
#   run_readme_contract_test.sh <popqueue binary> sqlite|postgres
#
# - enqueues three jobs with the CLI (one that completes, one that dies, one
#   delayed) and runs a `popqueue worker` until the first two are final;
# - starts `popqueue serve` on the README's address, localhost:3000 (the
#   port is locked in CTest: RESOURCE_LOCK readme_port_3000);
# - runs the README's `curl -X GET http://localhost:3000/api/job-details`
#   line exactly, and its requeue line with yourJobId replaced by the dead
#   job's id;
# - generates a Python client from each of the README's two proto snippets
#   (readme_grpc_client.py, Debian's python3-grpc-tools) and calls
#   GetJobDetails({}) and RequeueJob(jobId), checking every README field.
#
# PostgreSQL: a database of its own on $POPQUEUE_TEST_POSTGRES_URL, dropped
# afterwards. Exit 77 (skipped) when Python's grpc modules, curl or the
# PostgreSQL server are missing, except under CI=true, where that fails.
set -euo pipefail
popqueue=$1 backend=$2
here=$(cd "$(dirname "$0")" && pwd)
readme=$here/original_README.md

unavailable() {
  if [[ ${CI:-} == true ]]; then echo "FAIL (CI=true): $1" >&2; exit 1; fi
  echo "SKIP: $1"
  exit 77
}
fail() { echo "FAIL: $*" >&2; exit 1; }

python=
for candidate in ${POPQUEUE_PYTHON:-} /usr/bin/python3 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
[[ -n $python ]] || unavailable "no python3 with the grpc and grpc_tools modules (apt-get install python3-grpcio python3-grpc-tools)"
command -v curl >/dev/null || unavailable "curl not found (apt-get install curl)"

work=$(mktemp -d)
pids=()
db_admin_url= db_name=
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n $db_name ]]; then
    psql -qAtX "$db_admin_url" -c "DROP DATABASE IF EXISTS \"$db_name\" WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

case $backend in
  sqlite) db_url="sqlite://$work/readme.db" ;;
  postgres)
    db_admin_url=${POPQUEUE_TEST_POSTGRES_URL:-}
    [[ -n $db_admin_url ]] || unavailable "POPQUEUE_TEST_POSTGRES_URL is not set: run through scripts/test or scripts/with-services"
    db_name="readme_contract_$$"
    psql -qAtX "$db_admin_url" -c "CREATE DATABASE \"$db_name\"" >/dev/null
    db_url=$(printf '%s' "$db_admin_url" | sed -E "s#^([a-z]+://[^/?]*)/[^?]*#\\1/$db_name#")
    ;;
  *) fail "unknown backend $backend (sqlite or postgres)" ;;
esac
# Every command reads the store from DB_URL, as the README's users set it.
export DB_URL=$db_url
unset POPQUEUE_CONFIG REDIS_URL MEMCACHED_URL POSTGRES_URL POPQUEUE_CACHE_URL POPQUEUE_TOKEN
cd "$work"  # no config.json here

snippet() { "$python" "$here/readme_snippet.py" "$readme" "$@"; }
json() {  # json <file> <python expression over j>: prints its value
  "$python" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
check() {  # check <file> <python expression over j> <what>
  "$python" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$1" "$2" || { echo "--- $1:" >&2; cat "$1" >&2; echo >&2; fail "$3"; }
}

# --- jobs in three states ----------------------------------------------------
done_id=$("$popqueue" enqueue myJob --data myJobData --identifier jobIdentifier)
dead_id=$("$popqueue" enqueue failingJob --data fail --max-attempts 1)
later_id=$("$popqueue" enqueue laterJob --delay 1h)
"$popqueue" worker --exec myJob=true --exec failingJob=false --poll-interval 50ms \
  >"$work/worker.log" 2>&1 &
worker_pid=$!
pids+=("$worker_pid")
for _ in $(seq 300); do
  states=$("$popqueue" jobs --json | "$python" -c 'import json,sys; print(" ".join(sorted(j["state"] for j in json.load(sys.stdin)["jobs"])))')
  [[ $states == "completed dead scheduled" ]] && break
  sleep 0.1
done
[[ $states == "completed dead scheduled" ]] || { cat "$work/worker.log" >&2; fail "jobs did not reach completed/dead/scheduled: $states"; }
kill -TERM "$worker_pid"
wait "$worker_pid" || true

# --- popqueue serve on the README's localhost:3000 ---------------------------
if curl -s -o /dev/null http://127.0.0.1:3000/ 2>/dev/null; then
  unavailable "something already listens on port 3000, which the README's curl lines name"
fi
grpc_port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$popqueue" serve --host 127.0.0.1 --grpc-address "127.0.0.1:$grpc_port" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
  curl -sf -o /dev/null http://127.0.0.1:3000/healthz && break
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/serve.log" >&2; fail "popqueue serve exited"; }
  sleep 0.05
done

# The README's first curl line, exactly as printed.
line=$(snippet "API Endpoints/Getting Job Details")
[[ $line == 'curl -X GET http://localhost:3000/api/job-details'* ]] || fail "the README's GET line changed: $line"
bash -c "$line -sS --fail-with-body" >"$work/details.json" || { cat "$work/serve.log" >&2; fail "GET /api/job-details"; }
check "$work/details.json" "[d['id'] for d in j['jobDetails']] == ['$later_id', '$dead_id', '$done_id']" \
  "GET /api/job-details: the three jobs, newest first"
check "$work/details.json" "all(set(['name','identifier','status','createdAt','pickedAt','finishedAt']) <= set(d) for d in j['jobDetails'])" \
  "GET /api/job-details: every README field in every job detail"
check "$work/details.json" "[(d['name'], d['identifier'], d['status']) for d in j['jobDetails']] == [('laterJob','','scheduled'), ('failingJob','','dead'), ('myJob','jobIdentifier','completed')]" \
  "GET /api/job-details: names, identifiers, statuses"
check "$work/details.json" "j['jobDetails'][0]['pickedAt'] is None and j['jobDetails'][2]['finishedAt'].endswith('Z')" \
  "GET /api/job-details: unset times are null, set times RFC 3339 UTC"

# gRPC: GetJobDetails with the README's empty JobDetailsRequest.
snippet "gRPC Endpoints/Getting Job Details" >"$work/job_details.proto"
snippet "gRPC Endpoints/Requeuing a Job" >"$work/requeue_job.proto"
client() { "$python" "$here/readme_grpc_client.py" --address "127.0.0.1:$grpc_port" "$@"; }
client --proto "$work/job_details.proto" details >"$work/grpc_details.json"
check "$work/grpc_details.json" "'jobDetails' in j and len(j['jobDetails']) == 3" \
  "gRPC GetJobDetails({}): three job details"
# Field by field the same values as REST (unset times: "" in gRPC, null in JSON).
"$python" - "$work/details.json" "$work/grpc_details.json" <<'EOF' || fail "gRPC and REST job details differ"
import json, sys
rest = json.load(open(sys.argv[1]))["jobDetails"]
grpc = json.load(open(sys.argv[2]))["jobDetails"]
for r, g in zip(rest, grpc):
    for f in ("name", "identifier", "status", "createdAt", "pickedAt", "finishedAt"):
        want = r[f] if r[f] is not None else ""
        if g[f] != want:
            sys.exit("%s of job %s: gRPC %r, REST %r" % (f, r["id"], g[f], want))
    if set(g) != {"name", "identifier", "status", "createdAt", "pickedAt", "finishedAt"}:
        sys.exit("the README's JobDetail decoded fields %s" % sorted(g))
EOF

# The README's requeue line, with its placeholder replaced by the dead job.
line=$(snippet "API Endpoints/Requeuing a Job")
[[ $line == *'"yourJobId"'* ]] || fail "the README's requeue line changed: $line"
bash -c "${line//yourJobId/$dead_id} -sS --fail-with-body" >"$work/requeue.json" || fail "POST /api/requeue-job"
check "$work/requeue.json" "j['message'] == 'job $dead_id (failingJob) requeued: available, 1 attempt left' and j['job']['state'] == 'available' and j['job']['id'] == '$dead_id'" \
  "POST /api/requeue-job: {message, job}"

# gRPC RequeueJob: the README's RequeueJobResponse { string message = 1; }.
client --proto "$work/requeue_job.proto" requeue "$done_id" >"$work/grpc_requeue.json"
check "$work/grpc_requeue.json" "j == {'message': 'job $done_id (myJob) requeued: available, 4 attempts left'}" \
  "gRPC RequeueJob: the README's message"
client --proto "$work/requeue_job.proto" requeue "$later_id" >"$work/grpc_requeue_bad.json"
check "$work/grpc_requeue_bad.json" "j['code'] == 'FAILED_PRECONDITION'" \
  "gRPC RequeueJob of a scheduled job: FAILED_PRECONDITION"
client --proto "$work/requeue_job.proto" requeue "yourJobId" >"$work/grpc_requeue_bad.json"
check "$work/grpc_requeue_bad.json" "j['code'] == 'INVALID_ARGUMENT' and j['details'].startswith('jobId')" \
  "gRPC RequeueJob of a malformed id: INVALID_ARGUMENT naming jobId"

# Both requeues took effect in the store.
curl -sS "http://localhost:3000/api/job-details?state=available" >"$work/available.json"
check "$work/available.json" "sorted(d['id'] for d in j['jobDetails']) == sorted(['$dead_id', '$done_id'])" \
  "the requeued jobs are available"
echo "ok: the README's curl lines and gRPC messages work on $backend"
