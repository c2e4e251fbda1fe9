import { setTimeout as sleep } from 'node:timers/promises';
import { BadInput } from '@edgeguard/schema';
import type { Feed, FeedSink, Source } from './agent.js';
import { Backoff } from './backoff.js';
import { SseParser } from './sse.js';

export interface HttpSourceOptions {
  /** The API's base URL, e.g. `http://edgeguard-api:8080`. */
  url: string;
  /** A `bouncer` (read) key, sent as `X-Api-Key`. */
  apiKey: string;
  /** Follow with Server-Sent Events (default true); false polls `/changes` only. */
  sse?: boolean;
  /** Poll period while SSE is unavailable (ms, default 1000). */
  pollIntervalMs?: number;
  /** Changes asked per poll (default 1000; the API caps it). */
  pollLimit?: number;
  /** An SSE connection with no byte (not even the 15 s `: ping`) for this long is dead (ms, default 45 s). */
  idleTimeoutMs?: number;
  /** Snapshot and poll requests give up after this long (ms, default 30 s). */
  requestTimeoutMs?: number;
  /** When the API answers that it has no SSE (404, 405, 501, not an event stream): poll, retry SSE after this long (ms, default 60 s). */
  sseRetryMs?: number;
  /** Reconnect backoff (ms): base 250, max 30,000, exponential with jitter. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Longest NDJSON line / SSE event accepted (bytes, default 1 MiB): bounds every buffer. */
  maxLineBytes?: number;
  /** How often the allowlist is listed (`GET /api/allowlist`; ms, default 10 s): it has no push. */
  allowlistIntervalMs?: number;
}

/** The API refused the key (401/403): retried slowly, reported as an error. */
class AuthError extends Error {}
/** The API has no event stream here: poll instead. */
class NoSseError extends Error {}
/** An HTTP error status; `retryAfterMs` from a Retry-After header (429 rate limit, 503 overload), else 0. */
class StatusError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** Longest Retry-After honoured (ms): a wrong header must not park an edge for hours. */
const MAX_RETRY_AFTER_MS = 300_000;

function statusError(path: string, response: Response): StatusError {
  const header = response.headers.get('retry-after');
  let wait = 0;
  if (header !== null) {
    // RFC 9110 section 10.2.3: delay-seconds or an HTTP-date.
    const seconds = Number(header);
    wait = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  }
  const retryAfterMs = Number.isFinite(wait) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, wait)) : 0;
  return new StatusError(`${path}: HTTP ${response.status}`, retryAfterMs);
}

/** The backoff delay, or longer when the API said when to come back. */
function delayAfter(error: unknown, backoff: Backoff): number {
  const delay = backoff.next();
  return error instanceof StatusError ? Math.max(delay, error.retryAfterMs) : delay;
}

interface FeedPaths {
  feed: Feed;
  snapshot: string;
  changes: string;
  events: string;
}

const BLOCKLIST: FeedPaths = {
  feed: 'decisions',
  snapshot: '/api/blocklist',
  changes: '/api/blocklist/changes',
  events: '/api/blocklist/events',
};
const POLICIES: FeedPaths = {
  feed: 'policies',
  snapshot: '/api/cache-policies',
  changes: '/api/cache-policies/changes',
  events: '/api/cache-policies/events',
};

/**
 * Follows edgeguard's native API (docs/API.md): per feed (blocklist, cache policies), a snapshot,
 * then changes pushed by Server-Sent Events from the snapshot's version. When the event stream
 * fails, the feed polls `/changes` until SSE is tried again (after a backoff); when the API is
 * unreachable it retries with exponential backoff and jitter, keeping the last state. It always
 * resumes from the last version applied (`?since=` and `Last-Event-ID`); `resync` (version too old,
 * store rebuilt) makes it take a snapshot again (conditional on the ETag it has).
 */
export class HttpSource implements Source {
  readonly kind = 'http';
  private readonly base: string;
  private controller = new AbortController();
  private loops: Promise<void>[] = [];

