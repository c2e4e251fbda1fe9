import {
  type ClientRequest,
  createServer,
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { normalizePath } from '@edgeguard/detect';
import { cacheKeyQuery, type EdgeAgent, normaliseHost } from '@edgeguard/edge-agent';
import { httpFingerprint } from '@edgeguard/fingerprint';
import { resolveClientAddress } from '@edgeguard/logformat';
import { CidrSet, canonicalIp } from '@edgeguard/netaddr';
import type { CachePolicy } from '@edgeguard/schema';
import { LRUCache } from 'lru-cache';
import type { AccessLogRecord, AccessLogWriter, CacheStatus } from './access-log.js';
import {
  type CachedResponse,
  isShareable,
  ResponseCache,
  type ResponseCacheOptions,
  sharedCacheLifetime,
  varyMatches,
  varyValues,
} from './response-cache.js';

export interface EdgeProxyOptions {
  /** The agent answering check() and cachePolicy() (started by the caller). */
  agent: Pick<EdgeAgent, 'check' | 'cachePolicy'>;
  /** The origin, e.g. `http://127.0.0.1:8081`. */
  origin: string;
  /** Peers whose X-Forwarded-For is believed (load balancers in front of the proxy), as CIDRs. */
  trustedProxies?: string[];
  accessLog?: AccessLogWriter | null;
  cache?: ResponseCacheOptions;
  /** The `throttle` verdict: a token bucket per client address (default 2 requests/s, burst 10). */
  throttle?: { ratePerSecond?: number; burst?: number; maxClients?: number };
  /** Origin response time limit (ms, default 10 s). */
  originTimeoutMs?: number;
  /**
   * How long a streamed response waits for a client that takes nothing more (ms, default 60 s,
   * nginx's send_timeout) before it is cut: meanwhile the origin is not read, and its connection
   * is held for that client.
   */
  sendTimeoutMs?: number;
  /**
   * Largest origin body read for caching (default 8 MiB); a larger GET response is streamed on to
   * the client that asked, not stored (nor shared with concurrent misses).
   */
  maxBodyBytes?: number;
}

export interface EdgeProxyStats {
  requests: number;
  blocked: number;
  challenged: number;
  throttled: number;
  hits: number;
  misses: number;
  stale: number;
  originErrors: number;
  /** GET responses over maxBodyBytes, streamed through uncached (counted in `misses` too). */
  tooLarge: number;
  cachedResponses: number;
}

/** Cached fields a response keeps; hop-by-hop headers (RFC 9110 section 7.6.1) are never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);
/**
 * Request headers the cached path does not pass to the origin: its fetch must get the whole page
 * (200), the one it stores and shares with concurrent misses, not one client's 304 or 206
 * (RFC 9110 sections 13.1 and 14.2). The proxy does not revalidate for its clients: they get the page.
 */
const PARTIAL_OR_CONDITIONAL = new Set([
  'range',
  'if-range',
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
]);
/**
 * Request headers naming another resource, method or host than the cache key does: IIS's and
 * Symfony's X-Original-URL, method overrides (Express's method-override), the X-Forwarded-Host and
 * -Proto that Rails and most frameworks build absolute links from. A fetch whose answer may be
 * stored does not pass them on, or one client's header shapes the page stored for everyone (cache
 * poisoning by an unkeyed header, as an unkeyed query parameter would). The forwarded host and
 * scheme are passed on from a trusted proxy (`trustedProxies`), which sets them itself.
 */
const UNKEYED_REWRITES = [
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
];
const UNKEYED_FORWARDED = [
  'forwarded',
  'x-forwarded-host',
  'x-forwarded-server',
  'x-forwarded-proto',
  'x-forwarded-scheme',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-host',
];
/** Not passed to a fetch that may be stored: from a client, and from a trusted proxy. */
const STORED_DROPPED = new Set([...PARTIAL_OR_CONDITIONAL, ...UNKEYED_REWRITES, ...UNKEYED_FORWARDED]);
const STORED_DROPPED_TRUSTED = new Set([...PARTIAL_OR_CONDITIONAL, ...UNKEYED_REWRITES]);
/** Origin answers that count as an error for stale-if-error (RFC 5861 section 4). */
const ORIGIN_ERROR_STATUSES = new Set([500, 502, 503, 504]);
/** Concurrent origin fetches shared by key at most; past it misses fetch on their own. */
const MAX_IN_FLIGHT = 10_000;
/**
 * A Host header's form (RFC 9110 §7.2: uri-host [":" port]; RFC 3986 §3.2.2: an IP literal in
 * brackets, or a reg-name of unreserved, percent-encoded and sub-delim characters).
 */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]{0,5})?$/;

