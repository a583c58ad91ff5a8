// pg-boss 10 on PostgreSQL for the W1-W4 harness (harness.js). pg-boss polls
// (0.5 s is its minimum interval); throughput runs use several workers that
// each fetch a batch per poll, the latency run one worker fetching one job.
'use strict';

const PgBoss = require('pg-boss');
const { runMain } = require('./harness');

const url = process.env.BENCH_POSTGRES_URL;
const WORKERS = Number(process.env.PGBOSS_WORKERS || 10);
const BATCH = Number(process.env.PGBOSS_BATCH || 200);
const QUEUE = 'noop';
let boss;

runMain({
  system: 'pg-boss',
  version: require('pg-boss/package.json').version,
  backend: 'postgres',
  settings: (a) => (a.workload === 'w4'
    ? '1 worker, batchSize 1, polling 0.5 s'
    : `${WORKERS} workers x batchSize ${BATCH}, polling 0.5 s, pool 20; insert()`),
  async open() {
    if (!url) throw new Error('BENCH_POSTGRES_URL is not set');
    boss = new PgBoss({ connectionString: url, max: 20, schedule: false, supervise: false });
    boss.on('error', (e) => process.stderr.write(`pg-boss: ${e.message}\n`));
    await boss.start();
    await boss.createQueue(QUEUE);
  },
  async enqueue(indices) {
    if (indices.length === 1) {
      await boss.send(QUEUE, { i: indices[0] });
    } else {
      await boss.insert(indices.map((i) => ({ name: QUEUE, data: { i } })));
    }
  },
  async start(onJob, { latency }) {
    const workers = latency ? 1 : WORKERS;
    const batchSize = latency ? 1 : BATCH;
    for (let w = 0; w < workers; w++) {
      await boss.work(QUEUE, { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        for (const job of jobs) onJob(job.data.i);
      });
    }
  },
  async unfinished() {
    const r = await boss.getDb().executeSql(
      "select count(*)::int as n from pgboss.job where name = $1 and state < 'completed'", [QUEUE]);
    return r.rows[0].n;
  },
  async close() {
    if (boss) await boss.stop({ graceful: false, wait: true, timeout: 2000 });
  },
});