  constructor(private readonly options: HttpSourceOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  async start(sink: FeedSink): Promise<void> {
    this.controller = new AbortController();
    this.loops = [BLOCKLIST, POLICIES].map((paths) =>
      new HttpFeedFollower(this.base, this.options, paths, sink, this.controller.signal).run(),
    );
    this.loops.push(this.followAllowlist(sink, this.controller.signal));
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled(this.loops);
  }

  /**
   * The allowlist is small and changes by hand: listed every allowlistIntervalMs (the API has no
   * change feed for it). An API without the route (404) counts as an empty allowlist.
   */
  private async followAllowlist(sink: FeedSink, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.options.backoff?.baseMs ?? 250, this.options.backoff?.maxMs ?? 30_000);
    const maxBytes = (this.options.maxLineBytes ?? 1 << 20) * 16;
    while (!signal.aborted) {
      let delay = this.options.allowlistIntervalMs ?? 10_000;
      const link = childSignal(signal, this.options.requestTimeoutMs ?? 30_000);
      try {
        const response = await fetch(`${this.base}/api/allowlist`, {
          headers: { 'X-Api-Key': this.options.apiKey, Accept: 'application/json' },
          signal: link.signal,
        });
        if (response.status === 401 || response.status === 403) {
          await response.body?.cancel();
          throw new AuthError(`/api/allowlist: the API refused the key (HTTP ${response.status})`);
        }
        if (response.status === 404) {
          await response.body?.cancel();
          sink.replaceAllowlist([]);
        } else if (!response.ok) {
          await response.body?.cancel();
          throw statusError('/api/allowlist', response);
        } else {
          const body = parseJson(await readBounded(response, maxBytes), '/api/allowlist') as {
            entries?: unknown;
          };
          if (!Array.isArray(body?.entries))
            throw new BadInput('bad-allowlist', '/api/allowlist: expected {entries: [...]}');
          sink.replaceAllowlist(body.entries);
        }
        sink.connection('allowlist', true);
        sink.loaded('allowlist');
        backoff.reset();
      } catch (error) {
        if (signal.aborted) return;
        const err = error as Error;
        if (err instanceof AuthError || err instanceof BadInput) sink.error(err);
        sink.connection('allowlist', false, err);
        delay = delayAfter(err, backoff);
      } finally {
        link.dispose();
      }
      await sleep(delay, undefined, { signal }).catch(() => undefined);
    }
  }
}

class HttpFeedFollower {
  private version: number | null = null;
  private etag: string | null = null;
  private readonly backoff: Backoff;
  /** Until then the feed polls instead of opening an event stream. */
  private sseAfter = 0;
  private readonly maxLine: number;

  constructor(
    private readonly base: string,
    private readonly options: HttpSourceOptions,
    private readonly paths: FeedPaths,
    private readonly sink: FeedSink,
    private readonly signal: AbortSignal,
  ) {
    this.backoff = new Backoff(options.backoff?.baseMs ?? 250, options.backoff?.maxMs ?? 30_000);
    this.maxLine = options.maxLineBytes ?? 1 << 20;
    if (options.sse === false) this.sseAfter = Number.POSITIVE_INFINITY;
  }

  async run(): Promise<void> {
    const feed = this.paths.feed;
    while (!this.signal.aborted) {
      try {
        if (this.version === null) {
          await this.snapshot();
          this.sink.connection(feed, true);
          this.sink.loaded(feed);
          this.backoff.reset();
        }
        if (Date.now() >= this.sseAfter) {
          await this.streamEvents();
        } else {
          const more = await this.poll();
          this.sink.connection(feed, true);
          this.backoff.reset();
          if (!more) await sleep(this.options.pollIntervalMs ?? 1000, undefined, { signal: this.signal });
        }
      } catch (error) {
        if (this.signal.aborted) return;
        const err = error as Error;
        if (err instanceof NoSseError) {
          this.sink.logger.info({ feed, reason: err.message }, 'no event stream: polling');
          this.sseAfter = Date.now() + (this.options.sseRetryMs ?? 60_000);
          continue;
        }
        const delay = delayAfter(err, this.backoff);
        if (err instanceof AuthError || err instanceof BadInput) this.sink.error(err);
        if (this.version !== null && Date.now() >= this.sseAfter && !(err instanceof AuthError)) {
          // The event stream failed: poll in between (a poll that works keeps the feed current),
          // try the stream again after the backoff delay.
          this.sseAfter = Date.now() + delay;
          this.sink.logger.debug(
            { feed, error: err.message, retryInMs: Math.round(delay) },
            'event stream lost',
          );
          continue;
        }
        this.sink.connection(feed, false, err);
        await sleep(delay, undefined, { signal: this.signal }).catch(() => undefined);
      }
    }
  }