interface Fetched {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  upstreamSeconds: number;
  /**
   * A body past maxBodyBytes: `body` is what was read of it (nothing when its Content-Length said
   * so), the rest is still to come from `response` (paused). Never stored or shared: it goes to the
   * request that made the fetch, which streams it on (or destroys it).
   */
  rest?: { upstream: ClientRequest; response: IncomingMessage; startedAt: number };
}

/**
 * A small caching reverse proxy on the edge agent (see README.md):
 *
 * 1. The client is the TCP peer, or the rightmost untrusted X-Forwarded-For hop when the peer is a
 *    trusted proxy (@edgeguard/logformat's resolveClientAddress, nginx realip semantics).
 * 2. `agent.check({ ip, fingerprint })`: `block` → 403; `challenge` → 429 with a small page (a real
 *    edge would serve a JavaScript or CAPTCHA challenge here); `throttle` → a token bucket per
 *    client, 429 with Retry-After past it.
 * 3. GET requests (and HEADs, answered from a fresh stored GET) go through a bounded cache keyed by
 *    host + path + the query as the agent's cache policy says (`cacheKeyQuery`: a busted path's
 *    random query strings stop making misses).
 *    Freshness from the policy's ttl or the origin's Cache-Control (s-maxage, max-age);
 *    stale-while-revalidate and stale-if-error likewise (RFC 5861), capped by the policy's
 *    maxStaleSeconds; concurrent misses of one key share one origin fetch unless the policy says
 *    `collapse: false`.
 * 4. Every request is written to the access log in ACCESS_LOG_FORMAT, which the shipper reads.
 */
export class EdgeProxy {
  readonly server: Server;
  private readonly trusted: CidrSet | null;
  private readonly cache: ResponseCache;
  /** Origin fetches in flight by cache key, with the headers of the request that started each. */
  private readonly inFlight = new Map<string, { fetching: Promise<Fetched>; headers: IncomingHttpHeaders }>();
  private readonly buckets: LRUCache<string, { tokens: number; at: number }>;
  private readonly origin: URL;
  private readonly originAgent = new HttpAgent({ keepAlive: true, maxSockets: 256 });
  private readonly originTimeoutMs: number;
  private readonly sendTimeoutMs: number;
  private readonly counters: Omit<EdgeProxyStats, 'cachedResponses'> = {
    requests: 0,
    blocked: 0,
    challenged: 0,
    throttled: 0,
    hits: 0,
    misses: 0,
    stale: 0,
    originErrors: 0,
    tooLarge: 0,
  };

