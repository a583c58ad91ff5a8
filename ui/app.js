// The pop-queue dashboard: plain JavaScript over the REST API, refreshed
// every 2 s. Every value from the server is put on the page with
// textContent (never innerHTML), so job data can never become markup.
// A server with tokens answers 401 (reads too, when it has scoped tokens):
// the dashboard then asks for a token once and keeps it only in this tab's
// sessionStorage (gone when the tab closes; never localStorage or a
// cookie). A token of too small a scope gets 403, shown as the server's
// sentence ("... needs scope admin").
'use strict';

const STATES = ['scheduled', 'available', 'running', 'retryable', 'completed', 'dead', 'cancelled'];
const COLORS = {
  scheduled: '#8e44ad', available: '#2f6fed', running: '#f39c12', retryable: '#e67e22',
  completed: '#27ae60', dead: '#c0392b', cancelled: '#7f8c8d',
  enqueued: '#2f6fed', failed: '#c0392b',
};
const REFRESH_MS = 2000;
const TOKEN_KEY = 'popqueue.token';

const view = {
  filters: { state: '', queue: '', name: '', search: '' },
  before: null,        // keyset cursor of the page shown (null = newest)
  nextBefore: null,
  selected: null,      // id of the job in the detail panel
  stateHistory: [],    // [{at: Date, counts}] seen by this page
  pendingRetry: null,  // action to run again once a token is entered
  pendingWhere: null,  // id of the element that shows its refusal
  deleteArmed: false,
  workflow: null,      // id of the workflow shown (null = none)
};

const $ = (id) => document.getElementById(id);

// Creates an element with text content (never HTML) and optional class.
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function setStatus(text) { $('status').textContent = text; }

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(status === 403
      ? 'Refused: ' + (e.message || 'this token may not do that')
      : (e.message || ('HTTP ' + status)));
    this.status = status;
    this.code = e.code || '';
    this.field = e.field || '';
    this.requiredScope = e.requiredScope || '';
  }
}

// Served by `popqueue serve`, the API is this page's own origin. Opened from
// disk (the original README: "open pop-queue/ui/index.html in your
// browser"), it is http://localhost:3000, or ?api=URL; that server must run
// with --cors.
const API_BASE = location.protocol === 'file:'
  ? (new URLSearchParams(location.search).get('api') || 'http://localhost:3000').replace(/\/+$/, '')
  : '';

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API_BASE + path, init);
  } catch (e) {
    if (API_BASE) {
      throw new Error('cannot reach ' + API_BASE + ': start it with `popqueue serve --cors` ' +
                      '(or open the dashboard at ' + API_BASE + '/)');
    }
    throw e;
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// Runs a mutating call; on 401 asks for the token and runs it again once
// one is entered. `where` is the id of the element that shows a refusal of
// the retried call (the first call's errors go to the caller).
async function mutate(action, where) {
  try {
    return await action();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      view.pendingRetry = action;
      view.pendingWhere = where;
      showTokenForm(sessionStorage.getItem(TOKEN_KEY) ? 'That token was refused.' : '');
      return null;
    }
    throw e;
  }
}

function showTokenForm(message) {
  const form = $('token-form');
  const wasHidden = form.hidden;
  form.hidden = false;
  $('token-message').textContent = message || '';
  if (wasHidden) $('token-input').focus();
}

