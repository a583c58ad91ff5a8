// Browser test of the dashboard: starts dashboard_server (a seeded queue),
// drives headless Chromium through playwright-core, and exits non-zero on
// any failure.
//
//   node dashboard.mjs <dashboard_server> <chromium> <out dir>
//
// Checks: the page loads without script errors or dialogs; filtering by
// state "dead" lists only dead jobs; the job whose payload is an HTML
// injection probe shows it as literal text (no element is created, no
// alert fires); its detail opens; Requeue asks for the token (the server has
// one), then moves the job to "available"; a running job past its timeout
// shows that it is stopping, and since when; the Schedules panel lists the
// fixture's two schedules with their next fire time in their own zone and in
// the browser's (pinned to America/New_York), the probe-named one as text.
// Saves dashboard.png in <out dir>. The workflow view of wf-fetch lists the
// four jobs of its workflow with their states (coloured as the state cards),
// the edges ("ignore failure" marked) and the probe-named job as text; a
// change of state shows at the next refresh, and a row opens its job
// (dashboard-workflow.png).
// Then, against a server with scoped tokens: the page asks for a token
// before it shows anything; with a read token it shows jobs and refuses
// Requeue and Pause with the server's sentence (the scope needed); a write
// token is refused too (requeue and pause are admin); an admin token
// requeues. The token lives only in the tab's sessionStorage: no
// localStorage, no cookie, and a new tab asks again.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [serverPath, chromiumPath, outDir] = process.argv.slice(2);
const PROBE = '<img src=x onerror=alert(1)>';
const TOKEN = 'dashboard-test-token';
const READ = 'viewer-secret-0123456789';
const WRITE = 'producer-secret-0123456789';
const ADMIN = 'operator-secret-0123456789';
const TIMEOUT = 15000;

function fail(message) {
  throw new Error(message);
}

function startServer(args) {
  const child = spawn(serverPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = /^PORT (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error('dashboard_server exited with ' + code)));
    setTimeout(() => reject(new Error('dashboard_server did not report a port')), 60000);
  });
  return { child, port };
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
}

