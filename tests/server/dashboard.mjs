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
// one), then moves the job to "available". Saves dashboard.png in <out dir>.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [serverPath, chromiumPath, outDir] = process.argv.slice(2);
const PROBE = '<img src=x onerror=alert(1)>';
const TOKEN = 'dashboard-test-token';
const TIMEOUT = 15000;

function fail(message) {
  throw new Error(message);
}

function startServer() {
  const child = spawn(serverPath, ['--token', TOKEN, '--cors'], { stdio: ['pipe', 'pipe', 'inherit'] });
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
  const { child, port } = startServer();
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
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    page.on('dialog', async (dialog) => {
      problems.push('a dialog fired: ' + dialog.type() + ' ' + dialog.message());
      await dialog.dismiss().catch(() => {});
    });
    page.on('pageerror', (err) => problems.push('page error: ' + err.message));
    page.on('console', (msg) => {
      // The 401 that makes the dashboard ask for the token is expected.
      if (msg.type() === 'error' && !/status of 401/.test(msg.text())) {
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

    // Back to all states: charts and tables render.
    await page.selectOption('#state-filter', '');
    await page.waitForFunction(() => document.querySelectorAll('#jobs-table tbody tr[data-id]').length >= 8);
    await page.locator('#queues-table tbody tr[data-queue="billing"]').waitFor();
    await page.locator('#workers-table tbody tr td').first().waitFor();
    await page.click(`#jobs-table tbody tr[data-id="${id}"]`);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(outDir, 'dashboard.png'), fullPage: true });

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
    if (problems.length) fail(problems.join('\n'));
    console.log('dashboard test: OK (screenshot ' + join(outDir, 'dashboard.png') + ')');
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
    await stopServer(child);
  }
}

main().then(() => process.exit(0), (err) => {
  console.error('dashboard test: FAILED: ' + (err && err.stack ? err.stack : err));
  process.exit(1);
});