function formatTime(iso) {
  if (!iso) return '-';
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

// ---- stats, charts ----------------------------------------------------

function renderCards(totals) {
  const cards = STATES.map((s) => {
    const card = el('button', null, 'card');
    card.type = 'button';
    card.style.setProperty('--c', COLORS[s]);
    card.dataset.state = s;
    card.append(el('span', totals[s] || 0, 'n'), el('span', s, 'l'));
    card.addEventListener('click', () => { $('state-filter').value = s; applyFilters(); });
    return card;
  });
  $('state-cards').replaceChildren(...cards);
}

// This server process's own workers: the concurrency limit in force (lowered
// under load when resource-aware) and jobs held for a rate limit.
function renderConcurrency(c) {
  if (!c || !c.configured) {
    $('concurrency').textContent = 'No workers run in this server process.';
    return;
  }
  let text = `This process: ${c.running} running, limit ${c.limit} of ${c.configured}`;
  if (c.limit < c.configured) text += ' (lowered: machine under load)';
  if (c.held) text += ` · ${c.held} held for rate limits`;
  if (c.load) {
    text += ` · cpu ${Math.round(c.load.cpu * 100)}%, memory ${Math.round(c.load.memory * 100)}%`;
  }
  $('concurrency').textContent = text;
}

function legend(container, names) {
  container.replaceChildren(...names.map((n) => {
    const item = el('span', n);
    const swatch = el('i');
    swatch.style.background = COLORS[n];
    item.prepend(swatch);
    return item;
  }));
}

// Draws lines for `series` ({name: [numbers]}) over `labels` on a canvas.
function drawChart(canvas, labels, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const pad = { left: 40, right: 8, top: 8, bottom: 20 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  let max = 1;
  for (const values of Object.values(series)) for (const v of values) max = Math.max(max, v);
  max = Math.ceil(max / 4) * 4;  // four whole-number grid steps
  ctx.strokeStyle = '#d9dee7';
  ctx.fillStyle = '#667085';
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + h - (h * i) / 4;
    ctx.beginPath(); ctx.moveTo(pad.left, y); ctx.lineTo(pad.left + w, y); ctx.stroke();
    ctx.fillText(String(Math.round((max * i) / 4)), 2, y + 4);
  }
  if (labels.length > 0) {
    ctx.fillText(labels[0], pad.left, height - 4);
    const last = labels[labels.length - 1];
    ctx.fillText(last, pad.left + w - ctx.measureText(last).width, height - 4);
  }
  const n = Math.max(labels.length - 1, 1);
  for (const [name, values] of Object.entries(series)) {
    ctx.strokeStyle = COLORS[name] || '#333';
    ctx.lineWidth = 2;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = pad.left + (w * i) / n;
      const y = pad.top + h - (h * v) / max;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

function shortTime(d) {
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function renderCharts(stats) {
  const tp = stats.throughput || [];
  const names = ['completed', 'failed', 'enqueued'];
  const series = {};
  for (const n of names) series[n] = tp.map((p) => p[n] || 0);
  drawChart($('throughput-chart'), tp.map((p) => shortTime(new Date(p.minute))), series);
  legend($('throughput-legend'), names);

  // Server samples (every 10 s while someone looks) plus this page's own.
  const points = (stats.states || []).map((s) => ({ at: new Date(s.at), counts: s.counts }));
  view.stateHistory.push({ at: new Date(stats.now || Date.now()), counts: stats.totals });
  if (view.stateHistory.length > 600) view.stateHistory.shift();
  const lastServer = points.length ? points[points.length - 1].at : new Date(0);
  for (const p of view.stateHistory) if (p.at > lastServer) points.push(p);
  const stateSeries = {};
  for (const s of STATES) stateSeries[s] = points.map((p) => (p.counts && p.counts[s]) || 0);
  drawChart($('states-chart'), points.map((p) => shortTime(p.at)), stateSeries);
  legend($('states-legend'), STATES);
}

// ---- queues, workers --------------------------------------------------

function emptyRow(columns, text) {
  const tr = el('tr');
  const td = el('td', text, 'empty');
  td.colSpan = columns;
  tr.append(td);
  return tr;
}

function renderQueues(queues) {
  const rows = queues.map((q) => {
    const tr = el('tr');
    tr.dataset.queue = q.name;
    tr.append(el('td', q.name));
    for (const s of ['available', 'running', 'scheduled', 'retryable', 'dead']) {
      tr.append(el('td', (q.counts && q.counts[s]) || 0));
    }
    tr.append(el('td', q.paused ? 'paused' : 'active'));
    const button = el('button', q.paused ? 'Resume' : 'Pause', 'secondary');
    button.type = 'button';
    button.addEventListener('click', () => run(async () => {
      const verb = q.paused ? 'resume' : 'pause';
      $('queues-message').textContent = '';
      try {
        await mutate(() => api('POST', '/api/queues/' + encodeURIComponent(q.name) + '/' + verb),
                     'queues-message');
      } catch (e) {
        $('queues-message').textContent = e.message;
      }
      await refresh();
    }));
    const td = el('td');
    td.append(button);
    tr.append(td);
    return tr;
  });
  $('queues-table').tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(8, 'no queues yet')]));
}

function renderWorkers(workers) {
  const rows = workers.map((w) => {
    const tr = el('tr');
    // el() sets textContent: ids, hosts and addresses come from other
    // processes and are shown as text, never parsed as HTML.
    tr.append(el('td', w.id), el('td', w.host), el('td', w.address || '-'), el('td', w.pid || '-'),
              el('td', (w.queues || []).join(', ')), el('td', w.running),
              el('td', formatTime(w.lastHeartbeatAt)));
    return tr;
  });
  $('workers-table').tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(7, 'no live workers')]));
}

// ---- schedules ----------------------------------------------------------

const MISSED = { skip: 'skip', runOnce: 'run once' };

