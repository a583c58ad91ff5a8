// The W1-W4 workloads of issue 9 for one Node.js queue, the same as
// bench/throughput.cc does for pop-queue and bench/peers/internal/harness for
// the Go peers. One workload per process: scripts/bench gives each run fresh
// state (a new PostgreSQL database, new Redis key prefix). Prints one JSON line.
//
// An adapter (graphile-worker.js, pg-boss.js, bullmq.js) provides:
//   system, version, backend, settings: strings for the report
//   open(opts)               connect, migrate, create the queue (not timed)
//   enqueue(indices)         store one batch of no-op jobs, payload = index
//   start(onJob, opts)       start workers (opts.concurrency, opts.latency);
//                            the handler calls onJob(index) when it starts
//   unfinished()             jobs the store still holds as not finished
//   close()
'use strict';

const fs = require('node:fs');
const { performance } = require('node:perf_hooks');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const a = { workload: 'w1', jobs: 20000, batch: 1000, concurrency: 100,
              duration: 60, samples: 1000, depth: 4000, warmup: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, ''), v = argv[i + 1];
    if (!(k in a) || v === undefined) throw new Error(`unknown or incomplete flag ${argv[i]}`);
    a[k] = k === 'workload' ? v : Number(v);
  }
  return a;
}

function loadAverage() {
  try { return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number); }
  catch { return null; }
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function enqueueAll(q, jobs, batch) {
  for (let done = 0; done < jobs; done += batch) {
    const n = Math.min(batch, jobs - done);
    await q.enqueue(Array.from({ length: n }, (_, i) => done + i));
  }
}

// Store queries the harness itself made (drained()), reported as "polls" so
// that scripts/bench can take them off the server's counters.
let polls = 0;

// Waits (polling the store) until nothing is left unfinished; returns the time.
async function drained(q) {
  for (;;) {
    polls++;
    if ((await q.unfinished()) === 0) return performance.now();
    await sleep(2);
  }
}

async function w1(q, a) {
  const t0 = performance.now();
  await enqueueAll(q, a.jobs, a.batch);
  const s = (performance.now() - t0) / 1000;
  return { jobs: a.jobs, batch: a.batch, seconds: s, jobs_per_s: a.jobs / s };
}

// Burn-down: N jobs enqueued first; from the first handler start to the moment
// the store holds no unfinished job.
async function w2(q, a) {
  await enqueueAll(q, a.jobs, 1000);
  const runs = new Uint8Array(a.jobs);
  let handled = 0, t0 = 0, allStarted;
  const started = new Promise((r) => { allStarted = r; });
  await q.start((i) => {
    if (handled === 0) t0 = performance.now();
    if (i >= 0 && i < a.jobs && runs[i] < 255) runs[i]++;
    if (++handled >= a.jobs) allStarted();
  }, { concurrency: a.concurrency });
  await started;
  const t1 = await drained(q);
  const once = runs.reduce((n, r) => n + (r === 1), 0);
  const s = (t1 - t0) / 1000;
  return { jobs: a.jobs, concurrency: a.concurrency, seconds: s, jobs_per_s: a.jobs / s,
           exactly_once: once, ok: once === a.jobs };
}

// Steady state: the producer keeps enqueued - started >= 1.5 x depth (so at
// least `depth` wait in the store while workers hold local batches); counts
// handler starts over `duration` seconds from the first one.
async function w3(q, a) {
  const target = Math.ceil(a.depth * 1.5);
  let enqueued = 0, handled = 0, firstStart;
  const first = new Promise((r) => { firstStart = r; });
  const more = async () => {
    const n = Math.min(1000, target);
    await q.enqueue(Array.from({ length: n }, (_, i) => enqueued + i));
    enqueued += n;
  };
  while (enqueued < target) await more();
  await q.start(() => { if (handled++ === 0) firstStart(performance.now()); },
                { concurrency: a.concurrency });
  const t0 = await first;
  const end = t0 + a.duration * 1000;
  let minDepth = Infinity;
  while (performance.now() < end) {
    const depth = enqueued - handled;
    minDepth = Math.min(minDepth, depth);
    if (depth < target) await more(); else await sleep(5);
  }
  const done = handled;
  return { seconds: a.duration, concurrency: a.concurrency, completed: done,
           jobs_per_s: done / a.duration, min_depth: minDepth, enqueued };
}

// Latency: concurrency 1, one job at a time; enqueue call to handler start.
async function w4(q, a) {
  let waiting = null;
  await q.start((i) => { if (waiting && waiting.i === i) waiting.resolve(performance.now()); },
                { concurrency: 1, latency: true });
  const ms = [];
  for (let i = 0; i < a.samples + a.warmup; i++) {
    const started = new Promise((resolve) => { waiting = { i, resolve }; });
    const t0 = performance.now();
    await q.enqueue([i]);
    const t1 = await started;
    if (i >= a.warmup) ms.push(t1 - t0);
    await drained(q);  // the previous job is finished before the next sample
  }
  ms.sort((x, y) => x - y);
  return { samples: ms.length, latency_ms: { min: ms[0], p50: percentile(ms, 50),
           p95: percentile(ms, 95), p99: percentile(ms, 99), max: ms[ms.length - 1] } };
}

async function main(q) {
  const a = parseArgs(process.argv.slice(2));
  const load = loadAverage();
  // w0: open (migrate, create the queue) and close, nothing else: scripts/bench
  // runs it on a fresh database first so that the counters of the measured
  // run do not include the schema's creation.
  const w0 = async () => ({});
  const run = { w0, w1, w2, w3, w4 }[a.workload];
  if (!run) throw new Error(`unknown workload ${a.workload}`);
  await q.open(a);
  let result;
  try {
    result = await run(q, a);
  } finally {
    await q.close();
  }
  const out = { system: q.system, version: q.version, backend: q.backend,
                workload: a.workload, settings: q.settings(a), load, ok: true, ...result, polls };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runMain(q) {
  main(q).then(() => process.exit(0), (e) => {
    process.stderr.write(`${q.system}: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}

module.exports = { runMain };