  private async request(
    path: string,
    accept: string,
    signal: AbortSignal,
    extra: Record<string, string> = {},
  ) {
    const response = await fetch(this.base + path, {
      headers: { 'X-Api-Key': this.options.apiKey, Accept: accept, ...extra },
      signal,
    });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new AuthError(`${path}: the API refused the key (HTTP ${response.status})`);
    }
    return response;
  }

  /** Loads the whole feed into a fresh index and swaps it in; a 304 keeps the current one. */
  private async snapshot(): Promise<void> {
    const headers: Record<string, string> = {};
    if (this.etag !== null) headers['If-None-Match'] = this.etag;
    const link = childSignal(this.signal, this.options.requestTimeoutMs ?? 30_000);
    try {
      // Ask for the blocklist snapshot's end line (docs/API.md); an older API ignores the header.
      if (this.paths.feed === 'decisions') headers['Edgeguard-Snapshot-Trailer'] = '1';
      const response = await this.request(
        this.paths.snapshot,
        this.paths.feed === 'decisions' ? 'application/x-ndjson' : 'application/json',
        link.signal,
        headers,
      );
      if (response.status === 304 && this.etag !== null) {
        await response.body?.cancel();
        this.version = this.versionFromEtag(this.etag);
        this.sink.count('snapshotsNotModified');
        if (this.version !== null) return;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw statusError(this.paths.snapshot, response);
      }
      if (this.paths.feed === 'decisions') await this.readBlocklist(response);
      else await this.readPolicies(response);
      this.etag = response.headers.get('etag');
    } finally {
      link.dispose();
    }
  }

  /** `"E-V"` → V (the blocklist's ETag, docs/API.md). */
  private versionFromEtag(etag: string): number | null {
    const match = /^(?:W\/)?"[^"-]*-(\d+)"$/.exec(etag);
    return match ? Number(match[1]) : null;
  }

  /**
   * A cut connection ends the body early: never swap in a partial blocklist. With the end line
   * (`{"end":true,"lines":N}`, announced by `trailer: true` in the header) the snapshot is whole
   * when the end line came last and N lines came before it; the header's count is only what was
   * active when the API started (churn during the scan makes it differ). An API without end lines
   * is checked against its count, as before.
   */
  private async readBlocklist(response: Response): Promise<void> {
    const index = this.sink.newDecisionIndex();
    let header: { version: number; count: number; trailer: boolean } | null = null;
    let end: number | null = null;
    let lines = 0;
    for await (const line of readLines(response, this.maxLine)) {
      if (line.trim() === '') continue;
      if (end !== null)
        throw new BadInput('bad-snapshot', `${this.paths.snapshot}: a line after the end line`);
      const value = parseJson(line, this.paths.snapshot);
      if (header === null) {
        const h = value as { version?: unknown; count?: unknown; trailer?: unknown };
        if (typeof h?.version !== 'number' || typeof h.count !== 'number')
          throw new BadInput(
            'bad-snapshot',
            `${this.paths.snapshot}: first line must be {version, epoch, count}`,
          );
        header = { version: h.version, count: h.count, trailer: h.trailer === true };
        continue;
      }
      if (header.trailer && (value as { end?: unknown } | null)?.end === true) {
        const sent = (value as { lines?: unknown }).lines;
        if (typeof sent !== 'number')
          throw new BadInput('bad-snapshot', `${this.paths.snapshot}: end line must be {end: true, lines}`);
        end = sent;
        continue;
      }
      lines++;
      this.sink.loadDecision(index, value);
    }
    if (header === null) throw new BadInput('bad-snapshot', `${this.paths.snapshot}: empty response`);
    if (header.trailer) {
      if (end === null)
        throw new Error(
          `${this.paths.snapshot}: snapshot ended after ${lines} decisions, before its end line`,
        );
      if (end !== lines)
        throw new Error(`${this.paths.snapshot}: snapshot has ${lines} decisions, its end line says ${end}`);
    } else if (lines !== header.count)
      throw new Error(`${this.paths.snapshot}: snapshot ended after ${lines} of ${header.count} decisions`);
    this.sink.replaceDecisions(index);
    this.version = header.version;
  }

  private async readPolicies(response: Response): Promise<void> {
    const body = await readBounded(response, this.maxLine * 16);
    const value = parseJson(body, this.paths.snapshot) as { version?: unknown; policies?: unknown };
    if (typeof value?.version !== 'number' || !Array.isArray(value.policies))
      throw new BadInput('bad-snapshot', `${this.paths.snapshot}: expected {version, policies: [...]}`);
    const index = this.sink.newPolicyIndex();
    for (const policy of value.policies) this.sink.loadPolicy(index, policy);
    this.sink.replacePolicies(index);
    this.version = value.version;
  }

  /** One `/changes` request; returns true when more changes are waiting (a full page). */
  private async poll(): Promise<boolean> {
    const limit = this.options.pollLimit ?? 1000;
    const link = childSignal(this.signal, this.options.requestTimeoutMs ?? 30_000);
    let body: { version?: unknown; resync?: unknown; changes?: unknown };
    try {
      const response = await this.request(
        `${this.paths.changes}?since=${this.version}&limit=${limit}`,
        'application/json',
        link.signal,
      );
      if (!response.ok) {
        await response.body?.cancel();
        throw statusError(this.paths.changes, response);
      }
      this.sink.count('polls');
      body = parseJson(await readBounded(response, this.maxLine * 16), this.paths.changes) as typeof body;
    } finally {
      link.dispose();
    }
    if (typeof body?.version !== 'number' || !Array.isArray(body.changes))
      throw new BadInput('bad-changes', `${this.paths.changes}: expected {version, resync, changes: [...]}`);
    if (body.resync === true) {
      this.resync();
      return true;
    }
    for (const change of body.changes) this.applyChange(change);
    if (body.version > (this.version ?? 0)) this.version = body.version;
    return body.changes.length >= limit;
  }

  /** Follows the event stream until it ends (server closed), a resync, or an error (thrown). */
  private async streamEvents(): Promise<void> {
    const idleMs = this.options.idleTimeoutMs ?? 45_000;
    const link = childSignal(this.signal);
    let idle = false;
    const onIdle = () => {
      idle = true;
      link.abort();
    };
    let idleTimer = setTimeout(onIdle, idleMs);
    const signal = link.signal;
    try {
      const response = await fetch(`${this.base}${this.paths.events}?since=${this.version}`, {
        headers: {
          'X-Api-Key': this.options.apiKey,
          Accept: 'text/event-stream',
          'Last-Event-ID': String(this.version),
        },
        signal,
      });
      if (response.status === 401 || response.status === 403) {
        await response.body?.cancel();
        throw new AuthError(`${this.paths.events}: the API refused the key (HTTP ${response.status})`);
      }
      const type = response.headers.get('content-type') ?? '';
      if (
        [404, 405, 406, 501].includes(response.status) ||
        (response.ok && !type.startsWith('text/event-stream'))
      ) {
        await response.body?.cancel();
        throw new NoSseError(`${this.paths.events}: HTTP ${response.status} ${type}`);
      }
      if (!response.ok || response.body === null) {
        await response.body?.cancel();
        throw statusError(this.paths.events, response);
      }
      this.sink.count('sseConnects');
      this.sink.connection(this.paths.feed, true);
      this.backoff.reset();
      const parser = new SseParser(this.maxLine);
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(onIdle, idleMs);
        for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
          if (event.event === 'resync') {
            this.resync();
            await response.body.cancel().catch(() => undefined);
            return;
          }
          // The API ended the stream because the key was revoked: an auth error (reported, retried
          // slowly), not a blip to reconnect from at once.
          if (event.event === 'revoked') {
            await response.body.cancel().catch(() => undefined);
            throw new AuthError(`${this.paths.events}: the API revoked the key`);
          }
          if (event.event !== 'change') continue;
          this.sink.count('sseEvents');
          this.applyChange(parseJson(event.data, this.paths.events));
        }
      }
      throw new Error(`${this.paths.events}: the server closed the event stream`);
    } catch (error) {
      if (idle && !this.signal.aborted)
        throw new Error(`${this.paths.events}: nothing received for ${idleMs} ms`);
      throw error;
    } finally {
      clearTimeout(idleTimer);
      link.dispose();
    }
  }

  private resync(): void {
    this.sink.count('resyncs');
    this.sink.logger.info({ feed: this.paths.feed, version: this.version }, 'resync: taking a snapshot');
    this.version = null;
  }

  /** One change (from a poll or an event), applied in version order; replays of older ones are skipped. */
  private applyChange(value: unknown): void {
    const change = value as {
      version?: unknown;
      op?: unknown;
      key?: unknown;
      decision?: unknown;
      policy?: unknown;
    };
    if (typeof change?.version !== 'number' || typeof change.key !== 'string') {
      this.sink.count('rejected');
      this.sink.logger.warn({ feed: this.paths.feed }, 'change without version or key ignored');
      return;
    }
    if (this.version !== null && change.version <= this.version) return;
    if (change.op === 'del') {
      if (this.paths.feed === 'decisions') this.sink.deleteDecision(change.key);
      else this.sink.deletePolicy(change.key);
    } else if (this.paths.feed === 'decisions' && change.op === 'add') {
      this.sink.putDecision(change.decision, change.key);
    } else if (this.paths.feed === 'policies' && change.op === 'put') {
      this.sink.putPolicy(change.policy, change.key);
    } else {
      this.sink.count('rejected');
      this.sink.logger.warn({ feed: this.paths.feed, op: change.op }, 'change with an unknown op ignored');
    }
    this.version = change.version;
  }
}