  constructor(private readonly options: EdgeProxyOptions) {
    this.origin = new URL(options.origin);
    this.originTimeoutMs = options.originTimeoutMs ?? 10_000;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 60_000;
    this.trusted = options.trustedProxies?.length ? new CidrSet(options.trustedProxies) : null;
    this.cache = new ResponseCache(options.cache);
    this.buckets = new LRUCache({ max: options.throttle?.maxClients ?? 100_000 });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`edge proxy error: ${error.message}\n`);
      });
    });
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  /**
   * Stops accepting connections and lets the requests in flight finish (their access-log lines
   * are written as they end); idle keep-alive connections are closed as they become idle. After
   * `graceMs` whatever is still open is cut.
   */
  async close(graceMs = 10_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    // A keep-alive connection goes idle when its response ends: close it then, not at its timeout.
    const idle = setInterval(() => this.server.closeIdleConnections(), 50);
    const cut = setTimeout(() => this.server.closeAllConnections(), graceMs);
    try {
      await closed;
    } finally {
      clearInterval(idle);
      clearTimeout(cut);
      this.originAgent.destroy();
    }
  }

  stats(): EdgeProxyStats {
    return { ...this.counters, cachedResponses: this.cache.size };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.counters.requests++;
    const peer = canonicalIp(req.socket.remoteAddress ?? '') ?? '0.0.0.0';
    const forwardedFor = headerText(req.headers['x-forwarded-for']);
    const client = resolveClientAddress(peer, forwardedFor ?? null, this.trusted);
    const userAgent = headerText(req.headers['user-agent']);
    const acceptLanguage = headerText(req.headers['accept-language']);
    const host = headerText(req.headers.host);
    // nginx's $host: lower case, no port. The access log, the policy lookup and the cache key use it,
    // so `Shop.Example` and `shop.example:80` are one site (and what is stored is fetched with it).
    const site = host === undefined ? undefined : normaliseHost(host);
    const url = req.url ?? '/';
    const log: AccessLogRecord = {
      time: Date.now(),
      client,
      method: req.method ?? 'GET',
      url,
      protocol: `HTTP/${req.httpVersion}`,
      status: 0,
      bytes: 0,
      referer: headerText(req.headers.referer),
      userAgent,
      forwardedFor,
      host: site,
      requestTime: 0,
      upstreamTime: null,
      cacheStatus: '-',
      acceptLanguage,
    };
    const finish = (
      status: number,
      headers: Record<string, string | string[]>,
      body: Buffer | string,
      cacheStatus: CacheStatus,
    ) => {
      // nginx's 499: the client closed its connection while the origin was asked (a miss's fetch
      // still completes, and is stored, for the next request).
      if (res.destroyed) return this.logged(log, started, 499, 0, cacheStatus);
      const payload = typeof body === 'string' ? Buffer.from(body) : body;
      res.writeHead(status, { ...headers, 'content-length': String(payload.length) });
      res.end(req.method === 'HEAD' ? undefined : payload);
      this.logged(log, started, status, req.method === 'HEAD' ? 0 : payload.length, cacheStatus);
    };

    // The fingerprint edgeguard's detector computes from this request's log line (the same fields
    // as logged: user agent and Accept-Language; header order is not logged).
    const fingerprint = httpFingerprint({
      userAgent: userAgent ?? null,
      acceptLanguage: acceptLanguage ?? null,
      headerOrder: null,
    });
    const { verdict, decision } = this.options.agent.check({ ip: client, fingerprint });
    if (verdict === 'block') {
      this.counters.blocked++;
      req.resume();
      finish(
        403,
        {
          'content-type': 'text/plain; charset=utf-8',
          'x-edgeguard-reason': headerSafe(decision?.reason ?? 'cold-start'),
        },
        'Forbidden\n',
        '-',
      );
      return;
    }
    if (verdict === 'challenge') {
      this.counters.challenged++;
      req.resume();
      finish(
        429,
        {
          'content-type': 'text/html; charset=utf-8',
          'retry-after': '30',
          'x-edgeguard-reason': headerSafe(decision?.reason ?? ''),
        },
        CHALLENGE_PAGE,
        '-',
      );
      return;
    }
    if (verdict === 'throttle' && !this.takeToken(client)) {
      this.counters.throttled++;
      req.resume();
      finish(
        429,
        { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' },
        'Too Many Requests\n',
        '-',
      );
      return;
    }

    // The Host is part of the cache key and goes to the origin: one that is not an authority
    // (`shop.example/account`) would let a request for /login fill the entry of /account/login.
    if (host !== undefined && !AUTHORITY.test(host)) {
      req.resume();
      finish(
        400,
        { 'content-type': 'text/plain; charset=utf-8' },
        'Bad Request: Host is not a host name\n',
        '-',
      );
      return;
    }
    // An absolute-form target (`GET http://shop.example/hot?cb=1`, RFC 9112 §3.2.2) is its path and
    // query to the detector (the shipper's parser reads it so, the host from $host): the policy
    // lookup and the cache key read it so too, or `http://shop.example/hot?cb=…` bypassed the bust
    // policy of `/hot` at will. Its host must be the Host's: an origin answers for the target's
    // host (§3.2.2), and that answer would be stored under the Host's.
    const absolute = absoluteForm(url);
    if (
      absolute !== null &&
      (site === undefined ||
        !AUTHORITY.test(absolute.authority) ||
        normaliseHost(absolute.authority) !== site)
    ) {
      req.resume();
      finish(
        400,
        { 'content-type': 'text/plain; charset=utf-8' },
        'Bad Request: the request target names another host than Host\n',
        '-',
      );
      return;
    }
    const requested = absolute?.target ?? url;
    const queryAt = requested.indexOf('?');
    const path = queryAt < 0 ? requested : requested.slice(0, queryAt);
    const query = queryAt < 0 ? '' : requested.slice(queryAt + 1);
    const head = req.method === 'HEAD';
    if ((req.method !== 'GET' && !head) || req.headers.authorization !== undefined) {
      await this.forward(req, res, log, started);
      return;
    }

    // Equivalent spellings of a path (`/h%6Ft`, `//hot`, `/a/../hot`) share its policy and cache
    // entry. The normal form is the detector's own function: content-watch names its policies by
    // it, so a spelling it counts under `/hot` must find `/hot`'s policy here (with a second
    // definition, `//hot?cb=…` was `/hot` to the detector and another path to the proxy: the bust
    // policy of `/hot` bypassed at will).
    const resource = normalizePath(path);
    const policy = this.options.agent.cachePolicy(site, resource);
    const keyedQuery = cacheKeyQuery(policy?.cacheKey, query);
    const key = `${site ?? ''}${resource}?${keyedQuery}`;
    // The origin is asked for what the key names: a query parameter the key leaves out never
    // reaches the origin, so it cannot shape a response stored for everyone (an unkeyed parameter
    // reflected in the page would poison the entry for every client); the path likewise, in its
    // normal form (an origin answering `//hot` otherwise than `/hot` must not have that answer
    // stored as `/hot`). What is never stored (a request with a cookie, a HEAD miss, other methods)
    // goes to the origin as sent.
    const target = keyedQuery === '' ? resource : `${resource}?${keyedQuery}`;
    // A stored response varying by request headers (Vary) answers only requests sending the same
    // values; a key keeps a few variants (the cache's maxVariants), the oldest replaced.
    const cached = this.cache.get(key, req.headers);
    const now = Date.now();
    if (cached !== undefined && now < cached.freshUntil) {
      this.counters.hits++;
      finish(cached.status, withCacheHeader(cached.headers, 'HIT'), cached.body, 'HIT');
      return;
    }
    // A HEAD is answered from a fresh stored GET (its status and headers, the body's length, no
    // body: RFC 9110 §9.3.2); otherwise it goes to the origin as a HEAD and nothing is stored. That
    // is a MISS (nginx's word for it too), not a BYPASS: the cache was asked, and content-watch
    // counts a BYPASS as a page no cache could serve.
    if (head) {
      this.counters.misses++;
      await this.forward(req, res, log, started, 'MISS');
      return;
    }
    if (cached !== undefined && now < capStale(cached.staleWhileRevalidateUntil, cached, policy)) {
      // Serve the stale copy now; one background fetch refreshes it (shared with concurrent misses).
      this.counters.stale++;
      this.fetchShared(key, target, site, req, policy).then(discard, () => undefined);
      finish(cached.status, withCacheHeader(cached.headers, 'UPDATING'), cached.body, 'UPDATING');
      return;
    }
    // stale-if-error: the stale copy answers while the origin fails, within what it allows.
    const servedStale = () => {
      this.counters.originErrors++;
      if (cached === undefined || Date.now() >= capStale(cached.staleIfErrorUntil, cached, policy))
        return false;
      this.counters.stale++;
      finish(cached.status, withCacheHeader(cached.headers, 'STALE'), cached.body, 'STALE');
      return true;
    };
    let fetched: Fetched;
    try {
      fetched = await this.fetchShared(key, target, site, req, policy);
    } catch (error) {
      if (!servedStale())
        finish(502, { 'content-type': 'text/plain' }, `Bad Gateway: ${(error as Error).message}\n`, 'MISS');
      return;
    }
    log.upstreamTime = fetched.upstreamSeconds;
    // RFC 5861 section 4: an origin answering 500, 502, 503 or 504 is an error too, not only a
    // failed connection.
    if (ORIGIN_ERROR_STATUSES.has(fetched.status) && servedStale()) return discard(fetched);
    this.counters.misses++;
    const status: CacheStatus = cached === undefined ? 'MISS' : 'EXPIRED';
    if (fetched.rest !== undefined) {
      // Too large to buffer: what was read, then the rest as it comes (a miss, nothing stored).
      this.counters.tooLarge++;
      const { upstream, response, startedAt } = fetched.rest;
      this.relay(upstream, response, fetched.body, res, status, (answered, bytes) => {
        log.upstreamTime = (performance.now() - startedAt) / 1000;
        this.logged(log, started, answered, bytes, status);
      });
      return;
    }
    finish(fetched.status, withCacheHeader(fetched.headers, status), fetched.body, status);
  }

  /** Completes the request's access-log record and writes it. */
  private logged(
    log: AccessLogRecord,
    started: number,
    status: number,
    bytes: number,
    cacheStatus: CacheStatus,
  ): void {
    log.status = status;
    log.bytes = bytes;
    log.cacheStatus = cacheStatus;
    log.requestTime = (performance.now() - started) / 1000;
    this.options.accessLog?.write(log);
  }

  /** Fetches from the origin, sharing one fetch among concurrent requests of one key, and caches the result. */
  private fetchShared(
    key: string,
    target: string,
    site: string | undefined,
    req: IncomingMessage,
    policy: CachePolicy | null,
  ): Promise<Fetched> {
    // A request with a cookie may be served a stored public copy, but what the origin answers it is
    // that user's: never shared through collapsing, never stored (Authorization is bypassed earlier).
    if (req.headers.cookie !== undefined) return this.fetchOrigin(req, req.url ?? '/', false);
    const collapse = policy?.collapse !== false;
    const running = collapse ? this.inFlight.get(key) : undefined;
    if (running !== undefined) {
      // The shared answer is another client's: taken only when it could have been stored for
      // everyone (no Set-Cookie, no private/no-store/no-cache) and varies by nothing this request
      // sends differently; otherwise this request asks the origin itself.
      return running.fetching.then((fetched) =>
        fetched.rest === undefined &&
        isShareable(fetched.headers) &&
        varyMatches(varyValues(fetched.headers, running.headers), req.headers)
          ? fetched
          : this.fetchOrigin(req, target, true, site),
      );
    }
    const fetching = this.fetchOrigin(req, target, true, site).then((fetched) => {
      this.store(key, fetched, policy, req.headers);
      return fetched;
    });
    if (collapse && this.inFlight.size < MAX_IN_FLIGHT) {
      this.inFlight.set(key, { fetching, headers: req.headers });
      fetching.finally(() => this.inFlight.delete(key)).catch(() => undefined);
    }
    return fetching;
  }

  private store(
    key: string,
    fetched: Fetched,
    policy: CachePolicy | null,
    requestHeaders: IncomingHttpHeaders,
  ): void {
    // A response setting a cookie is someone's, and the origin's no-store/private/no-cache (or
    // Vary: *) wins over any cache policy's TTL: never shared. A body too large to read is not.
    if (fetched.status !== 200 || fetched.rest !== undefined || !isShareable(fetched.headers)) return;
    const cacheControl = headerText(fetched.headers['cache-control']);
    const origin = sharedCacheLifetime(cacheControl);
    const ttl = policy?.ttlSeconds ?? origin?.maxAgeSeconds;
    if (ttl === undefined || ttl <= 0) return;
    const now = Date.now();
    const freshUntil = now + ttl * 1000;
    const swr = policy?.staleWhileRevalidateSeconds ?? origin?.swrSeconds ?? 0;
    const sie = policy?.staleIfErrorSeconds ?? origin?.sieSeconds ?? 0;
    const entry: CachedResponse = {
      status: fetched.status,
      headers: fetched.headers,
      body: fetched.body,
      storedAt: now,
      freshUntil,
      staleWhileRevalidateUntil: freshUntil + swr * 1000,
      staleIfErrorUntil: freshUntil + sie * 1000,
      vary: varyValues(fetched.headers, requestHeaders),
    };
    this.cache.set(key, entry, requestHeaders);
  }

  /**
   * A GET of `target` from the origin. One whose answer may be `stored` gets `site` (the key's
   * host) as its Host: the Host as sent, a port or case in it (`shop.example:1`), would shape the
   * page stored for every spelling (links and assets built from it), as an unkeyed query would;
   * nor does it get the headers naming another resource or host (UNKEYED_REWRITES and _FORWARDED).
   */
  private fetchOrigin(
    req: IncomingMessage,
    target: string,
    stored: boolean,
    site?: string,
  ): Promise<Fetched> {
    const started = performance.now();
    const maxBody = this.options.maxBodyBytes ?? 8 << 20;
    const trusted = this.trusted?.has(canonicalIp(req.socket.remoteAddress ?? '') ?? '') === true;
    const headers = this.originHeaders(
      req,
      false,
      !stored ? PARTIAL_OR_CONDITIONAL : trusted ? STORED_DROPPED_TRUSTED : STORED_DROPPED,
    );
    if (stored && site !== undefined) headers.host = site;
    return new Promise<Fetched>((resolve, reject) => {
      const upstream = request(
        {
          protocol: this.origin.protocol,
          hostname: this.origin.hostname,
          port: this.origin.port,
          method: 'GET',
          path: target,
          // No body is sent: no Content-Length either (a GET carrying a body would otherwise leave
          // the origin waiting for it, or reading the next request on the connection as that body).
          headers,
          agent: this.originAgent,
          timeout: this.originTimeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const fetched = (rest?: Fetched['rest']): Fetched => ({
            status: response.statusCode ?? 502,
            headers: responseHeaders(response),
            body: Buffer.concat(chunks),
            upstreamSeconds: (performance.now() - started) / 1000,
            rest,
          });
          const ended = () => resolve(fetched());
          // Past maxBody (announced, or read so far) the response is not read on: the request
          // that asked streams the rest to its client (an error later is that stream's).
          const tooLarge = () => {
            response.pause();
            response.off('data', collect);
            response.off('end', ended);
            resolve(fetched({ upstream, response, startedAt: started }));
            chunks.length = 0;
          };
          const collect = (chunk: Buffer) => {
            size += chunk.length;
            chunks.push(chunk);
            if (size > maxBody) tooLarge();
          };
          // Before anything else: an error before the streaming request listens is no crash.
          response.on('error', reject);
          if (Number(response.headers['content-length']) > maxBody) return tooLarge();
          response.on('data', collect);
          response.on('end', ended);
        },
      );
      upstream.on('timeout', () => upstream.destroy(new Error('origin timed out')));
      upstream.on('error', reject);
      upstream.end();
    });
  }

  /**
   * Non-GET (and authorised) requests, `BYPASS`, and HEAD misses, `MISS`: streamed both ways,
   * never cached.
   */
  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    log: AccessLogRecord,
    started: number,
    cacheStatus: CacheStatus = 'BYPASS',
  ): Promise<void> {
    return new Promise<void>((resolve) => {
      const upstreamStarted = performance.now();
      let finished = false;
      let clientGone = false;
      let answered = false;
      const done = (status: number, bytes: number) => {
        if (finished) return;
        finished = true;
        log.upstreamTime = (performance.now() - upstreamStarted) / 1000;
        this.logged(log, started, status, bytes, cacheStatus);
        resolve();
      };
      const upstream = request(
        {
          protocol: this.origin.protocol,
          hostname: this.origin.hostname,
          port: this.origin.port,
          method: req.method,
          path: req.url,
          headers: this.originHeaders(req, true),
          agent: this.originAgent,
          timeout: this.originTimeoutMs,
        },
        (response) => {
          answered = true;
          this.relay(upstream, response, null, res, cacheStatus, done);
        },
      );
      upstream.on('timeout', () => upstream.destroy(new Error('origin timed out')));
      upstream.on('error', () => {
        // Once answered, the response's own end or cut is relay's.
        if (finished || answered) return;
        if (clientGone) {
          // nginx's 499: the client closed the connection before the response; not the origin's fault.
          done(499, 0);
          return;
        }
        this.counters.originErrors++;
        const body = 'Bad Gateway\n';
        res.writeHead(502, { 'content-type': 'text/plain', 'content-length': String(body.length) });
        res.end(body);
        done(502, body.length);
      });
      // The client went away before its response: stop asking the origin.
      res.on('close', () => {
        if (res.writableFinished || answered) return;
        clientGone = true;
        upstream.destroy();
      });
      req.pipe(upstream);
    });
  }

  /**
   * Passes an origin response on to the client as it comes, after `read` (what was read of it
   * already), with the origin's Content-Length: the body passes unchanged, so its length holds (and
   * a HEAD answer keeps the length a GET would have). `done(status, bytes)` is called once, when the
   * response has ended or been cut. Under way it cannot become a 502 any more: one the origin cuts
   * short is cut short for the client too (not left waiting for the rest until its timeout), and a
   * client going away stops the origin's. A client that had gone before (while a GET too large to
   * buffer was read) is logged 499 and the origin's answer dropped at once.
   *
   * While the client does not take more (its buffer full: a slow or paused download), the origin is
   * not read and its timeout waits: the client holds the stream up, not the origin, and an idle
   * origin socket cut it short after originTimeoutMs as an origin error. A client that takes
   * nothing for sendTimeoutMs is cut (not an origin error), so it cannot hold an origin connection
   * for good.
   */
  private relay(
    upstream: ClientRequest,
    response: IncomingMessage,
    read: Buffer | null,
    res: ServerResponse,
    cacheStatus: CacheStatus,
    done: (status: number, bytes: number) => void,
  ): void {
    if (res.destroyed) {
      response.destroy();
      done(499, 0);
      return;
    }
    const headers = responseHeaders(response);
    const length = response.headers['content-length'];
    if (length !== undefined && response.headers['transfer-encoding'] === undefined)
      headers['content-length'] = length;
    res.writeHead(response.statusCode ?? 502, withCacheHeader(headers, cacheStatus));
    let bytes = 0;
    let finished = false;
    let stalled: NodeJS.Timeout | undefined;
    const end = (cut: boolean, clientGone = false) => {
      if (finished) return;
      finished = true;
      clearTimeout(stalled);
      if (cut) {
        if (!clientGone) this.counters.originErrors++;
        res.destroy();
        response.destroy();
      }
      done(response.statusCode ?? 502, bytes);
    };
    let draining = false;
    const write = (chunk: Buffer) => {
      bytes += chunk.length;
      if (res.write(chunk) || draining) return;
      draining = true;
      response.pause();
      upstream.setTimeout(0);
      stalled = setTimeout(() => end(true, true), this.sendTimeoutMs);
    };
    res.on('drain', () => {
      if (!draining) return;
      draining = false;
      clearTimeout(stalled);
      // No-op once the response has ended (ClientRequest.setTimeout): its socket may serve another.
      upstream.setTimeout(this.originTimeoutMs);
      response.resume();
    });
    if (read !== null && read.length > 0) write(read);
    response.on('data', write);
    response.on('end', () => {
      res.end();
      end(false);
    });
    response.on('error', () => end(true));
    response.on('close', () => end(!response.complete));
    res.on('close', () => {
      if (!res.writableFinished) end(true, true);
    });
    // A response too large to buffer comes paused: flowing again, unless the client is already full.
    if (!draining) response.resume();
  }

  private originHeaders(
    req: IncomingMessage,
    withBody: boolean,
    dropped?: ReadonlySet<string>,
  ): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name) || dropped?.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    // Append the peer as the next hop, as nginx's $proxy_add_x_forwarded_for does.
    const peer = canonicalIp(req.socket.remoteAddress ?? '') ?? '';
    headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${peer}` : peer;
    if (withBody && req.headers['content-length'] !== undefined)
      headers['content-length'] = req.headers['content-length'];
    return headers;
  }

  private takeToken(client: string): boolean {
    const rate = this.options.throttle?.ratePerSecond ?? 2;
    const burst = this.options.throttle?.burst ?? 10;
    const now = Date.now();
    const bucket = this.buckets.get(client) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(client, bucket);
    return allowed;
  }
}

/** An absolute-form request target's authority and its origin form (`/` when it has no path). */
function absoluteForm(url: string): { authority: string; target: string } | null {
  const scheme = /^https?:\/\//i.exec(url);
  if (scheme === null) return null;
  const start = scheme[0].length;
  let end = start;
  while (end < url.length && !'/?#'.includes(url[end]!)) end++;
  const rest = url.slice(end);
  return { authority: url.slice(start, end), target: rest.startsWith('/') ? rest : `/${rest}` };
}

/** Drops the rest of a response too large to buffer that no client is waiting for. */
function discard(fetched: Fetched): void {
  fetched.rest?.response.destroy();
}

/** The cap a policy's maxStaleSeconds puts on how long past freshness a response may be served. */
function capStale(until: number, cached: CachedResponse, policy: CachePolicy | null): number {
  const maxStale = policy?.maxStaleSeconds;
  return maxStale === null || maxStale === undefined
    ? until
    : Math.min(until, cached.freshUntil + maxStale * 1000);
}

/**
 * A decision's reason as a header value: an operator's reason is free text (`abuse — ticket 42`),
 * and Node refuses a header with characters outside printable ASCII (the blocked client got a 500
 * and no log line). Other bytes are percent-encoded as UTF-8, and the value is at most 256
 * characters (bytes: it is ASCII), cut before the first character that would not fit whole.
 */
function headerSafe(text: string): string {
  const max = 256;
  let out = '';
  // for..of walks code points, so a character is encoded (or cut) with all its UTF-8 bytes.
  for (const char of text) {
    let piece = '';
    for (const byte of Buffer.from(char, 'utf8'))
      piece +=
        byte >= 0x20 && byte < 0x7f && byte !== 0x25
          ? String.fromCharCode(byte)
          : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (out.length + piece.length > max) break;
    out += piece;
  }
  return out;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function responseHeaders(response: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    // Set-Cookie stays a list: joined cookies are not one cookie.
    headers[name] = Array.isArray(value) && name !== 'set-cookie' ? value.join(', ') : value;
  }
  return headers;
}

function withCacheHeader(
  headers: Record<string, string | string[]>,
  status: CacheStatus,
): Record<string, string | string[]> {
  return { ...headers, 'x-cache': status };
}

const CHALLENGE_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Checking your browser</title></head>
<body><h1>One moment</h1><p>Too many requests from your address. Please try again in a little while.</p></body></html>
`;
