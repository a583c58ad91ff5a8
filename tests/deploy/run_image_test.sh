#!/usr/bin/env bash
# The container images of deploy/Dockerfile, built and run (issue 24):
#   run_image_test.sh <popqueue binary> <work dir>
#
# 1. A Debian 12 base made with debootstrap (no registry is needed; cached in
#    $POPQUEUE_IMAGE_CACHE, default ~/.cache/popqueue-image) and imported
#    into podman as localhost/popqueue-base:bookworm.
# 2. `podman build` of the runtime image and of the dev target, with the
#    host's ccache mounted at /ccache (CCACHE_DIR, default
#    ~/.cache/popqueue-ccache), so a host build of the same tree serves it.
# 3. serve on a SQLite volume: /healthz, /readyz and the dashboard answer;
#    the process runs as uid 10001; SIGTERM stops it with exit 0.
# 4. worker on the test PostgreSQL (host network) with an --exec handler:
#    1,000 jobs enqueued from the host, each run exactly once (a ledger on a
#    volume); the worker's /healthz and /metrics answer; SIGTERM while
#    slow jobs run: they finish within the shutdown deadline, exit 0.
# 5. examples/docker-worker: a C++ worker image built FROM the dev image,
#    run against the same PostgreSQL, completes its jobs.
#
# Needs root, podman, runc, debootstrap (scripts/install-deps installs them)
# and POPQUEUE_TEST_POSTGRES_URL (scripts/with-services). Exit 77 = skipped
# (prints why), except under CI=true, where a missing piece fails. It is an
# opt-in step of .ci/run (POPQUEUE_CI_STEPS="test image"): docs/deploy.md records its
# last result and times.
set -euo pipefail
popqueue=$(readlink -f "$1")
work=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

unavailable() {
  if [ "${CI:-}" = "true" ]; then
    echo "image test: FAILED (CI=true): $1" >&2
    exit 1
  fi
  echo "image test: SKIPPED: $1"
  exit 77
}
[ "$(id -u)" -eq 0 ] || unavailable "needs root (podman with runc, network host)"
for tool in podman runc debootstrap curl; do
  command -v "$tool" >/dev/null || unavailable "$tool not found (scripts/install-deps)"
done
pg=${POPQUEUE_TEST_POSTGRES_URL:-}
[ -n "$pg" ] || unavailable "POPQUEUE_TEST_POSTGRES_URL is not set (run under scripts/with-services)"

rm -rf "$work"
mkdir -p "$work"
cache=${POPQUEUE_IMAGE_CACHE:-$HOME/.cache/popqueue-image}
ccache_dir=${CCACHE_DIR:-$HOME/.cache/popqueue-ccache}
mkdir -p "$cache" "$ccache_dir"
tag=$$
base=localhost/popqueue-base:bookworm
image=localhost/popqueue:test
dev=localhost/popqueue-dev:test
example=localhost/popqueue-example:test
# crun fails on these hosts (hybrid cgroups, default rlimits); runc with
# explicit limits works.
pm() { podman --runtime runc "$@"; }
limits=(--ulimit nofile=20000:20000 --ulimit nproc=1000:1000)
containers=()
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