async function main() {
  const { child, port } = startServer(['--token', TOKEN, '--cors']);
  let scoped = null;
  const userDataDir = mkdtempSync(join(tmpdir(), 'popqueue-chromium-'));
  let context = null;
  const problems = [];
  try {
    const base = 'http://127.0.0.1:' + (await port);
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1000 },
      // Pinned, so that the schedules' local times are known.
      locale: 'en-GB',
      timezoneId: 'America/New_York',
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    page.on('dialog', async (dialog) => {
      problems.push('a dialog fired: ' + dialog.type() + ' ' + dialog.message());
      await dialog.dismiss().catch(() => {});
    });
    page.on('pageerror', (err) => problems.push('page error: ' + err.message));
    page.on('console', (msg) => {
      // The 401s that make the dashboard ask for a token, and the 403s of
      // refused changes, are expected.
      if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) {
        problems.push('console error: ' + msg.text());
      }
    });

    await page.goto(base + '/');
    await page.locator('#state-cards .card').first().waitFor();
    const title = await page.title();
    if (title !== 'pop-queue') fail('unexpected title ' + JSON.stringify(title));

    // Filter by state dead.
    await page.selectOption('#state-filter', 'dead');
    const rows = page.locator('#jobs-table tbody tr[data-id]');
    await page.waitForFunction(() => {
      const r = [...document.querySelectorAll('#jobs-table tbody tr[data-id]')];
      return r.length === 3 && r.every((tr) => tr.querySelector('.badge').textContent === 'dead');
    }, null, { timeout: TIMEOUT });

    // The probe is shown as text and made no element.
    const probeRow = rows.filter({ hasText: PROBE });
    if ((await probeRow.count()) !== 1) fail('the probe job is not listed literally');
    if ((await page.locator('#jobs-table img, #job-detail img').count()) !== 0) {
      fail('job data became an <img> element');
    }

    // Open it.
    await probeRow.click();
    await page.locator('#job-detail').waitFor({ state: 'visible' });
    const id = await probeRow.getAttribute('data-id');
    await page.waitForFunction((want) => document.getElementById('detail-id').textContent === want, id);
    const shown = await page.locator('#detail-data').textContent();
    if (shown !== PROBE) fail('payload shown as ' + JSON.stringify(shown));
    if ((await page.locator('#detail-state').textContent()) !== 'dead') fail('detail state is not dead');
    if ((await page.locator('#detail-errors li').count()) < 1) fail('no errors listed');
    if (await page.locator('#btn-workflow').isVisible()) fail('a job of no workflow shows the workflow button');

    // Requeue: the server wants a token, so the dashboard asks for it.
    await page.click('#btn-requeue');
    await page.locator('#token-form').waitFor({ state: 'visible' });
    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('detail-state').textContent === 'available',
                               null, { timeout: TIMEOUT });
    // The server's sentence (the README's RequeueJobResponse.message) is shown.
    const said = await page.textContent('#detail-message');
    if (!/requeued: available/.test(said)) throw new Error(`requeue message shown: ${JSON.stringify(said)}`);
    const stored = await page.evaluate(() => sessionStorage.getItem('popqueue.token'));
    if (stored !== TOKEN) fail('token not kept in sessionStorage');
    // The server agrees.
    const job = await (await fetch(base + '/api/jobs/' + id)).json();
    if (job.state !== 'available') fail('server says the job is ' + job.state);

    // A running job past its timeout, still held by its worker: the detail
    // says it is stopping, and since when.
    await page.selectOption('#state-filter', 'running');
    const runningRow = page.locator('#jobs-table tbody tr[data-id]').filter({ hasText: 'transcode' });
    await runningRow.first().waitFor({ timeout: TIMEOUT });
    const runningId = await runningRow.first().getAttribute('data-id');
    await runningRow.first().click();
    await page.waitForFunction((want) => document.getElementById('detail-id').textContent === want, runningId);
    const detail = await page.$$eval('#detail-fields dt', (dts) =>
      dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent]));
    const stopping = detail.find(([name]) => name === 'Stopping');
    if (!stopping || !/^timed out since .+: waiting for the handler to return$/.test(stopping[1])) {
      fail('stopping not shown: ' + JSON.stringify(detail));
    }
    // Its metadata, one row per key, the probe as text.
    const meta = Object.fromEntries(detail.filter(([name]) => name.startsWith('meta ')));
    if (meta['meta traceparent'] !== '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' ||
        meta['meta tenant'] !== PROBE) {
      fail('metadata not shown as text: ' + JSON.stringify(meta));
    }
    if (await page.locator('#detail-fields img').count() !== 0) fail('metadata rendered as HTML');
    const stoppingJob = await (await fetch(base + '/api/jobs/' + runningId)).json();
    if (!stoppingJob.timedOut || stoppingJob.stopping?.reason !== 'timeout') {
      fail('the API does not say the job timed out: ' + JSON.stringify(stoppingJob));
    }

    // Back to all states: charts and tables render.
    await page.selectOption('#state-filter', '');
    await page.waitForFunction(() => document.querySelectorAll('#jobs-table tbody tr[data-id]').length >= 8);
    await page.locator('#queues-table tbody tr[data-queue="billing"]').waitFor();
    await page.locator('#workers-table tbody tr td').first().waitFor();
    // Each worker row shows its address and pid (columns 3 and 4), as the API gives them;
    // a remote worker (pid 0) shows '-' for its pid.
    const apiWorkers = (await (await fetch(base + '/api/workers')).json()).workers;
    if (!apiWorkers.some((w) => w.id === 'py-remote-1' && w.address === '10.9.8.7')) {
      fail('the remote worker py-remote-1 is not in /api/workers: ' + JSON.stringify(apiWorkers));
    }
    const workerRows = await page.$$eval('#workers-table tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.cells, (td) => td.textContent)));
    for (const w of apiWorkers) {
      const row = workerRows.find((cells) => cells[0] === w.id);
      if (!row) fail('worker ' + w.id + ' not shown');
      if (!w.address) fail('worker ' + w.id + ' has no address in /api/workers');
      if (row[2] !== w.address || row[3] !== (w.pid ? String(w.pid) : '-')) {
        fail('worker row ' + JSON.stringify(row) + ' does not show address ' + w.address + ' pid ' + w.pid);
      }
    }
    await checkSchedules(page, base);
    await page.click(`#jobs-table tbody tr[data-id="${id}"]`);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(outDir, 'dashboard.png'), fullPage: true });
    await checkWorkflow(page, base);

    // The original README: "open pop-queue/ui/index.html in your browser".
    // From disk, the page calls the API at ?api= (default
    // http://localhost:3000) through CORS.
    const uiDir = process.env.POPQUEUE_UI_DIR;
    if (!uiDir) fail('POPQUEUE_UI_DIR is not set');
    const fromDisk = await context.newPage();
    fromDisk.on('pageerror', (err) => problems.push('page error (from disk): ' + err.message));
    await fromDisk.goto('file://' + join(uiDir, 'index.html') + '?api=' + encodeURIComponent(base));
    await fromDisk.locator('#state-cards .card').first().waitFor();
    await fromDisk.waitForFunction(() => document.querySelectorAll('#jobs-table tbody tr[data-id]').length >= 8,
                                   null, { timeout: TIMEOUT });
    await fromDisk.close();

    await scopedTokens(context, problems, (s) => { scoped = s; });
    if (problems.length) fail(problems.join('\n'));
    console.log('dashboard test: OK (screenshot ' + join(outDir, 'dashboard.png') + ')');
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
    await stopServer(child);
    if (scoped) await stopServer(scoped);
  }
}

