// A small server speaking the native API contract of docs/API.md (blocklist and cache policies:
// snapshot, changes, SSE events), so the HttpSource's behaviour (resume, resync, fallback to
// polling, backoff) can be tested on cases the real API makes hard to provoke. The real API is
// exercised by test/integration/edge-agent-api.test.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CachePolicy, Decision } from '@edgeguard/schema';

export interface Change {
  version: number;
  op: 'add' | 'del' | 'put';
  key: string;
  decision?: Decision;
  policy?: CachePolicy;
}

export class ContractServer {
  readonly server: Server;
  apiKey = 'bouncer-key';
  epoch = 1;
  version = 0;
  decisions = new Map<string, Decision>();
  changes: Change[] = [];
  policyVersion = 0;
  policies = new Map<string, CachePolicy>();
  policyChanges: Change[] = [];
  allowlist: Array<{ cidr: string; comment: string; createdAt: number; expiresAt: number | null }> = [];
  /** Behaviour switches for the tests. */
  sse = true;
  truncateSnapshot = false;
  /**
   * Churn during the snapshot: the header's count is off by this many from the lines sent (as the
   * real API's is when decisions are added, removed or expire while its pages are scanned).
   */
  snapshotCountSkew = 0;
  /** An API from before end lines: the request header asking for one is ignored. */
  endLines = true;
  /** End the snapshot cleanly after every decision line, before its end line (the trailer). */
  cutBeforeTrailer = false;
  /** The cache-policy snapshot answers 503. */
  policiesBroken = false;
  /** Answer this many more requests to /changes with 429 and Retry-After: 1. */
  rateLimitChanges = 0;
  /** Changes older than this version are gone (a trimmed change log): asking for them gives resync. */
  oldestVersion = 0;
  /** Arrival time (ms) of each request, parallel to `requests`. */
  readonly requestTimes: number[] = [];
  readonly requests: Array<{
    path: string;
    lastEventId: string | undefined;
    ifNoneMatch: string | undefined;
  }> = [];
  private readonly streams = new Set<{ res: ServerResponse; feed: 'decisions' | 'policies' }>();

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.dropStreams();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Cuts every open event stream (a network blip, an API restart). */
  dropStreams(): void {
    for (const stream of this.streams) stream.res.destroy();
    this.streams.clear();
  }

  addDecision(decision: Decision): void {
    this.decisions.set(decision.key, decision);
    this.push('decisions', { version: ++this.version, op: 'add', key: decision.key, decision });
  }

  deleteDecision(key: string): void {
    this.decisions.delete(key);
    this.push('decisions', { version: ++this.version, op: 'del', key });
  }

  putPolicy(policy: CachePolicy): void {
    this.policies.set(policy.key, policy);
    this.push('policies', { version: ++this.policyVersion, op: 'put', key: policy.key, policy });
  }

  /** The key was revoked: every open event stream gets `event: revoked` and ends (as the API does). */
  revokeStreams(): void {
    for (const stream of this.streams) {
      stream.res.end(
        `event: revoked\ndata: ${JSON.stringify({ error: 'revoked-key', message: "the API key 'edge' was revoked" })}\n\n`,
      );
    }
    this.streams.clear();
  }

  /** The store was rebuilt: new epoch, versions move on, old cursors must resync. */
  rebuild(): void {
    this.epoch++;
    this.version += 1000;
    this.oldestVersion = this.version;
    this.changes = [];
    for (const stream of this.streams) {
      if (stream.feed !== 'decisions') continue;
      stream.res.write(
        `event: resync\ndata: ${JSON.stringify({ version: this.version, epoch: this.epoch })}\n\n`,
      );
    }
  }

  private push(feed: 'decisions' | 'policies', change: Change): void {
    (feed === 'decisions' ? this.changes : this.policyChanges).push(change);
    for (const stream of this.streams) {
      if (stream.feed === feed)
        stream.res.write(`event: change\nid: ${change.version}\ndata: ${JSON.stringify(change)}\n\n`);
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requestTimes.push(Date.now());
    this.requests.push({
      path: url.pathname + url.search,
      lastEventId: req.headers['last-event-id'] as string | undefined,
      ifNoneMatch: req.headers['if-none-match'] as string | undefined,
    });
    if (req.headers['x-api-key'] !== this.apiKey) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    if (url.pathname === '/api/allowlist') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ entries: this.allowlist }));
      return;
    }
    const feed = url.pathname.startsWith('/api/blocklist') ? 'decisions' : 'policies';
    const changes = feed === 'decisions' ? this.changes : this.policyChanges;
    const current = feed === 'decisions' ? this.version : this.policyVersion;
    const since = Number(url.searchParams.get('since') ?? req.headers['last-event-id'] ?? 0);
    const tooOld = feed === 'decisions' && (since < this.oldestVersion || since > current);
    switch (url.pathname) {
      case '/api/blocklist': {
        const etag = `"${this.epoch}-${this.version}"`;
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { etag }).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-ndjson', etag });
        const trailer = this.endLines && req.headers['edgeguard-snapshot-trailer'] === '1';
        const count = this.decisions.size + this.snapshotCountSkew;
        res.write(
          `${JSON.stringify({ version: this.version, epoch: this.epoch, count, ...(trailer ? { trailer } : {}) })}\n`,
        );
        const all = [...this.decisions.values()];
        const sent = this.truncateSnapshot ? all.slice(0, -1) : all;
        for (const d of sent) res.write(`${JSON.stringify(d)}\n`);
        if (this.truncateSnapshot) {
          res.destroy();
          return;
        }
        // A body that ends cleanly before the end line (a proxy closing it, a server stopping mid-scan).
        if (this.cutBeforeTrailer) {
          res.end();
          return;
        }
        if (trailer) res.write(`${JSON.stringify({ end: true, lines: sent.length })}\n`);
        res.end();
        return;
      }
      case '/api/cache-policies':
        if (this.policiesBroken) {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable"}');
          return;
        }
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ version: this.policyVersion, policies: [...this.policies.values()] }));
        return;
      case '/api/blocklist/changes':
      case '/api/cache-policies/changes': {
        if (feed === 'decisions' && this.rateLimitChanges > 0) {
          this.rateLimitChanges--;
          res
            .writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
            .end('{"error":"rate-limited"}');
          return;
        }
        const limit = Number(url.searchParams.get('limit') ?? 1000);
        if (tooOld) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ version: current, resync: true, changes: [] }));
          return;
        }
        const page = changes.filter((c) => c.version > since).slice(0, limit);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ version: page.at(-1)?.version ?? current, resync: false, changes: page }));
        return;
      }
      case '/api/blocklist/events':
      case '/api/cache-policies/events': {
        if (!this.sse) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not-found"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(': connected\n\n');
        if (tooOld) {
          res.write(`event: resync\ndata: ${JSON.stringify({ version: current, epoch: this.epoch })}\n\n`);
        } else {
          for (const c of changes.filter((c) => c.version > since))
            res.write(`event: change\nid: ${c.version}\ndata: ${JSON.stringify(c)}\n\n`);
        }
        const stream = { res, feed: feed as 'decisions' | 'policies' };
        this.streams.add(stream);
        res.on('close', () => this.streams.delete(stream));
        return;
      }
      default:
        res.writeHead(404).end();
    }
  }
}