// An instant in `timeZone` (an IANA name; undefined = this browser's zone),
// the zone's abbreviation included. A zone this browser does not know
// throws RangeError: the caller falls back to the server's rendering.
function formatInZone(iso, timeZone) {
  return new Intl.DateTimeFormat(undefined, {
    timeZone, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
  }).format(new Date(iso));
}

function renderSchedules(schedules) {
  const rows = schedules.map((s) => {
    const tr = el('tr');
    tr.dataset.schedule = s.id;
    let inZone = 'never';
    let local = 'never';
    if (s.nextFire) {
      try { inZone = formatInZone(s.nextFire, s.timeZone); } catch (e) { inZone = s.nextFireLocal || s.nextFire; }
      local = formatInZone(s.nextFire, undefined);
    }
    const zoneCell = el('td', inZone, 'next-zone');
    const localCell = el('td', local, 'next-local');
    if (s.nextFire) localCell.title = zoneCell.title = s.nextFire;  // UTC, as the API gives it
    tr.append(el('td', s.id), el('td', s.name), el('td', s.cron), el('td', s.timeZone),
              el('td', s.queue), el('td', MISSED[s.missed] || s.missed), zoneCell, localCell);
    return tr;
  });
  $('schedules-table').tBodies[0].replaceChildren(
    ...(rows.length ? rows : [emptyRow(8, 'no schedules defined in this server')]));
}

// ---- jobs -------------------------------------------------------------

function stateBadge(state) {
  const badge = el('span', state, 'badge');
  badge.style.setProperty('--c', COLORS[state] || '#667085');
  return badge;
}

function renderJobs(jobs) {
  const rows = jobs.map((job) => {
    const tr = el('tr');
    tr.dataset.id = job.id;
    if (job.id === view.selected) tr.className = 'selected';
    const state = el('td');
    state.append(stateBadge(job.state));
    tr.append(el('td', job.id), el('td', job.name), el('td', job.queue), state,
              el('td', job.attempt + '/' + job.maxAttempts), el('td', formatTime(job.createdAt)),
              el('td', job.data.length > 80 ? job.data.slice(0, 80) + '…' : job.data, 'data'));
    tr.addEventListener('click', () => run(() => openJob(job.id)));
    return tr;
  });
  $('jobs-table').tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(7, 'no jobs match')]));
  $('next-page').disabled = !view.nextBefore;
  $('first-page').disabled = !view.before;
}