step_start=0
step() {
  echo "== image test: $*"
  step_start=$(date +%s)
}
took() { echo "   ($(( $(date +%s) - step_start )) s)"; }
fail() {
  echo "image test: FAILED: $*" >&2
  exit 1
}
# Waits up to $1 s for the command after it to succeed.
wait_for() {
  local limit=$1
  shift
  local end=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.3
  done
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

step "base image $base"
if ! podman image exists "$base"; then
  if [ ! -s "$cache/bookworm-minbase.tar" ]; then
    rm -rf "$cache/rootfs"
    debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian \
      >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
    # Updates and security, as on the host, so packages (and the compiler
    # ccache hashes) are the same versions.
    printf '%s\n' "deb http://deb.debian.org/debian bookworm main" \
      "deb http://deb.debian.org/debian bookworm-updates main" \
      "deb http://deb.debian.org/debian-security bookworm-security main" \
      >"$cache/rootfs/etc/apt/sources.list"
    tar -C "$cache/rootfs" -cf "$cache/bookworm-minbase.tar.tmp" .
    mv "$cache/bookworm-minbase.tar.tmp" "$cache/bookworm-minbase.tar"
    rm -rf "$cache/rootfs"
  fi
  podman import "$cache/bookworm-minbase.tar" "$base" >/dev/null
fi
took

build_args=(--format docker --network host "${limits[@]}" -v "$ccache_dir:/ccache"
            --build-arg BASE_IMAGE=$base --build-arg RUNTIME_IMAGE=$base
            --ignorefile "$root/deploy/Dockerfile.dockerignore" -f "$root/deploy/Dockerfile")
step "podman build $image (runtime target)"
pm build "${build_args[@]}" -t "$image" "$root" >"$work/build-runtime.log" 2>&1 ||
  { tail -30 "$work/build-runtime.log"; fail "podman build (runtime)"; }
grep -E "^ *(Hits|Misses|Cacheable calls|Direct)" "$work/build-runtime.log" | head -4 || true
took
step "podman build $dev (dev target)"
pm build "${build_args[@]}" --target dev -t "$dev" "$root" >"$work/build-dev.log" 2>&1 ||
  { tail -30 "$work/build-dev.log"; fail "podman build (dev)"; }
took

# --- serve on a SQLite volume ----------------------------------------------
step "serve container on a SQLite volume"
mkdir -p "$work/data"
chown 10001:10001 "$work/data"
port=$(free_port)
gport=$(free_port)
serve=pqt-serve-$tag
containers+=("$serve")
# The port by environment, which the image's HEALTHCHECK reads too.
pm run -d --name "$serve" --network host "${limits[@]}" -v "$work/data:/var/lib/popqueue" \
  -e POPQUEUE_PORT="$port" "$image" --grpc-address "127.0.0.1:$gport" >/dev/null 2>>"$work/podman.log"
wait_for 60 curl -fsS "http://127.0.0.1:$port/healthz" ||
  { podman logs "$serve" | tail -20; fail "serve: /healthz did not answer"; }
curl -fsS "http://127.0.0.1:$port/readyz" | grep -q '"ready"' || fail "serve: /readyz"
curl -fsS "http://127.0.0.1:$port/" | grep -qi "<title>pop-queue" || fail "serve: dashboard page"
curl -fsS "http://127.0.0.1:$port/app.js" >/dev/null || fail "serve: dashboard script"
[ "$(podman exec "$serve" id -u)" = 10001 ] || fail "serve: not running as uid 10001"
podman top "$serve" user,args | grep -q "popqueue serve" || fail "serve: process"
[ -s "$work/data/popqueue.db" ] || fail "serve: no SQLite file on the volume"
# The image's HEALTHCHECK, run once (podman schedules it with systemd timers,
# which these hosts lack).
podman healthcheck run "$serve" 2>>"$work/podman.log" || fail "serve: the image's HEALTHCHECK failed"
pm stop -t 20 "$serve" >/dev/null 2>>"$work/podman.log"
[ "$(podman inspect --format '{{.State.ExitCode}}' "$serve")" = 0 ] || fail "serve: exit code after SIGTERM"
echo "   serve: /healthz /readyz / answered on :$port as uid 10001; SIGTERM -> exit 0"
took

# --- worker on PostgreSQL --------------------------------------------------
collection=imgtest_$tag
export DB_URL=$pg POPQUEUE_COLLECTION=$collection
step "worker container draining 1,000 jobs from PostgreSQL"
mkdir -p "$work/ledger"
chmod 0777 "$work/ledger"
mport=$(free_port)
worker=pqt-worker-$tag
containers+=("$worker")
# The README's deployment: WORKER_ID and WORKER_TIMEOUT from the environment.
pm run -d --name "$worker" --network host "${limits[@]}" -v "$work/ledger:/ledger" \
  -e DB_URL="$pg" -e POPQUEUE_COLLECTION="$collection" -e WORKER_ID=image-worker-1 \
  -e WORKER_TIMEOUT=30000 -e POPQUEUE_METRICS_ADDRESS="127.0.0.1:$mport" \
  --entrypoint popqueue "$image" worker --concurrency 20 --shutdown-deadline 10s \
  --exec 'work=echo "$POPQUEUE_JOB_ID" >> /ledger/ids' \
  --exec 'slow=sleep 3; echo "$POPQUEUE_JOB_ID" >> /ledger/slow' >/dev/null 2>>"$work/podman.log"
wait_for 60 curl -fsS "http://127.0.0.1:$mport/healthz" ||
  { podman logs "$worker" | tail -20; fail "worker: /healthz did not answer"; }
curl -fsS "http://127.0.0.1:$mport/readyz" | grep -q '"ready"' || fail "worker: /readyz"
seq 1 1000 | xargs -P 4 -I{} "$popqueue" enqueue work --data "job-{}" >"$work/enqueued" 2>>"$work/enqueue.log" ||
  fail "enqueue"
[ "$(sort -u "$work/enqueued" | wc -l)" = 1000 ] || fail "enqueue: expected 1000 ids"
count_ids() { [ -f "$work/ledger/ids" ] && wc -l <"$work/ledger/ids" || echo 0; }
drained() { [ "$(count_ids)" -ge 1000 ]; }
wait_for 120 drained || {
  podman logs "$worker" 2>&1 | tail -30 >&2
  "$popqueue" stats >&2 || true
  fail "worker: $(count_ids) of 1000 jobs ran in 120 s"
}
sleep 1  # late duplicates would show up now
runs=$(count_ids)
distinct=$(sort -u "$work/ledger/ids" | wc -l)
[ "$runs" = 1000 ] && [ "$distinct" = 1000 ] || fail "worker: $runs runs of $distinct jobs (want 1000 of 1000)"
diff <(sort "$work/enqueued") <(sort "$work/ledger/ids") >/dev/null || fail "worker: ran other ids than enqueued"
curl -fsS "http://127.0.0.1:$mport/metrics" | grep -q 'popqueue_jobs_completed_total{name="work"} 1000' ||
  fail "worker: /metrics does not count 1000 completions"
[ "$(podman exec "$worker" id -u)" = 10001 ] || fail "worker: not running as uid 10001"
podman healthcheck run "$worker" 2>>"$work/podman.log" ||
  fail "worker: the image's HEALTHCHECK (POPQUEUE_METRICS_ADDRESS) failed"
"$popqueue" workers | grep -q image-worker-1 || fail "worker: WORKER_ID not in the registry"
echo "   worker: 1000 jobs, 1000 runs, each once; /metrics counted 1000; uid 10001; WORKER_ID registered"
took

step "SIGTERM to the worker container while 5 slow jobs run"
for i in 1 2 3 4 5; do "$popqueue" enqueue slow --data "slow-$i" >>"$work/slow-enqueued" 2>>"$work/enqueue.log"; done
running() {
  "$popqueue" jobs --state running --json | python3 -c \
    'import json,sys; sys.exit(0 if len(json.load(sys.stdin)["jobs"]) == 5 else 1)'
}
wait_for 30 running || fail "slow jobs did not start"
t0=$(date +%s.%N)
pm stop -t 30 "$worker" >/dev/null 2>>"$work/podman.log"
t1=$(date +%s.%N)
elapsed=$(python3 -c "print(round($t1 - $t0, 1))")
code=$(podman inspect --format '{{.State.ExitCode}}' "$worker")
[ "$code" = 0 ] || fail "worker: exit code $code after SIGTERM (137 = killed)"
python3 -c "import sys; sys.exit(0 if $elapsed < 10 else 1)" ||
  fail "worker: took ${elapsed}s to stop, shutdown deadline 10s"
slow_done=$(wc -l <"$work/ledger/slow" 2>/dev/null || echo 0)
[ "$slow_done" = 5 ] || fail "worker: $slow_done of 5 in-flight jobs finished before it exited"
completed=$("$popqueue" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"].get("completed", 0))')
[ "$completed" = 1005 ] || fail "store: $completed completed jobs, want 1005"
podman logs "$worker" 2>&1 | grep -q "stopping gracefully" || fail "worker: no graceful stop in its log"
echo "   SIGTERM: stopped in ${elapsed}s, exit 0, 5 of 5 in-flight jobs finished and stored"
took

# --- a C++ worker image FROM popqueue-dev -----------------------------------
step "examples/docker-worker built FROM $dev and run"
pm build --format docker --network host "${limits[@]}" --build-arg DEV_IMAGE=$dev --build-arg RUNTIME_IMAGE=$image \
  -t "$example" "$root/examples/docker-worker" >"$work/build-example.log" 2>&1 ||
  { tail -30 "$work/build-example.log"; fail "podman build examples/docker-worker"; }
cxx=pqt-example-$tag
containers+=("$cxx")
pm run -d --name "$cxx" --network host "${limits[@]}" -e DB_URL="$pg" "$example" >/dev/null \
  2>>"$work/podman.log"
all_reversed() {
  for id in "${ids[@]}"; do
    "$popqueue" job "$id" --json | python3 -c \
      'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["state"]=="completed" and j["result"]==j["data"][::-1] else 1)' ||
      return 1
  done
}
# The example opens collection "jobs"; point the CLI at it.
export POPQUEUE_COLLECTION=jobs
ids=()
for i in $(seq 1 20); do ids+=("$("$popqueue" enqueue reverse --data "abc-$i")"); done
wait_for 60 all_reversed || { podman logs "$cxx" | tail -20; fail "docker-worker: jobs not completed"; }
pm stop -t 20 "$cxx" >/dev/null 2>>"$work/podman.log"
[ "$(podman inspect --format '{{.State.ExitCode}}' "$cxx")" = 0 ] || fail "docker-worker: exit code"
echo "   docker-worker: 20 jobs reversed by the C++ worker image; SIGTERM -> exit 0"
took

podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "popqueue(-dev|-example)?:test" || true
echo "image test: passed"