// The fixture's schedules (dashboard_server.cc), as the Schedules panel must
// show them. Next fire times: 1 January 00:00 in Berlin is 31 December 18:00
// in New York (both in winter time); Monday 04:30 in Tokyo is Sunday
// afternoon there.
const SCHEDULES = {
  'new-year-report': {
    cells: ['new-year-report', 'report', '0 0 1 1 *', 'Europe/Berlin', 'reports', 'skip'],
    inZone: [/\b1 Jan\b/, /\b00:00\b/], local: [/\b31 Dec\b/, /\b18:00\b/],
  },
  'probe-weekly': {
    cells: ['probe-weekly', PROBE, '30 4 * * 1', 'Asia/Tokyo', 'reports', 'run once'],
    inZone: [/^Mon\b/, /\b04:30\b/], local: [/^Sun\b/, /\b1[45]:30\b/],
  },
};

async function checkSchedules(page, base) {
  const api = (await (await fetch(base + '/api/schedules')).json()).schedules;
  if (api.length !== 2) fail('/api/schedules lists ' + JSON.stringify(api));
  await page.waitForFunction(() => document.querySelectorAll('#schedules-table tbody tr[data-schedule]').length === 2,
                             null, { timeout: TIMEOUT });
  const rows = await page.$$eval('#schedules-table tbody tr[data-schedule]', (trs) => trs.map((tr) => ({
    id: tr.dataset.schedule,
    cells: Array.from(tr.cells, (td) => td.textContent),
    title: tr.querySelector('.next-zone').title,
  })));
  for (const s of api) {
    const want = SCHEDULES[s.id];
    if (!want) fail('unexpected schedule ' + JSON.stringify(s));
    const row = rows.find((r) => r.id === s.id);
    if (!row) fail('schedule ' + s.id + ' not shown: ' + JSON.stringify(rows));
    const shown = JSON.stringify(row.cells);
    if (JSON.stringify(row.cells.slice(0, 6)) !== JSON.stringify(want.cells)) {
      fail('schedule row ' + shown + ' is not ' + JSON.stringify(want.cells));
    }
    if (!s.nextFire || row.title !== s.nextFire) fail('schedule ' + s.id + ': next fire ' + s.nextFire + ', title ' + row.title);
    if (!want.inZone.every((re) => re.test(row.cells[6]))) fail('next fire in its zone shown as ' + shown);
    if (!want.local.every((re) => re.test(row.cells[7]))) fail('next fire in local time shown as ' + shown);
  }
  if ((await page.locator('#schedules-table img').count()) !== 0) fail('a schedule became an <img> element');
}