async function loadJobs() {
  const f = view.filters;
  if (/^[0-9]+$/.test(f.search)) {
    // An id: show that job alone (or nothing).
    try {
      const job = await api('GET', '/api/jobs/' + f.search);
      view.nextBefore = null;
      renderJobs([job]);
      return;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
  }
  const params = new URLSearchParams({ limit: '50' });
  if (f.state) params.set('state', f.state);
  if (f.queue) params.set('queue', f.queue);
  if (f.name) params.set('name', f.name);
  if (f.search) params.set('identifier', f.search);
  if (view.before) params.set('before', view.before);
  const page = await api('GET', '/api/jobs?' + params.toString());
  view.nextBefore = page.nextBefore;
  renderJobs(page.jobs);
}

// A job's edges: ids, each marked when a failure of the other job is ignored.
// Scheduled until its parents are done (run_at is a placeholder meanwhile).
function isWaiting(job) {
  return job.state === 'scheduled' && job.waitingParents > 0;
}

function edgesText(edges) {
  if (!edges || edges.length === 0) return '-';
  return edges.map((e) => e.id + (e.ignoreFailure ? ' (ignore failure)' : '')).join(', ');
}

function field(list, name, value) {
  list.append(el('dt', name), el('dd', value === null || value === undefined || value === '' ? '-' : value));
}

function renderDetail(job) {
  $('job-detail').hidden = false;
  $('detail-id').textContent = job.id;
  const badge = $('detail-state');
  badge.textContent = job.state;
  badge.style.setProperty('--c', COLORS[job.state] || '#667085');
  const dl = $('detail-fields');
  dl.replaceChildren();
  field(dl, 'Name', job.name);
  field(dl, 'Queue', job.queue);
  field(dl, 'Identifier', job.identifier);
  field(dl, 'Priority', job.priority);
  field(dl, 'Attempt', job.attempt + ' of ' + job.maxAttempts);
  field(dl, 'Progress', job.progress + '%');
  field(dl, 'Created', formatTime(job.createdAt));
  field(dl, 'Run at', isWaiting(job) ? 'when its parents are done' : formatTime(job.runAt));
  field(dl, 'Picked', formatTime(job.pickedAt));
  field(dl, 'Finished', formatTime(job.finishedAt));
  field(dl, 'Worker', job.workerId);
  field(dl, 'Lease until', formatTime(job.leaseExpiresAt));
  field(dl, 'Timeout', job.timeoutMs ? job.timeoutMs / 1000 + ' s' : 'queue default');
  if (job.workflowId) {
    field(dl, 'Workflow', job.workflowId);
    field(dl, 'Waits for', edgesText(job.parents) +
      (isWaiting(job) ? ' (' + job.waitingParents + ' not done)' : ''));
    field(dl, 'Dependants', edgesText(job.dependants));
  }
  // Metadata (trace context, tenant ids...): one row per key, as text.
  for (const [key, value] of Object.entries(job.metadata || {})) field(dl, 'meta ' + key, value);
  if (job.cancelRequested) field(dl, 'Cancel', 'requested');
  if (job.stopping) {
    const why = { timeout: 'timed out', cancel: 'cancel requested', shutdown: 'worker shutting down' }[job.stopping.reason] || job.stopping.reason;
    field(dl, 'Stopping', why + ' since ' + formatTime(job.stopping.since) +
      (job.stopping.overdue ? ': overdue, the handler ignores the stop request' : ': waiting for the handler to return'));
  }
  $('detail-progress').style.width = Math.max(0, Math.min(100, job.progress || 0)) + '%';
  let payload = job.data;
  try { payload = JSON.stringify(JSON.parse(job.data), null, 2); } catch (e) { /* not JSON */ }
  $('detail-data').textContent = payload;
  $('detail-result').textContent = job.result === null || job.result === undefined ? '-' : job.result;
  const errors = (job.errors || []).map((e) => el('li', 'attempt ' + e.attempt + ' at ' + formatTime(e.at) + ': ' + e.message));
  $('detail-errors').replaceChildren(...(errors.length ? errors : [el('li', 'none', 'empty')]));
  const requeueable = ['dead', 'cancelled', 'completed', 'retryable'].includes(job.state);
  $('btn-requeue').disabled = !requeueable;
  $('btn-cancel').disabled = !['scheduled', 'available', 'retryable', 'running'].includes(job.state) || job.cancelRequested;
  $('btn-delete').disabled = job.state === 'running';
  $('btn-workflow').hidden = !job.workflowId;
  $('btn-workflow').dataset.workflow = job.workflowId || '';
  if (!view.deleteArmed) $('btn-delete').textContent = 'Delete';
}

async function openJob(id) {
  if (view.selected !== id) {
    view.deleteArmed = false;
    $('detail-message').textContent = '';
  }
  view.selected = id;
  for (const table of ['jobs-table', 'workflow-table']) {
    for (const tr of $(table).tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.id === id);
  }
  try {
    renderDetail(await api('GET', '/api/jobs/' + id));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      closeDetail();
      return;
    }
    throw e;
  }
}

function closeDetail() {
  view.selected = null;
  view.deleteArmed = false;
  $('job-detail').hidden = true;
}

// ---- workflows ----------------------------------------------------------

function renderWorkflow(wf) {
  $('workflow-view').hidden = false;
  $('workflow-id').textContent = wf.id;
  const counts = {};
  for (const job of wf.jobs) counts[job.state] = (counts[job.state] || 0) + 1;
  $('workflow-summary').textContent = wf.jobs.length + (wf.jobs.length === 1 ? ' job: ' : ' jobs: ') +
    Object.entries(counts).map(([state, n]) => n + ' ' + state).join(', ');
  const rows = wf.jobs.map((job) => {
    const tr = el('tr');
    tr.dataset.id = job.id;
    if (job.id === view.selected) tr.className = 'selected';
    const state = el('td', null, 'state');
    state.append(stateBadge(job.state));
    if (isWaiting(job)) state.append(el('span', 'waiting for ' + job.waitingParents, 'note'));
    tr.append(el('td', job.id), el('td', job.name), el('td', job.queue), state,
              el('td', edgesText(job.parents), 'parents'), el('td', edgesText(job.dependants), 'dependants'));
    tr.addEventListener('click', () => run(() => openJob(job.id)));
    return tr;
  });
  $('workflow-table').tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(6, 'no jobs')]));
}

async function loadWorkflow() {
  const id = view.workflow;
  try {
    const wf = await api('GET', '/api/workflows/' + encodeURIComponent(id));
    if (view.workflow === id) renderWorkflow(wf);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      // Its jobs were deleted (or cleaned): nothing left to show.
      closeWorkflow();
      return;
    }
    throw e;
  }
}

