// graphile-worker 0.17 on PostgreSQL for the W1-W4 harness (harness.js).
// Throughput runs use its documented batching: a local queue of fetched jobs
// and batched completions; the latency run uses neither (one job at a time).
'use strict';

const { run, makeWorkerUtils, Logger } = require('graphile-worker');
const { runMain } = require('./harness');

const url = process.env.BENCH_POSTGRES_URL;
const silent = new Logger(() => () => {});
const LOCAL_QUEUE = Number(process.env.GRAPHILE_LOCAL_QUEUE || 500);
const POOL = Number(process.env.GRAPHILE_POOL || 20);
let utils, runner;

runMain({
  system: 'graphile-worker',
  version: require('graphile-worker/package.json').version,
  backend: 'postgres',
  settings: (a) => (a.workload === 'w4'
    ? 'concurrency 1, no local queue'
    : `concurrency ${a.concurrency}, localQueue ${LOCAL_QUEUE}, completeJobBatchDelay 0, pool ${POOL}; addJobs`),
  async open() {
    if (!url) throw new Error('BENCH_POSTGRES_URL is not set');
    utils = await makeWorkerUtils({ connectionString: url, logger: silent });
    await utils.migrate();
  },
  async enqueue(indices) {
    if (indices.length === 1) {
      await utils.addJob('noop', { i: indices[0] });
    } else {
      await utils.addJobs(indices.map((i) => ({ identifier: 'noop', payload: { i } })));
    }
  },
  async start(onJob, { concurrency, latency }) {
    const worker = latency ? {} : {
      localQueue: { size: LOCAL_QUEUE },
      completeJobBatchDelay: 0,
    };
    runner = await run({
      connectionString: url,
      concurrency,
      maxPoolSize: latency ? 4 : POOL,
      noHandleSignals: true,
      pollInterval: 1000,
      logger: silent,
      preset: { worker },
      taskList: { noop: async (payload) => { onJob(payload.i); } },
    });
  },
  async unfinished() {
    const r = await utils.withPgClient((c) =>
      c.query('select count(*)::int as n from graphile_worker._private_jobs'));
    return r.rows[0].n;
  },
  async close() {
    if (runner) await runner.stop();
    if (utils) await utils.release();
  },
});