// The fixture's workflow: wf-fetch (completed) -> wf-parse (available) ->
// wf-cleanup (waiting); the probe-named job waits for wf-fetch and, ignoring
// its failure, for wf-parse.
async function checkWorkflow(page, base) {
  const fetchRow = page.locator('#jobs-table tbody tr[data-id]').filter({ hasText: 'wf-fetch' });
  const fetchId = await fetchRow.first().getAttribute('data-id');
  await fetchRow.first().click();
  await page.waitForFunction((want) => document.getElementById('detail-id').textContent === want, fetchId);
  await page.locator('#btn-workflow').waitFor({ state: 'visible' });
  const job = await (await fetch(base + '/api/jobs/' + fetchId)).json();
  if (!job.workflowId) fail('wf-fetch has no workflowId: ' + JSON.stringify(job));
  const wf = await (await fetch(base + '/api/workflows/' + job.workflowId)).json();
  const idOf = (name) => {
    const j = wf.jobs.find((x) => x.name === name);
    if (!j) fail('workflow has no ' + name + ': ' + JSON.stringify(wf));
    return j.id;
  };
  const [f, p, x, c] = ['wf-fetch', 'wf-parse', PROBE, 'wf-cleanup'].map(idOf);
  const want = {
    [f]: { name: 'wf-fetch', state: 'completed', parents: '-', dependants: [p, x] },
    [p]: { name: 'wf-parse', state: 'available', parents: f, dependants: [x + ' (ignore failure)', c] },
    [x]: { name: PROBE, state: 'scheduled', parents: f + ', ' + p + ' (ignore failure)', dependants: [] },
    [c]: { name: 'wf-cleanup', state: 'scheduled', parents: p, dependants: [] },
  };

  await page.click('#btn-workflow');
  await page.locator('#workflow-view').waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.querySelectorAll('#workflow-table tbody tr[data-id]').length === 4,
                             null, { timeout: TIMEOUT });
  if ((await page.textContent('#workflow-id')) !== wf.id) fail('workflow view shows id ' + (await page.textContent('#workflow-id')));
  const rows = await page.$$eval('#workflow-table tbody tr[data-id]', (trs) => trs.map((tr) => {
    const badge = tr.querySelector('.badge');
    const card = document.querySelector(`#state-cards .card[data-state="${badge.textContent}"]`);
    return {
      id: tr.dataset.id, name: tr.cells[1].textContent, state: badge.textContent,
      color: getComputedStyle(badge).backgroundColor,
      cardColor: card ? getComputedStyle(card).borderLeftColor : null,
      parents: tr.cells[4].textContent, dependants: tr.cells[5].textContent,
    };
  }));
  for (const [id, w] of Object.entries(want)) {
    const row = rows.find((r) => r.id === id);
    if (!row) fail('workflow job ' + id + ' not listed: ' + JSON.stringify(rows));
    const dependants = row.dependants === '-' ? [] : row.dependants.split(', ');
    if (row.name !== w.name || row.state !== w.state || row.parents !== w.parents ||
        JSON.stringify(dependants.sort()) !== JSON.stringify([...w.dependants].sort())) {
      fail('workflow row ' + JSON.stringify(row) + ' is not ' + JSON.stringify(w));
    }
    if (!row.cardColor || row.color !== row.cardColor) fail('state of ' + JSON.stringify(row) + ' not coloured as its card');
  }
  if ((await page.locator('#workflow-view img').count()) !== 0) fail('a workflow job became an <img> element');

  // The view follows the dashboard's refresh: cancel wf-cleanup behind its back.
  const cancelled = await fetch(base + '/api/jobs/' + c + '/cancel', {
    method: 'POST', headers: { Authorization: 'Bearer ' + TOKEN } });
  if (!cancelled.ok) fail('cancel wf-cleanup: HTTP ' + cancelled.status);
  await page.waitForFunction((id) => {
    const tr = document.querySelector(`#workflow-table tbody tr[data-id="${id}"]`);
    return tr && tr.querySelector('.badge').textContent === 'cancelled';
  }, c, { timeout: TIMEOUT });
  const states = await page.$$eval('#workflow-table tbody tr[data-id]', (trs) =>
    Object.fromEntries(trs.map((tr) => [tr.dataset.id, tr.cells[3].textContent])));
  if (states[c] !== 'cancelled' || states[x] !== 'scheduledwaiting for 1') {
    fail('workflow states shown as ' + JSON.stringify(states));
  }

  // A row opens its job.
  await page.click(`#workflow-table tbody tr[data-id="${x}"]`);
  await page.waitForFunction((id) => document.getElementById('detail-id').textContent === id, x);
  if ((await page.textContent('#detail-state')) !== 'scheduled') fail('probe job detail is not scheduled');
  const fields = await page.$$eval('#detail-fields dt', (dts) =>
    Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  if (fields.Name !== PROBE || fields.Workflow !== wf.id ||
      fields['Waits for'] !== f + ', ' + p + ' (ignore failure) (1 not done)' ||
      fields['Run at'] !== 'when its parents are done') {
    fail('probe job detail: ' + JSON.stringify(fields));
  }
  if (!(await page.locator(`#workflow-table tbody tr[data-id="${x}"]`).getAttribute('class'))?.includes('selected')) {
    fail('the opened job is not marked in the workflow view');
  }
  await page.screenshot({ path: join(outDir, 'dashboard-workflow.png'), fullPage: true });
}