async function openWorkflow(id) {
  if (!id) return;
  $('workflow-message').textContent = '';
  view.workflow = id;
  try {
    await loadWorkflow();
  } catch (e) {
    $('workflow-view').hidden = false;
    $('workflow-message').textContent = e.message;
  }
}

function closeWorkflow() {
  view.workflow = null;
  $('workflow-view').hidden = true;
  $('workflow-table').tBodies[0].replaceChildren();
}

async function jobAction(kind) {
  const id = view.selected;
  if (!id) return;
  $('detail-message').textContent = '';
  try {
    if (kind === 'requeue') {
      // The original README's route; it answers {message, job}.
      await mutate(async () => {
        const reply = await api('POST', '/api/requeue-job', { jobId: id });
        $('detail-message').textContent = reply.message;
        return reply;
      }, 'detail-message');
    } else if (kind === 'cancel') {
      await mutate(() => api('POST', '/api/jobs/' + id + '/cancel'), 'detail-message');
    } else if (kind === 'delete') {
      if (!view.deleteArmed) {
        view.deleteArmed = true;
        $('btn-delete').textContent = 'Confirm delete';
        return;
      }
      view.deleteArmed = false;
      const done = await mutate(() => api('DELETE', '/api/jobs/' + id), 'detail-message');
      if (done) closeDetail();
    }
  } catch (e) {
    $('detail-message').textContent = e.message;
  }
  await refresh();
}

// ---- wiring -------------------------------------------------------------

function applyFilters() {
  view.filters = {
    state: $('state-filter').value,
    queue: $('queue-filter').value.trim(),
    name: $('name-filter').value.trim(),
    search: $('search').value.trim(),
  };
  view.before = null;
  run(refresh);
}

let refreshing = null;
async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const [stats, queues, workers, schedules] = await Promise.all([
        api('GET', '/api/stats'), api('GET', '/api/queues'), api('GET', '/api/workers'),
        api('GET', '/api/schedules')]);
      renderCards(stats.totals);
      renderConcurrency(stats.concurrency);
      renderCharts(stats);
      renderQueues(queues.queues);
      renderWorkers(workers.workers);
      renderSchedules(schedules.schedules);
      await loadJobs();
      if (view.selected) await openJob(view.selected);
      if (view.workflow) await loadWorkflow();
      setStatus('updated ' + new Date().toLocaleTimeString());
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        // Reads need a token: ask once (the form stays until answered).
        setStatus('this server needs a token to show jobs');
        if ($('token-form').hidden) {
          showTokenForm(sessionStorage.getItem(TOKEN_KEY)
            ? 'That token was refused.' : 'This server needs a token to show jobs.');
        }
      } else {
        setStatus('error: ' + e.message);
      }
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function run(fn) {
  Promise.resolve().then(fn).catch((e) => setStatus('error: ' + e.message));
}

function init() {
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); applyFilters(); });
  $('state-filter').addEventListener('change', applyFilters);
  $('next-page').addEventListener('click', () => {
    if (view.nextBefore) { view.before = view.nextBefore; run(refresh); }
  });
  $('first-page').addEventListener('click', () => { view.before = null; run(refresh); });
  $('btn-requeue').addEventListener('click', () => run(() => jobAction('requeue')));
  $('btn-cancel').addEventListener('click', () => run(() => jobAction('cancel')));
  $('btn-delete').addEventListener('click', () => run(() => jobAction('delete')));
  $('btn-close').addEventListener('click', closeDetail);
  $('btn-workflow').addEventListener('click', () => run(() => openWorkflow($('btn-workflow').dataset.workflow)));
  $('workflow-close').addEventListener('click', closeWorkflow);
  $('token-button').addEventListener('click', () => showTokenForm(''));
  $('token-cancel').addEventListener('click', () => {
    $('token-form').hidden = true;
    view.pendingRetry = null;
    view.pendingWhere = null;
  });
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token-input').value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
    $('queues-message').textContent = '';
    $('token-input').value = '';
    $('token-form').hidden = true;
    const retry = view.pendingRetry;
    const where = view.pendingWhere;
    view.pendingRetry = null;
    view.pendingWhere = null;
    if (retry) {
      run(async () => {
        try {
          await mutate(retry, where);
        } catch (e) {
          // A refused change (403) is shown where the action was asked.
          if (where) $(where).textContent = e.message; else throw e;
        }
        await refresh();
      });
    } else {
      run(refresh);
    }
  });
  run(refresh);
  setInterval(() => run(refresh), REFRESH_MS);
}

document.addEventListener('DOMContentLoaded', init);