/**
 * A signal aborted when `parent` aborts, by `abort()`, or after `timeoutMs`; `dispose()` detaches it
 * from the parent. Not AbortSignal.any: the parent lives as long as the agent, and one listener per
 * request must not pile up on it.
 */
function childSignal(parent: AbortSignal, timeoutMs?: number) {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  parent.addEventListener('abort', onAbort, { once: true });
  const timer = timeoutMs === undefined ? undefined : setTimeout(onAbort, timeoutMs);
  return {
    signal: controller.signal,
    abort: onAbort,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadInput('undecodable', `${where}: not JSON: ${(error as Error).message}`);
  }
}

/** The body as text, refusing more than `maxBytes`. */
async function readBounded(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return '';
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for await (const chunk of response.body) {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new BadInput('too-large', `response larger than ${maxBytes} bytes`);
    }
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

/** The body's lines, streamed (a 100k-decision snapshot is never held whole); lines are bounded. */
async function* readLines(response: Response, maxLineBytes: number): AsyncGenerator<string> {
  if (response.body === null) return;
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of response.body) {
    pending += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      yield pending.slice(start, nl);
      start = nl + 1;
    }
    pending = pending.slice(start);
    if (pending.length > maxLineBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new BadInput('too-large', `snapshot line longer than ${maxLineBytes} bytes`);
    }
  }
  pending += decoder.decode();
  if (pending !== '') yield pending;
}
