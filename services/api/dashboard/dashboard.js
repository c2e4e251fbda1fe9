// edgeguard live dashboard, served by services/api at /dashboard (docs/API.md, "Dashboard").
// Plain script, no framework and no build step. Rules it keeps:
// - everything read from the API is put in the page with textContent, never as HTML (decision
//   keys and reasons are attacker-influenced; the page's CSP also allows no inline script);
// - the API key lives in this tab's sessionStorage only and is sent in the X-Api-Key header,
//   never in a URL (so the event streams are read with fetch: EventSource cannot send headers);
// - every list is bounded.

(() => {
  const KEY_ITEM = 'edgeguard.apiKey';
  /** Decisions shown (the API's summary lists the 200 newest: SUMMARY_NEWEST in src/dashboard.ts). */
  const MAX_DECISIONS = 200;
  const MAX_CHANGES = 200;
  const MAX_POLICIES = 200;
  const MAX_REASONS = 20;
  /**
   * Recent changes kept to bring a summary's count (see recount), or a policies snapshot, up to
   * the stream.
   */
  const MAX_RECENT = 5_000;
  /** "Why" panels open at once; opening one more closes the oldest. */
  const MAX_EXPLAINED = 5;
  /** An event stream whose next event is larger than this is cut (and reconnected). */
  const MAX_EVENT_CHARS = 1 << 20;
  /** Headline numbers are refreshed at most this often while changes arrive (the API rescans the store). */
  const SUMMARY_EVERY_MS = 5_000;
  const RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

  const byId = (id) => document.getElementById(id);
  /** Waits `ms`, or less if `signal` aborts; its listener goes with it (a page reconnects for days). */
  const sleep = (ms, signal) =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });

  /** An element holding `text` as text (never parsed as HTML). */
  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  };
  const row = (cells) => {
    const tr = document.createElement('tr');
    for (const cell of cells) tr.append(cell instanceof Node ? cell : el('td', cell));
    return tr;
  };
  const utc = (ms) =>
    typeof ms === 'number' && Number.isFinite(ms)
      ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19)
      : '–';
  /** Strings in code-unit order (as the API sorts them). */
  const compareText = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const shown = (value) => (value === null || value === undefined ? '–' : String(value));
  const actionCell = (action) => el('td', action, `action-${String(action).replace(/[^a-z]/g, '')}`);

  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(`${code}: ${message}`);
      this.status = status;
      this.code = code;
    }
  }
  class Resync extends Error {}

  const failure = async (response) => {
    let code = `http-${response.status}`;
    let message = response.statusText;
    try {
      const body = await response.json();
      if (body && typeof body.error === 'string') {
        code = body.error;
        message = String(body.message ?? '');
      }
    } catch {
      // not the API's JSON error body: keep the status
    }
    return new ApiFailure(response.status, code, message);
  };

  /** The current connection: its key, and an AbortController ending its requests and streams. */
  let session = null;

  const request = (s, path, accept) =>
    fetch(path, {
      headers: { 'x-api-key': s.key, accept },
      signal: s.abort.signal,
      cache: 'no-store',
      credentials: 'omit',
    });

  const getJson = async (s, path) => {
    const response = await request(s, path, 'application/json');
    if (!response.ok) throw await failure(response);
    return response.json();
  };

  /** Reads a text/event-stream (the API's: `event`, `id`, one `data` line, `\n` line ends) until it ends. */
  const readEvents = async (s, path, onEvent) => {
    const response = await request(s, path, 'text/event-stream');
    if (!response.ok) throw await failure(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = 'message';
        let data = null;
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data = line.slice(6);
        }
        if (data !== null) onEvent(type, JSON.parse(data));
      }
      if (buffer.length > MAX_EVENT_CHARS) {
        await reader.cancel();
        throw new Error(`an event larger than ${MAX_EVENT_CHARS} characters`);
      }
    }
  };

  const setStatus = (text, error = false) => {
    const status = byId('status');
    status.textContent = text;
    status.classList.toggle('error', error);
  };

  // --- headline numbers -------------------------------------------------------------------------

  /**
   * Rows of `entries` ([name, n], in the order shown): the first `limit`, then one row summing the
   * others and `rest` (counted by the API but not named: `byReasonRest`). That row's label is a
   * header cell, never a name from the store (a reason can be any text, "(other)" included).
   */
  const renderCounts = (tbody, entries, limit, rest = 0) => {
    const rows = entries.slice(0, limit).map(([name, n]) => row([name, el('td', n, 'number')]));
    const more = entries.length - limit;
    if (more > 0 || rest > 0) {
      const summed = entries.slice(limit).reduce((sum, [, n]) => sum + n, rest);
      const label = rest > 0 ? (more > 0 ? `${more} more and all others` : 'all others') : `${more} more`;
      const th = el('th', label, 'rest');
      th.scope = 'row';
      rows.push(row([th, el('td', summed, 'number')]));
    }
    if (rows.length === 0) rows.push(row(['none', el('td', 0, 'number')]));
    tbody.replaceChildren(...rows);
  };

  /**
   * A summary's counts by reason, most frequent first (then by name): a JSON object's key order is
   * not the API's for every key (integer-like ones such as "42" come first), so sorted here.
   */
  const reasonsByCount = (byReason) =>
    Object.entries(byReason).sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]));

  const bump = (counts, name, by) => {
    if (typeof name !== 'string') return;
    counts[name] = Math.max(0, (counts[name] ?? 0) + by);
  };

  /**
   * A decision change applied to the live count and counts by action. An `add` replacing a
   * decision carries the replaced one's action (`previous`), a `del` the deleted one's (`action`);
   * changes logged before the store kept them are skipped (the next summary corrects them).
   */
  const countChange = (counts, change) => {
    if (change.op === 'add') {
      if (change.previous === undefined) return;
      if (change.previous === null) counts.count++;
      else bump(counts.byAction, change.previous, -1);
      bump(counts.byAction, change.added, 1);
    } else if (change.op === 'del' && typeof change.action === 'string') {
      counts.count = Math.max(0, counts.count - 1);
      bump(counts.byAction, change.action, -1);
    }
  };

  /** The last summary's numbers brought up to the changes the stream delivered after its version. */
  const recount = (s) => {
    const summary = s.summary;
    const counts = { count: summary.count, byAction: { ...summary.byAction } };
    for (const change of s.recent) if (change.version > summary.version) countChange(counts, change);
    s.counts = counts;
  };

  const renderNumbers = (s) => {
    byId('count').textContent = String(s.counts.count);
    const byAction = Object.entries(s.counts.byAction).sort((a, b) => compareText(a[0], b[0]));
    renderCounts(byId('by-action').tBodies[0], byAction, MAX_REASONS);
    const rest = Number.isFinite(s.summary.byReasonRest) ? s.summary.byReasonRest : 0;
    renderCounts(byId('by-reason').tBodies[0], reasonsByCount(s.summary.byReason), MAX_REASONS, rest);
    byId('as-of').textContent =
      `The count and the actions follow every change; the reasons were counted at ${utc(s.summary.at)} UTC ` +
      `(store version ${s.summary.version}), recounted at most every ${SUMMARY_EVERY_MS / 1000} s while changes arrive.`;
  };

  // --- current decisions ------------------------------------------------------------------------

  /** Keeps `change` in a list of the MAX_RECENT last. */
  const remember = (list, change) => {
    list.push(change);
    if (list.length > MAX_RECENT) list.splice(0, list.length - MAX_RECENT);
  };

  const newestFirst = (a, b) => b.decidedAt - a.decidedAt || compareText(a.key, b.key);

  /** The address explain is asked about for a decision key, or null (fingerprints need an address). */
  const explainAddress = (key) => {
    if (key.startsWith('ip:')) return key.slice(3);
    if (key.startsWith('range:')) return key.slice(6).split('/')[0];
    return null;
  };

  const renderDecisions = (s) => {
    const rows = [];
    for (const d of s.decisions) {
      const why = el('td');
      const address = explainAddress(d.key);
      if (address !== null) {
        const button = el('button', s.explained.has(d.key) ? 'hide' : 'why?');
        button.type = 'button';
        button.addEventListener('click', () => toggleExplain(s, d.key, address));
        why.append(button);
      } else why.textContent = '–';
      const tr = row([
        d.key,
        actionCell(d.action),
        d.reason,
        d.origin,
        utc(d.decidedAt),
        utc(d.expiresAt),
        why,
      ]);
      tr.dataset.key = d.key;
      if (s.fresh.has(d.key)) tr.className = 'fresh';
      rows.push(tr);
      const panel = s.explained.get(d.key);
      if (panel) rows.push(panel);
    }
    byId('decisions').tBodies[0].replaceChildren(...rows);
    byId('shown').textContent = `(the ${s.decisions.length} newest shown, of ${s.counts.count})`;
  };

  const scheduleRender = (s) => {
    if (s.renderTimer !== null) return;
    s.renderTimer = setTimeout(() => {
      s.renderTimer = null;
      if (session !== s) return;
      renderNumbers(s);
      renderDecisions(s);
    }, 50);
  };

  const applyDecisionChange = (s, change) => {
    s.decisions = s.decisions.filter((d) => d.key !== change.key);
    if (change.op === 'add' && change.decision) {
      const d = change.decision;
      let i = 0;
      while (i < s.decisions.length && newestFirst(s.decisions[i], d) < 0) i++;
      if (i < MAX_DECISIONS) s.decisions.splice(i, 0, d);
      if (s.decisions.length > MAX_DECISIONS) s.decisions.length = MAX_DECISIONS;
      s.fresh.add(d.key);
      if (s.fresh.size > MAX_DECISIONS) s.fresh.delete(s.fresh.values().next().value);
    } else s.fresh.delete(change.key);
    scheduleRender(s);
  };

  // --- explain ("why") --------------------------------------------------------------------------

  const renderExplain = (answer) => {
    const box = el('div');
    box.append(el('p', `verdict ${answer.verdict}: ${answer.because}`));
    for (const d of (answer.decisions ?? []).slice(0, 10)) {
      box.append(el('p', `${d.key} — ${d.action}, ${d.reason}, ${d.origin}, score ${d.score}`));
      const signals = (d.signals ?? [])
        .slice(0, 20)
        .map(
          (signal) =>
            `${signal.name} = ${signal.value}${signal.threshold === undefined ? '' : ` (threshold ${signal.threshold})`}`,
        );
      if (signals.length > 0) box.append(el('pre', signals.join('\n')));
      if (typeof d.requestsError === 'string') box.append(el('p', `requests: ${d.requestsError}`, 'note'));
      else if (Array.isArray(d.requests)) {
        const lines = d.requests
          .slice(-20)
          .map(
            (r) =>
              `${utc(r.time)} ${r.method} ${r.host}${r.path}${r.query ? `?${r.query}` : ''} → ${r.status} ${shown(r.userAgent)}`,
          );
        box.append(el('pre', lines.length > 0 ? lines.join('\n') : 'no requests found'));
      }
    }
    for (const entry of (answer.allowlist ?? []).slice(0, 10))
      box.append(el('p', `allowlisted: ${entry.cidr} ${shown(entry.comment)}`));
    return box;
  };

  const toggleExplain = async (s, key, address) => {
    if (s.explained.has(key)) {
      s.explained.delete(key);
      renderDecisions(s);
      return;
    }
    if (s.explained.size >= MAX_EXPLAINED) s.explained.delete(s.explained.keys().next().value);
    const cell = el('td', `explaining ${address}…`);
    cell.colSpan = 7;
    const panel = row([cell]);
    panel.className = 'why';
    panel.dataset.why = key;
    s.explained.set(key, panel);
    renderDecisions(s);
    try {
      const answer = await getJson(s, `api/explain?ip=${encodeURIComponent(address)}`);
      cell.replaceChildren(renderExplain(answer));
    } catch (error) {
      cell.textContent = `explain failed: ${error.message}`;
    }
  };

  // --- changes, as they happen ------------------------------------------------------------------

  const addChangeLine = (text) => {
    const list = byId('changes');
    list.prepend(el('li', `${utc(Date.now())}  ${text}`));
    while (list.children.length > MAX_CHANGES) list.lastElementChild.remove();
    byId('changes-note').textContent = `(the last ${list.children.length}, newest first)`;
  };

  const describeDecisionChange = (c) => {
    if (c.op === 'add') {
      const d = c.decision ?? {};
      const was = c.previous ? `, was ${c.previous}` : '';
      return `v${c.version} add ${c.key} ${d.action} (${d.reason}, ${d.origin}${was}) until ${utc(d.expiresAt)}`;
    }
    return `v${c.version} del ${c.key}${c.action ? ` ${c.action}` : ''} (${shown(c.reason)})`;
  };

  // --- cache policies ---------------------------------------------------------------------------

  const renderPolicies = (s) => {
    const rows = [...s.policies.values()]
      .sort((a, b) => compareText(a.key, b.key))
      .map((p) =>
        row([
          p.key,
          shown(p.ttlSeconds),
          shown(p.staleWhileRevalidateSeconds),
          shown(p.staleIfErrorSeconds),
          shown(p.collapse),
          p.reason,
          utc(p.expiresAt),
        ]),
      );
    byId('policies').tBodies[0].replaceChildren(...rows);
    byId('policy-count').textContent =
      `(${s.policies.size} shown of ${s.policyCount}, version ${s.policyVersion})`;
  };

  /**
   * The policies snapshot, brought up to the changes the stream delivered after its version (it
   * may be older than those: the stream goes on while it is asked), so it never undoes one shown;
   * `resync`: the log could not be followed, the changes delivered before are void.
   */
  const loadPolicies = async (s, resync) => {
    // As loadSummary: a snapshot asked before a resync is dropped once one came since.
    if (resync) s.policyResyncs++;
    const resyncs = s.policyResyncs;
    const snapshot = await getJson(s, 'api/cache-policies');
    if (resyncs !== s.policyResyncs) return;
    if (resync) s.recentPolicies = [];
    const all = new Map(snapshot.policies.map((p) => [p.key, p]));
    // Those it holds already are not needed again.
    s.recentPolicies = s.recentPolicies.filter((change) => change.version > snapshot.version);
    for (const change of s.recentPolicies) {
      if (change.op === 'put' && change.policy) all.set(change.key, change.policy);
      else all.delete(change.key);
    }
    s.policyVersion = resync ? snapshot.version : Math.max(s.policyVersion, snapshot.version);
    s.policyCount = all.size;
    s.policies = new Map([...all].slice(0, MAX_POLICIES));
    renderPolicies(s);
  };

  const applyPolicyChange = (s, change) => {
    remember(s.recentPolicies, change);
    // The count follows while every policy is shown (else it is exact again from the next snapshot).
    const all = s.policyCount === s.policies.size;
    let unshown = 0;
    if (change.op === 'put' && change.policy) {
      if (s.policies.has(change.key) || s.policies.size < MAX_POLICIES)
        s.policies.set(change.key, change.policy);
      else unshown = 1;
    } else s.policies.delete(change.key);
    s.policyCount = all ? s.policies.size + unshown : Math.max(s.policyCount, s.policies.size);
    s.policyVersion = Math.max(s.policyVersion, change.version);
    renderPolicies(s);
    addChangeLine(`policy v${change.version} ${change.op} ${change.key}`);
    schedule(s, 'policiesTimer', () => loadPolicies(s, false));
  };

  // --- following ------------------------------------------------------------------------------

  /** Runs `task` once, SUMMARY_EVERY_MS after the last run at most, while the session lasts. */
  const schedule = (s, timer, task) => {
    if (s[timer] !== null) return;
    s[timer] = setTimeout(async () => {
      try {
        if (session === s) await task();
      } catch (error) {
        report(s, error);
      }
      s[timer] = null;
    }, SUMMARY_EVERY_MS);
  };

  const loadSummary = async (s, replaceList) => {
    // A summary asked before a resync may describe the store before it: dropped if one came since.
    if (replaceList) s.summaryResyncs++;
    const resyncs = s.summaryResyncs;
    const summary = await getJson(s, 'api/blocklist/summary');
    if (resyncs !== s.summaryResyncs) return;
    s.summary = summary;
    // A resync: the store may have been rebuilt (versions start over), the recent changes are void.
    if (replaceList) s.recent = [];
    recount(s);
    renderNumbers(s);
    // The list is the summary's when it is at least as recent as the changes applied to it (the
    // changes after it then come on the stream); an older one would undo changes already shown.
    // (Changes at or below its version that arrive later are applied again: an add replaces the
    // key's row, a delete removes it, so the list ends as the store is.)
    if (replaceList || summary.version >= s.version) s.decisions = summary.newest.slice(0, MAX_DECISIONS);
    if (replaceList) s.version = summary.version;
    renderDecisions(s);
  };

  /** Follows an event stream from `since()`, reconnecting with backoff; `resync()` on event: resync. */
  const follow = async (s, name, path, since, onChange, resync) => {
    let attempt = 0;
    while (!s.abort.signal.aborted) {
      let resynced = false;
      try {
        await readEvents(s, `${path}?since=${since()}`, (type, data) => {
          // Only a change resets the backoff: a stream answering resync at once, again and again
          // (its reload failing, or not moving it on), is retried ever more slowly, not each second.
          if (type === 'change') {
            attempt = 0;
            onChange(data);
          } else if (type === 'resync') throw new Resync();
          else if (type === 'revoked') throw new ApiFailure(401, data.error, data.message);
        });
      } catch (error) {
        if (s.abort.signal.aborted) return;
        if (error instanceof Resync) resynced = true;
        else if (error instanceof ApiFailure && (error.status === 401 || error.status === 403)) {
          fail(s, error);
          return;
        } else setStatus(`${name} stream: ${error.message}; reconnecting`, true);
      }
      if (resynced) {
        addChangeLine(`${name}: resync (the log could not be followed); reloading`);
        try {
          await resync();
        } catch (error) {
          report(s, error);
        }
      }
      await sleep(RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)], s.abort.signal);
      if (!s.abort.signal.aborted && !resynced) setStatus(connectedText());
    }
  };

  const connectedText = () =>
    `Connected at ${utc(Date.now())} UTC: following decisions and cache policies live.`;

  const report = (s, error) => {
    if (session !== s || s.abort.signal.aborted) return;
    if (error instanceof ApiFailure && (error.status === 401 || error.status === 403)) fail(s, error);
    else setStatus(error.message, true);
  };

  /** A key the API refuses: stop, and forget it unless only its scope was short. */
  const fail = (s, error) => {
    stop();
    if (error.status === 401) sessionStorage.removeItem(KEY_ITEM);
    setStatus(`The API refused the key: ${error.message}`, true);
    s.abort.abort();
  };

  const stop = () => {
    if (session === null) return;
    session.abort.abort();
    for (const timer of ['renderTimer', 'summaryTimer', 'policiesTimer'])
      if (session[timer] !== null) clearTimeout(session[timer]);
    session = null;
  };

  const connect = async (key) => {
    stop();
    const s = {
      key,
      abort: new AbortController(),
      version: 0,
      summary: null,
      counts: { count: 0, byAction: {} },
      recent: [],
      recentPolicies: [],
      decisions: [],
      fresh: new Set(),
      explained: new Map(),
      policies: new Map(),
      policyVersion: 0,
      policyCount: 0,
      summaryResyncs: 0,
      policyResyncs: 0,
      renderTimer: null,
      summaryTimer: null,
      policiesTimer: null,
    };
    session = s;
    setStatus('Connecting…');
    // Retried with backoff while the API cannot answer (Redis or Kafka away: 503, a rate limit:
    // 429, no answer at all); a refused key stops here.
    for (let attempt = 0; ; attempt++) {
      try {
        await Promise.all([loadSummary(s, true), loadPolicies(s, true)]);
        break;
      } catch (error) {
        if (session !== s || s.abort.signal.aborted) return;
        if (error instanceof ApiFailure && (error.status === 401 || error.status === 403)) {
          fail(s, error);
          return;
        }
        const wait = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
        setStatus(`${error.message}; retrying in ${wait / 1000} s`, true);
        await sleep(wait, s.abort.signal);
      }
    }
    if (session !== s) return;
    setStatus(connectedText());
    void follow(
      s,
      'decisions',
      'api/blocklist/events',
      () => s.version,
      (change) => {
        s.version = Math.max(s.version, change.version);
        // What counting needs of it, not the decision (signals and all).
        const counted = {
          version: change.version,
          op: change.op,
          previous: change.previous,
          added: change.decision?.action,
          action: change.action,
        };
        remember(s.recent, counted);
        if (change.version > s.summary.version) countChange(s.counts, counted);
        applyDecisionChange(s, change);
        addChangeLine(describeDecisionChange(change));
        schedule(s, 'summaryTimer', () => loadSummary(s, false));
      },
      () => loadSummary(s, true),
    );
    void follow(
      s,
      'cache policies',
      'api/cache-policies/events',
      () => s.policyVersion,
      (change) => applyPolicyChange(s, change),
      () => loadPolicies(s, true),
    );
  };

  const start = () => {
    const input = byId('key');
    byId('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (key === '') return;
      sessionStorage.setItem(KEY_ITEM, key);
      input.value = '';
      void connect(key);
    });
    byId('forget').addEventListener('click', () => {
      stop();
      sessionStorage.removeItem(KEY_ITEM);
      input.value = '';
      byId('decisions').tBodies[0].replaceChildren();
      byId('policies').tBodies[0].replaceChildren();
      byId('changes').replaceChildren();
      setStatus('Key forgotten; not connected.');
    });
    const saved = sessionStorage.getItem(KEY_ITEM);
    if (saved) void connect(saved);
  };

  start();
})();
