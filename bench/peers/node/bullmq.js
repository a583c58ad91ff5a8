// BullMQ 6 on Redis (ioredis) for the W1-W4 harness (harness.js). Keys live
// under a per-run prefix (BENCH_PREFIX) and are removed at the end, so runs
// never touch each other's data.
'use strict';

const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');
const { runMain } = require('./harness');

const url = process.env.BENCH_REDIS_URL;
const prefix = process.env.BENCH_PREFIX || `bench${process.pid}`;
const QUEUE = 'noop';
let queue, worker;
const conn = () => new IORedis(url, { maxRetriesPerRequest: null });

runMain({
  system: 'BullMQ',
  version: require('bullmq/package.json').version,
  backend: 'redis',
  settings: (a) => (a.workload === 'w4'
    ? 'concurrency 1'
    : `concurrency ${a.concurrency}, removeOnComplete; addBulk`),
  async open() {
    if (!url) throw new Error('BENCH_REDIS_URL is not set');
    queue = new Queue(QUEUE, { connection: conn(), prefix,
                               defaultJobOptions: { removeOnComplete: true } });
    await queue.waitUntilReady();
  },
  async enqueue(indices) {
    if (indices.length === 1) {
      await queue.add('noop', { i: indices[0] });
    } else {
      await queue.addBulk(indices.map((i) => ({ name: 'noop', data: { i } })));
    }
  },
  async start(onJob, { concurrency }) {
    worker = new Worker(QUEUE, async (job) => { onJob(job.data.i); },
                        { connection: conn(), prefix, concurrency, autorun: false });
    await worker.waitUntilReady();
    worker.run();
  },
  async unfinished() {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized',
                                       'waiting-children', 'paused');
    return Object.values(c).reduce((s, n) => s + n, 0);
  },
  async close() {
    if (worker) await worker.close(true);
    if (queue) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  },
});