async function scopedTokens(context, problems, started) {
  const server = startServer(['--tokens', `viewer:read:${READ},producer:write:${WRITE},operator:admin:${ADMIN}`]);
  started(server.child);
  const base = 'http://127.0.0.1:' + (await server.port);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (err) => problems.push('page error (scoped): ' + err.message));
  page.on('dialog', async (d) => { problems.push('a dialog fired: ' + d.message()); await d.dismiss(); });
  const jobState = async (id) => {
    const r = await fetch(base + '/api/jobs/' + id, { headers: { Authorization: 'Bearer ' + READ } });
    return (await r.json()).state;
  };
  const useToken = async (token) => {
    if (await page.locator('#token-form').isHidden()) await page.click('#token-button');
    await page.fill('#token-input', token);
    await page.click('#token-form button[type=submit]');
    await page.locator('#token-form').waitFor({ state: 'hidden' });
  };

  // Reads need a token: the page asks before it shows a job.
  await page.goto(base + '/');
  await page.locator('#token-form').waitFor({ state: 'visible' });
  const asked = await page.textContent('#token-message');
  if (!/needs a token to show jobs/.test(asked)) fail('token prompt says ' + JSON.stringify(asked));
  if ((await page.locator('#jobs-table tbody tr[data-id]').count()) !== 0) fail('jobs shown without a token');
  if ((await (await fetch(base + '/api/jobs')).status) !== 401) fail('the API reads without a token');

  // A read token: everything is shown.
  await useToken(READ);
  await page.waitForFunction(() => document.querySelectorAll('#jobs-table tbody tr[data-id]').length >= 8,
                             null, { timeout: TIMEOUT });
  await page.locator('#queues-table tbody tr[data-queue="billing"]').waitFor();
  const storage = await page.evaluate(() => ({
    session: sessionStorage.getItem('popqueue.token'), local: localStorage.length, cookie: document.cookie,
  }));
  if (storage.session !== READ) fail('the token is not in sessionStorage');
  if (storage.local !== 0 || storage.cookie !== '') fail('the token left sessionStorage: ' + JSON.stringify(storage));

  // Mutation buttons are refused with the server's sentence.
  await page.selectOption('#state-filter', 'dead');
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll('#jobs-table tbody tr[data-id]')];
    return r.length === 3 && r.every((tr) => tr.querySelector('.badge').textContent === 'dead');
  }, null, { timeout: TIMEOUT });
  const row = page.locator('#jobs-table tbody tr[data-id]').first();
  const id = await row.getAttribute('data-id');
  await row.click();
  await page.waitForFunction((want) => document.getElementById('detail-id').textContent === want, id);
  const refusedWith = async (selector, scope) => {
    await page.waitForFunction(([sel, sc]) => {
      const t = document.querySelector(sel).textContent;
      return t.startsWith('Refused: ') && t.includes('has scope ' + sc) && t.includes('needs scope admin');
    }, [selector, scope], { timeout: TIMEOUT });
  };
  await page.click('#btn-requeue');
  await refusedWith('#detail-message', 'read');
  if (await page.locator('#token-form').isVisible()) fail('a 403 asked for a token again');
  await page.click('#queues-table tbody tr[data-queue="billing"] button');
  await refusedWith('#queues-message', 'read');
  if ((await jobState(id)) !== 'dead') fail('a read token requeued the job');

  // A write token (producers, workers) may not requeue either.
  await useToken(WRITE);
  await page.click('#btn-requeue');
  await refusedWith('#detail-message', 'write');
  if ((await jobState(id)) !== 'dead') fail('a write token requeued the job');

  // An admin token requeues.
  await useToken(ADMIN);
  await page.click('#btn-requeue');
  await page.waitForFunction(() => document.getElementById('detail-state').textContent === 'available',
                             null, { timeout: TIMEOUT });
  if (!/requeued: available/.test(await page.textContent('#detail-message'))) fail('no requeue message');
  if ((await jobState(id)) !== 'available') fail('the server did not requeue');
  await page.screenshot({ path: join(outDir, 'dashboard-scoped.png'), fullPage: true });

  // The token belongs to the tab: a new tab asks again.
  const other = await context.newPage();
  await other.goto(base + '/');
  await other.locator('#token-form').waitFor({ state: 'visible' });
  if (await other.evaluate(() => sessionStorage.getItem('popqueue.token')) !== null) {
    fail('a new tab has the token');
  }
  await other.close();
  await page.close();
}

main().then(() => process.exit(0), (err) => {
  console.error('dashboard test: FAILED: ' + (err && err.stack ? err.stack : err));
  process.exit(1);
});
