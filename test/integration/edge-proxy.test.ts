// The edge-proxy example on a real edge agent: verdicts enforced per resolved client, the cache
// keyed as the agent's cache policy says, stale-while-revalidate, and an access log the shipper's
// parser reads back field for field. The agent is fed by a tiny in-process Source (the public
// Source interface); the Kafka- and API-fed variants run in edge-e2e.test.ts and edge-agent-*.test.ts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { normalizePath } from '@edgeguard/detect';
import { EdgeAgent, type FeedSink, type Source } from '@edgeguard/edge-agent';
import { ACCESS_LOG_FORMAT, AccessLogWriter, EdgeProxy } from '@edgeguard/example-edge-proxy';
import { httpFingerprint } from '@edgeguard/fingerprint';
import { createParser } from '@edgeguard/logformat';
import { type AccessLog, type CachePolicy, isBadInput } from '@edgeguard/schema';
import { decision } from './support/api.js';
import { eventually, freePort } from './support/services.js';

const proxyMain = new URL('../../examples/edge-proxy/dist/main.js', import.meta.url).pathname;

/** A Source fed from the test: put/delete go straight to the agent, as a source's records would. */
class InProcessSource implements Source {
  readonly kind = 'in-process';
  sink: FeedSink | null = null;
  async start(sink: FeedSink): Promise<void> {
    this.sink = sink;
    sink.loaded('decisions');
    sink.loaded('policies');
    sink.loaded('allowlist');
  }
  async stop(): Promise<void> {}
}

function bustPolicy(host: string, path: string): CachePolicy {
  const now = Date.now();
  return {
    key: `${host}${path}`,
    match: { host, pathPattern: path },
    ttlSeconds: null,
    staleWhileRevalidateSeconds: null,
    staleIfErrorSeconds: null,
    maxStaleSeconds: null,
    collapse: true,
    cacheKey: { kind: 'drop' },
    reason: 'cache-bust',
    signals: [],
    decidedAt: now,
    expiresAt: now + 600_000,
    version: 1,
  };
}

/** Writes `size - 1` bytes of 'x' a MiB at a time as the reader takes them, then calls `last`. */
function writeMiBs(res: ServerResponse, size: number, last: () => void): void {
  const mib = Buffer.alloc(1 << 20, 'x');
  let sent = 0;
  const more = () => {
    while (sent < size - 1) {
      const chunk = mib.subarray(0, Math.min(mib.length, size - 1 - sent));
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', more);
    }
    last();
  };
  more();
}

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';

describe('the edge proxy example', { timeout: 60_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'eg-edge-proxy-'));
  const logPath = join(work, 'access.log');
  const originHits = new Map<string, number>();
  const originMethods = new Map<string, string>();
  let flakyDown = false;
  /** How each origin answer to /late-huge ended: 'finished', or 'cut' when its connection closed first. */
  const lateHugeClosed: string[] = [];
  let origin: Server;
  let source: InProcessSource;
  let agent: EdgeAgent;
  let proxy: EdgeProxy;
  let accessLog: AccessLogWriter;
  let base: string;

  const get = (path: string, client: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(`${base}${path}`, {
      signal,
      headers: {
        'user-agent': BROWSER,
        'accept-language': 'en-US,en;q=0.9',
        'x-forwarded-for': client,
        ...headers,
      },
    });

  /** A request with headers fetch() will not send as given (Host), or a HEAD whose body is checked. */
  const raw = (path: string, headers: Record<string, string>, method = 'GET') =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
      (resolve, reject) => {
        const req = httpRequest({ port: new URL(base).port, path, method, headers }, (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      },
    );

  /** Runs the command against the test origin, on Kafka topics that do not exist (cold start: open). */
  async function runCommand(name: string, extra: string[] = [], env: Record<string, string> = {}) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        proxyMain,
        '--origin',
        `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
        '--port',
        String(port),
        '--kafka',
        process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
        '--topic-prefix',
        `egtest.edge-proxy-${name}.${Date.now()}.`,
        ...extra,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await eventually(
      'the command to listen',
      () => (stderr.includes('edge-proxy listening') ? true : undefined),
      20_000,
    );
    return { child, port, exited, stderr: () => stderr };
  }

  before(async () => {
    origin = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      originHits.set(path, (originHits.get(path) ?? 0) + 1);
      originMethods.set(path, req.method ?? '');
      const user = String(req.headers['x-user'] ?? '-');
      // Per-user answers, slow enough for concurrent misses to overlap.
      const personal: Record<string, () => void> = {
        '/session': () => {
          res.writeHead(200, { 'cache-control': 'public, max-age=60', 'set-cookie': `session=${user}` });
          res.end(`welcome ${user}`);
        },
        '/mine': () => {
          res.writeHead(200, { 'cache-control': 'private, max-age=60' });
          res.end(`account of ${user}`);
        },
        '/lang': () => {
          res.writeHead(200, { 'cache-control': 'public, max-age=60', vary: 'Accept-Language' });
          res.end(`page in ${req.headers['accept-language']}`);
        },
      };
      if (path === '/flaky') {
        if (flakyDown) res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
        else res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60' });
        res.end(flakyDown ? 'down for maintenance' : 'the good copy');
        return;
      }
      if (path === '/etag') {
        // Answers a conditional request with 304 and a range request with 206, slowly enough for
        // concurrent misses to share one fetch.
        setTimeout(() => {
          if (req.headers['if-none-match'] === '"v1"') {
            res.writeHead(304, { etag: '"v1"', 'cache-control': 'public, max-age=60' });
            res.end();
          } else if (req.headers.range !== undefined) {
            res.writeHead(206, { 'content-range': 'bytes 0-3/13', 'cache-control': 'public, max-age=60' });
            res.end('<p>e');
          } else {
            res.writeHead(200, { etag: '"v1"', 'cache-control': 'public, max-age=60' });
            res.end('<p>etag v1</p>');
          }
        }, 200);
        return;
      }
      if (path.startsWith('/unkeyed')) {
        // What a framework would build the page from besides the URL and Host.
        res.writeHead(200, { 'cache-control': 'public, max-age=60' });
        const h = req.headers;
        res.end(
          `host ${h['x-forwarded-host'] ?? '-'} proto ${h['x-forwarded-proto'] ?? '-'} url ${h['x-original-url'] ?? '-'} method ${h['x-http-method-override'] ?? '-'}`,
        );
        return;
      }
      if (path === '/host-echo') {
        // A page whose links are built from the Host, as most frameworks build absolute URLs.
        res.writeHead(200, { 'cache-control': 'public, max-age=60' });
        res.end(`<a href="http://${req.headers.host}/next">next</a>`);
        return;
      }
      if (path === '/reflect') {
        // A page reflecting its query string, as search and error pages do.
        res.writeHead(200, { 'cache-control': 'public, max-age=60' });
        res.end(`<p>you asked for ${decodeURIComponent((req.url ?? '').split('?')[1] ?? '')}</p>`);
        return;
      }
      if (path === '/sized') {
        res.writeHead(200, { 'content-length': '5' });
        res.end(req.method === 'HEAD' ? undefined : 'sized');
        return;
      }
      if (path === '/cut') {
        // The origin dies mid-body: 7 of the 100 bytes it announced.
        req.resume();
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 100);
        return;
      }
      if (path === '/hang') {
        // Answers only after 500 ms: a client may give up before.
        req.resume();
        setTimeout(() => res.end('late'), 500);
        return;
      }
      if (path === '/huge' || path === '/huge-sized') {
        // 9 MiB, past the proxy's 8 MiB buffer: chunked, or announced with its Content-Length.
        const size = 9 << 20;
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'cache-control': 'public, max-age=60',
          ...(path === '/huge-sized' ? { 'content-length': String(size) } : {}),
        });
        writeMiBs(res, size, () => res.end('!'));
        return;
      }
      if (path === '/late-huge') {
        // 32 MiB announced, after 300 ms (a client may have left by then); whether the answer was
        // cut short is kept.
        res.on('close', () => lateHugeClosed.push(res.writableFinished ? 'finished' : 'cut'));
        setTimeout(() => {
          res.writeHead(200, { 'content-length': String(32 << 20), 'cache-control': 'public, max-age=60' });
          writeMiBs(res, 32 << 20, () => res.end('!'));
        }, 300);
        return;
      }
      if (path === '/huge-stall') {
        // 9 MiB announced, all but the last byte sent, then nothing more.
        res.writeHead(200, { 'content-length': String(9 << 20) });
        writeMiBs(res, 9 << 20, () => undefined);
        return;
      }
      if (path === '/stalled') {
        // Headers and a first part now, the rest only after 3 s: longer than a short shutdown grace.
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part');
        setTimeout(() => res.end(', the rest'), 3000).unref();
        return;
      }
      if (path === '/slow') {
        // Headers now, the body over 600 ms: a response in flight when the proxy is told to stop.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first half, ');
        setTimeout(() => res.end('second half'), 600);
        return;
      }
      if (path === '/with-body') {
        // Read the whole request body before answering, as an application server does.
        let size = 0;
        req.on('data', (d: Buffer) => {
          size += d.length;
        });
        req.on('end', () => {
          res.writeHead(200, { 'cache-control': 'no-store' });
          res.end(`<p>${path} #${originHits.get(path)}</p> read ${size} bytes`);
        });
        return;
      }
      const answer = personal[path];
      if (answer !== undefined) {
        setTimeout(answer, path === '/lang' ? 0 : 300);
        return;
      }
      const cacheControl =
        path === '/swr'
          ? 'max-age=1, stale-while-revalidate=30'
          : path === '/account'
            ? 'private, max-age=60'
            : 'public, max-age=60';
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': cacheControl });
      res.end(`<p>${path} #${originHits.get(path)}</p>`);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    source = new InProcessSource();
    agent = new EdgeAgent({ source });
    await agent.start();
    accessLog = new AccessLogWriter(logPath);
    proxy = new EdgeProxy({
      agent,
      origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
      trustedProxies: ['127.0.0.1/32'],
      accessLog,
      throttle: { ratePerSecond: 1, burst: 3 },
    });
    base = await proxy.listen();
  });

  after(async () => {
    await proxy.close();
    await agent.stop();
    await accessLog.close();
    origin.closeAllConnections();
    await new Promise<void>((resolve) => origin.close(() => resolve()));
  });

  it('answers 403 to a blocked client, 429 to a challenged one, and serves everyone else', async () => {
    source.sink!.putDecision(decision('ip', '203.0.113.66', { action: 'block', reason: 'repetition' }));
    source.sink!.putDecision(
      decision('range', '198.51.100.0/24', { action: 'challenge', reason: 'repetition' }),
    );
    const blocked = await get('/news', '203.0.113.66');
    assert.equal(blocked.status, 403);
    assert.equal(blocked.headers.get('x-edgeguard-reason'), 'repetition');
    const challenged = await get('/news', '198.51.100.77');
    assert.equal(challenged.status, 429);
    assert.match(await challenged.text(), /One moment/);
    assert.equal((await get('/news', '192.0.2.10')).status, 200);
  });

  it("refuses a client whose decision's reason is not ASCII (an operator's free text) with its 403, not a 500", async () => {
    source.sink!.putDecision(
      decision('ip', '203.0.113.67', { action: 'block', reason: 'abuse — ticket 42 😀' }),
    );
    source.sink!.putDecision(
      decision('ip', '203.0.113.68', { action: 'challenge', reason: 'scraping 100%' }),
    );
    const blocked = await get('/news', '203.0.113.67');
    assert.equal(blocked.status, 403);
    assert.equal(blocked.headers.get('x-edgeguard-reason'), 'abuse %E2%80%94 ticket 42 %F0%9F%98%80');
    const challenged = await get('/news', '203.0.113.68');
    assert.equal(challenged.status, 429);
    assert.equal(challenged.headers.get('x-edgeguard-reason'), 'scraping 100%25');
    // At most 256 characters, and an encoded character is never cut in half.
    const long = `${'a'.repeat(255)}—`;
    source.sink!.putDecision(decision('ip', '203.0.113.69', { action: 'block', reason: long }));
    const cut = await get('/news', '203.0.113.69');
    assert.equal(cut.status, 403);
    assert.equal(cut.headers.get('x-edgeguard-reason'), 'a'.repeat(255));
    source.sink!.putDecision(decision('ip', '203.0.113.70', { action: 'block', reason: 'b'.repeat(300) }));
    assert.equal((await get('/news', '203.0.113.70')).headers.get('x-edgeguard-reason'), 'b'.repeat(256));
    await eventually('the refusals logged', () =>
      readFileSync(logPath, 'utf8').includes('203.0.113.67 - - ') ? true : undefined,
    );
  });

  it('resolves the client behind a trusted proxy: a spoofed leftmost X-Forwarded-For hop cannot frame a victim', async () => {
    // The blocked address written by the client itself, left of the hop our trusted proxy appended.
    const spoofed = await get('/news', '203.0.113.66, 192.0.2.11');
    assert.equal(spoofed.status, 200, 'the client is 192.0.2.11, not the address it claimed');
    const behind = await get('/news', '192.0.2.12, 203.0.113.66');
    assert.equal(behind.status, 403, 'the rightmost untrusted hop is the client');
  });

  it('blocks by fingerprint: the same one the detector computes from the logged user agent and language', async () => {
    const fingerprint = httpFingerprint({
      userAgent: 'swarm-bot/2.0',
      acceptLanguage: 'en',
      headerOrder: null,
    });
    source.sink!.putDecision(decision('fingerprint', fingerprint, { action: 'block', reason: 'repetition' }));
    const bot = { 'user-agent': 'swarm-bot/2.0', 'accept-language': 'en', 'x-forwarded-for': '192.0.2.99' };
    assert.equal((await fetch(`${base}/fp`, { headers: bot })).status, 403);
    const other = { ...bot, 'accept-language': 'de' };
    assert.equal((await fetch(`${base}/fp`, { headers: other })).status, 200, 'another fingerprint');
  });

  it('throttles a throttled client past its burst, with Retry-After', async () => {
    source.sink!.putDecision(decision('ip', '192.0.2.50', { action: 'throttle', reason: 'repetition' }));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(`/t${i}`, '192.0.2.50')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  });

  it('keys a busted path without its query once the agent has a cache-bust policy for it', async () => {
    const host = new URL(base).host;
    const before = [];
    for (const cb of ['a1', 'b2', 'c3'])
      before.push((await get(`/hot?cb=${cb}`, '192.0.2.20')).headers.get('x-cache'));
    assert.deepEqual(before, ['MISS', 'MISS', 'MISS'], 'every random query string misses');
    source.sink!.putPolicy(bustPolicy(host.split(':')[0]!, '/hot'));
    const after = [];
    for (const cb of ['d4', 'e5', 'f6', 'g7'])
      after.push((await get(`/hot?cb=${cb}`, '192.0.2.20')).headers.get('x-cache'));
    assert.deepEqual(
      after,
      ['MISS', 'HIT', 'HIT', 'HIT'],
      'one fetch, then hits despite random query strings',
    );
    assert.equal(originHits.get('/hot'), 4);
  });

  it("never hands a client another's 304 or 206: the shared origin fetch asks for the whole page", async () => {
    for (const [i, headers] of [{ 'if-none-match': '"v1"' }, { range: 'bytes=0-3' }].entries()) {
      const path = `/etag?round=${i}`;
      const [conditional, plain] = await Promise.all([
        get(path, '192.0.2.92', headers),
        sleep(50).then(() => get(path, '192.0.2.93')),
      ]);
      assert.equal(plain.status, 200, JSON.stringify(headers));
      assert.equal(await plain.text(), '<p>etag v1</p>');
      // The proxy does not revalidate for its clients: the conditional request gets the page too.
      assert.equal(conditional.status, 200);
      assert.equal(await conditional.text(), '<p>etag v1</p>');
    }
  });

  it('applies a cache-bust policy to every spelling of its path (percent-encoding, dot segments)', async () => {
    const host = new URL(base).host.split(':')[0]!;
    source.sink!.putPolicy(bustPolicy(host, '/spelled'));
    const statuses = [];
    for (const url of ['/spelled?cb=1', '/sp%65lled?cb=2', '/a/../spelled?cb=3'])
      statuses.push((await get(url, '192.0.2.94')).headers.get('x-cache'));
    assert.deepEqual(statuses, ['MISS', 'HIT', 'HIT']);
    assert.equal(originHits.get('/spelled'), 1, 'one origin fetch, for /spelled');
    // fetch() removes dot segments itself; raw clients need not. The proxy's normal form is the
    // detector's (content-watch names its policies by it): reserved escapes stay as written, case
    // included, and runs of slashes are one.
    assert.equal(normalizePath('/a/../x/%2e%2E/spelled'), '/spelled');
    assert.equal(normalizePath('/a/./b/..'), '/a/');
    assert.equal(normalizePath('/%7euser/%2fx%2F'), '/~user/%2fx%2F', 'reserved escapes stay as written');
    assert.equal(normalizePath('//double'), '/double');
  });

  it("matches a policy by the detector's path: `//hot?cb=…` cannot bypass the bust policy of /hot, a lower-case escape finds its own", async () => {
    const host = new URL(base).host.split(':')[0]!;
    source.sink!.putPolicy(bustPolicy(host, '/slashed'));
    // The detector merges slashes (nginx's merge_slashes): `//slashed` is the page it advised for.
    const statuses = [];
    for (const url of ['/slashed?cb=1', '//slashed?cb=2', '/slashed//?cb=3', '///slashed?cb=4'])
      statuses.push((await get(url, '192.0.2.97')).headers.get('x-cache'));
    assert.deepEqual(statuses, ['MISS', 'HIT', 'MISS', 'HIT'], '`/slashed/` is another path');
    assert.equal(originHits.get('/slashed'), 1);
    assert.equal(originHits.get('//slashed'), undefined, 'the stored fetch asks for the path its key names');
    // The detector keeps an escape's case (WordPress links its non-Latin slugs in lower case): the
    // policy it names `/caf%c3%a9` applies to that spelling, which the origin gets as sent.
    source.sink!.putPolicy(bustPolicy(host, '/caf%c3%a9'));
    const cafe = [];
    for (const cb of ['1', '2'])
      cafe.push((await get(`/caf%c3%a9?cb=${cb}`, '192.0.2.97')).headers.get('x-cache'));
    assert.deepEqual(cafe, ['MISS', 'HIT']);
    assert.equal(originHits.get('/caf%c3%a9'), 1);
  });

  it('reads an absolute-form target as the detector does (its path finds the policy) and refuses one naming another host', async () => {
    const { host, hostname } = new URL(base);
    source.sink!.putPolicy(bustPolicy(hostname, '/absolute'));
    const headers = { host, 'user-agent': BROWSER, 'x-forwarded-for': '192.0.2.98' };
    const statuses = [];
    for (const target of [
      '/absolute?cb=1',
      `http://${host}/absolute?cb=2`,
      `HTTP://${hostname}//absolute?cb=3`,
    ])
      statuses.push((await raw(target, headers)).headers['x-cache']);
    assert.deepEqual(statuses, ['MISS', 'HIT', 'HIT'], 'the bust policy of /absolute applies to every form');
    assert.equal(originHits.get('/absolute'), 1);
    // The origin would answer for the target's host (RFC 9112 §3.2.2), stored under Host's.
    for (const target of [
      'http://other.example/absolute?cb=4',
      'http:///absolute',
      `http://user@${host}/absolute`,
    ])
      assert.equal((await raw(target, headers)).status, 400, target);
    assert.equal(originHits.get('/absolute'), 1, 'the origin was not asked');
    assert.ok(![...originHits.keys()].some((path) => path.includes('other.example')));
  });

  it('never lets a query parameter the cache key drops shape the stored page (cache poisoning)', async () => {
    const host = new URL(base).host.split(':')[0]!;
    source.sink!.putPolicy(bustPolicy(host, '/reflect'));
    const attacker = await get('/reflect?cb=<script>alert(1)</script>', '192.0.2.90');
    assert.doesNotMatch(await attacker.text(), /script/, 'the origin was asked for the keyed URL');
    const victim = await get('/reflect?cb=42', '192.0.2.91');
    assert.equal(victim.headers.get('x-cache'), 'HIT');
    assert.equal(await victim.text(), '<p>you asked for </p>');
  });

  it('refuses a Host that is not a host name: it would key one page under another', async () => {
    const ask = (host: string, path: string) => raw(path, { host, 'x-forwarded-for': '192.0.2.92' });
    // `shop.example/account` + `/login` would share the key of `shop.example` + `/account/login`.
    const hits = originHits.get('/login') ?? 0;
    assert.equal((await ask('shop.example/account', '/login')).status, 400);
    assert.equal(originHits.get('/login') ?? 0, hits, 'the origin was not asked');
    assert.equal((await ask('shop.example?x', '/')).status, 400);
    assert.equal((await ask('shop.example', '/account/login')).status, 200);
    assert.equal((await ask('[2001:db8::1]:8080', '/account/login')).status, 200);
  });

  it("fetches what it stores with the key's host: a port in one client's Host never shapes the page stored for all", async () => {
    const { host, hostname } = new URL(base);
    const poisoner = await raw('/host-echo', { host: `${hostname}:1`, 'x-forwarded-for': '192.0.2.99' });
    assert.equal(poisoner.headers['x-cache'], 'MISS');
    const victim = await raw('/host-echo', { host, 'x-forwarded-for': '192.0.2.100' });
    assert.equal(victim.headers['x-cache'], 'HIT');
    assert.equal(victim.body, `<a href="http://${hostname}/next">next</a>`);
    assert.equal(poisoner.body, victim.body);
  });

  it('never passes a header naming another host, URL or method to a fetch it may store (unkeyed headers)', async () => {
    // No trusted proxies: the peer is the client.
    const plain = new EdgeProxy({
      agent,
      origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
    });
    const url = await plain.listen();
    try {
      const poisoner = await fetch(`${url}/unkeyed`, {
        headers: {
          'user-agent': BROWSER,
          'x-forwarded-host': 'evil.example',
          'x-forwarded-proto': 'gopher',
          'x-original-url': '/admin',
          'x-http-method-override': 'DELETE',
        },
      });
      assert.equal(poisoner.headers.get('x-cache'), 'MISS');
      assert.equal(await poisoner.text(), 'host - proto - url - method -');
      const victim = await fetch(`${url}/unkeyed`, { headers: { 'user-agent': BROWSER } });
      assert.equal(victim.headers.get('x-cache'), 'HIT');
      assert.equal(await victim.text(), 'host - proto - url - method -');
    } finally {
      await plain.close(100);
    }
    // A trusted proxy's forwarded host and scheme are its own, passed on; a rewrite never is.
    const behind = await get('/unkeyed-trusted', '192.0.2.102', {
      'x-forwarded-host': 'shop.example',
      'x-forwarded-proto': 'https',
      'x-original-url': '/admin',
    });
    assert.equal(await behind.text(), 'host shop.example proto https url - method -');
  });

  it('keys the cache and finds the policy by the normalised host: any case, any port spelling', async () => {
    source.sink!.putPolicy(bustPolicy('shop.example', '/site'));
    const statuses = [];
    for (const [i, host] of ['SHOP.Example:80', 'shop.example', 'Shop.EXAMPLE:8080'].entries())
      statuses.push(
        (await raw(`/site?cb=${i}`, { host, 'x-forwarded-for': '192.0.2.95' })).headers['x-cache'],
      );
    assert.deepEqual(statuses, ['MISS', 'HIT', 'HIT'], "one entry, under the bust policy of nginx's $host");
    assert.equal(originHits.get('/site'), 1);
  });

  it('answers a HEAD from a fresh stored GET, and sends a HEAD miss to the origin as a HEAD, storing nothing', async () => {
    const page = await get('/headed', '192.0.2.96');
    assert.equal(page.headers.get('x-cache'), 'MISS');
    const body = await page.text();
    const head = await raw('/headed', { host: new URL(base).host, 'x-forwarded-for': '192.0.2.96' }, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['x-cache'], 'HIT');
    assert.equal(head.headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(head.headers['content-type'], 'text/html');
    assert.equal(head.body, '');
    assert.equal(originHits.get('/headed'), 1, 'the HEAD did not reach the origin');
    // A miss: the origin is asked with HEAD, and its empty answer is not stored as the page. It is
    // a MISS (the cache was asked, the origin answered), not a BYPASS: content-watch counts a
    // BYPASS as a page no cache could serve.
    const misses = proxy.stats().misses;
    const miss = await raw(
      '/unheaded',
      { host: new URL(base).host, 'x-forwarded-for': '192.0.2.96' },
      'HEAD',
    );
    assert.equal(miss.status, 200);
    assert.equal(miss.body, '');
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.equal(proxy.stats().misses, misses + 1);
    assert.equal(originMethods.get('/unheaded'), 'HEAD');
    await eventually('the HEAD miss logged', () =>
      /"HEAD \/unheaded HTTP\/1.1" 200 0 .* MISS "/.test(readFileSync(logPath, 'utf8')) ? true : undefined,
    );
    const after = await get('/unheaded', '192.0.2.96');
    assert.equal(after.headers.get('x-cache'), 'MISS');
    assert.equal(await after.text(), '<p>/unheaded #2</p>');
    assert.equal(originMethods.get('/unheaded'), 'GET');
  });

  it('logs a client that gives up before the answer as 499, not as an origin error', async () => {
    const before = proxy.stats().originErrors;
    // A POST goes straight through (BYPASS); /hang answers after 500 ms.
    await assert.rejects(
      fetch(`${base}/hang`, {
        method: 'POST',
        body: 'x',
        headers: { 'x-forwarded-for': '192.0.2.93' },
        signal: AbortSignal.timeout(100),
      }),
    );
    await eventually('the abandoned request logged', () =>
      readFileSync(logPath, 'utf8').includes('"POST /hang HTTP/1.1" 499 ') ? true : undefined,
    );
    assert.equal(proxy.stats().originErrors, before);
    // A cached GET's miss likewise (/etag answers after 200 ms): 499, not the 200 it never got.
    await assert.rejects(get('/etag?gone=1', '192.0.2.93', {}, AbortSignal.timeout(50)));
    await eventually(
      'the abandoned miss logged',
      () => (readFileSync(logPath, 'utf8').includes('"GET /etag?gone=1 HTTP/1.1" 499 0 ') ? true : undefined),
      5_000,
    );
    assert.equal(
      (await get('/etag?gone=1', '192.0.2.93')).headers.get('x-cache'),
      'HIT',
      'its fetch was stored',
    );
  });

  it("never shares someone's page: private responses and answers to requests with a cookie are not stored", async () => {
    const host = new URL(base).host.split(':')[0]!;
    // A policy with a TTL must not override the origin's `private`.
    source.sink!.putPolicy({ ...bustPolicy(host, '/account'), ttlSeconds: 60, cacheKey: { kind: 'keep' } });
    const account = [];
    for (const client of ['192.0.2.31', '192.0.2.32'])
      account.push((await get('/account', client, { cookie: `session=${client}` })).headers.get('x-cache'));
    account.push((await get('/account', '192.0.2.33')).headers.get('x-cache'));
    assert.deepEqual(account, ['MISS', 'MISS', 'MISS']);
    assert.equal(originHits.get('/account'), 3);
    // A public page fetched for a request with a cookie is not stored either: the next client misses.
    const profile = [];
    profile.push((await get('/profile', '192.0.2.34', { cookie: 'session=x' })).headers.get('x-cache'));
    profile.push((await get('/profile', '192.0.2.35')).headers.get('x-cache'));
    profile.push((await get('/profile', '192.0.2.36', { cookie: 'session=y' })).headers.get('x-cache'));
    assert.deepEqual(
      profile,
      ['MISS', 'MISS', 'HIT'],
      'a stored public copy may serve a request with a cookie',
    );
    assert.equal(originHits.get('/profile'), 2);
  });

  it("never hands one client's answer to another: concurrent misses of private or cookie-setting pages fetch on their own", async () => {
    for (const path of ['/session', '/mine']) {
      const [alice, bob] = await Promise.all([
        get(path, '192.0.2.41', { 'x-user': 'alice' }),
        sleep(50).then(() => get(path, '192.0.2.42', { 'x-user': 'bob' })),
      ]);
      assert.equal(await alice.text(), path === '/session' ? 'welcome alice' : 'account of alice');
      assert.equal(await bob.text(), path === '/session' ? 'welcome bob' : 'account of bob', path);
      if (path === '/session') assert.equal(bob.headers.get('set-cookie'), 'session=bob');
      assert.equal(originHits.get(path), 2, `${path}: each client asked the origin`);
    }
  });

  it('honours Vary: a stored variant answers only requests sending the same header values', async () => {
    const lang = async (language: string) => {
      const response = await get('/lang', '192.0.2.43', { 'accept-language': language });
      return `${response.headers.get('x-cache')} ${await response.text()}`;
    };
    assert.equal(await lang('fr'), 'MISS page in fr');
    assert.equal(await lang('fr'), 'HIT page in fr');
    assert.equal(await lang('de'), 'MISS page in de', 'not the French copy');
    assert.equal(await lang('de'), 'HIT page in de');
    // Concurrent misses in different languages do not share one answer either.
    const [es, it] = await Promise.all([lang('es'), lang('it')]);
    assert.match(es, /page in es$/);
    assert.match(it, /page in it$/);
  });

  it('keeps a few Vary variants per key: clients alternating languages hit, the oldest variant is replaced', async () => {
    const lang = async (language: string) => {
      const response = await get('/lang?alternate', '192.0.2.44', { 'accept-language': language });
      assert.equal(await response.text(), `page in ${language}`);
      return response.headers.get('x-cache');
    };
    const statuses = [];
    for (const language of ['fr', 'de', 'fr', 'de', 'es', 'it', 'pt', 'fr', 'es'])
      statuses.push(await lang(language));
    // Four variants at most: pt replaces fr (the oldest), fr then replaces de; es is still held.
    assert.deepEqual(statuses, ['MISS', 'MISS', 'HIT', 'HIT', 'MISS', 'MISS', 'MISS', 'MISS', 'HIT']);
  });

  it('counts every variant against the cache bounds (entries and bytes)', async () => {
    // Each variant: a 10-byte body + a 22-character key + 512 bytes of overhead.
    for (const [cache, held] of [
      [{ maxEntries: 3 }, 3],
      [{ maxBytes: 1200 }, 2],
    ] as const) {
      const small = new EdgeProxy({
        agent,
        origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
        cache,
      });
      const url = `${await small.listen()}/lang?bounded`;
      try {
        const statuses = [];
        for (const language of ['fr', 'de', 'es', 'it', 'it'])
          statuses.push(
            (await fetch(url, { headers: { 'accept-language': language } })).headers.get('x-cache'),
          );
        assert.deepEqual(statuses, ['MISS', 'MISS', 'MISS', 'MISS', 'HIT'], JSON.stringify(cache));
        assert.equal(small.stats().cachedResponses, held, JSON.stringify(cache));
        const first = await fetch(url, { headers: { 'accept-language': 'fr' } });
        assert.equal(first.headers.get('x-cache'), 'MISS', 'the least recently used variant was evicted');
      } finally {
        await small.close();
      }
    }
  });

  it('serves stale while one background request revalidates (stale-while-revalidate)', async () => {
    assert.equal((await get('/swr', '192.0.2.30')).headers.get('x-cache'), 'MISS');
    assert.equal((await get('/swr', '192.0.2.30')).headers.get('x-cache'), 'HIT');
    await sleep(1100);
    const stale = await get('/swr', '192.0.2.30');
    assert.equal(stale.headers.get('x-cache'), 'UPDATING');
    assert.match(await stale.text(), /#1/);
    // Until the one background fetch has stored the new copy, requests keep getting the stale one.
    const fresh = await eventually(
      'the revalidated copy',
      async () => {
        const response = await get('/swr', '192.0.2.30');
        const body = await response.text();
        return response.headers.get('x-cache') === 'HIT' ? body : undefined;
      },
      10_000,
    );
    assert.match(fresh, /#2/);
    assert.equal(originHits.get('/swr'), 2, 'one background fetch, however many stale answers');
  });

  it('serves the stale copy when the origin answers 503 as when it cannot be reached (stale-if-error)', async () => {
    const flaky = async () => {
      const response = await get('/flaky', '192.0.2.80');
      return `${response.status} ${response.headers.get('x-cache')} ${await response.text()}`;
    };
    assert.equal(await flaky(), '200 MISS the good copy');
    await sleep(1100);
    flakyDown = true;
    try {
      assert.equal(await flaky(), '200 STALE the good copy');
    } finally {
      flakyDown = false;
    }
    assert.equal(await flaky(), '200 EXPIRED the good copy', 'back: fetched and stored again');
  });

  it('fetches a GET that carries a body without announcing a body it does not send to the origin', async () => {
    // The origin reads request bodies: a Content-Length with no body would leave it waiting.
    const answer = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        `${base}/with-body`,
        {
          method: 'GET',
          headers: { 'content-length': '5', 'x-forwarded-for': '192.0.2.81' },
          timeout: 5000,
        },
        (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        },
      );
      req.on('timeout', () => req.destroy(new Error('the proxy did not answer in 5 s')));
      req.on('error', reject);
      req.end('hello');
    });
    assert.equal(answer, '200 <p>/with-body #1</p> read 0 bytes');
  });

  it('passes a streamed response through with its length, and cuts it when the origin does (no hanging client)', async () => {
    const head = await fetch(`${base}/sized`, {
      method: 'HEAD',
      headers: { 'x-forwarded-for': '192.0.2.70' },
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('x-cache'), 'MISS', 'a HEAD miss');
    assert.equal(head.headers.get('content-length'), '5', 'the length a GET gets');
    const cut = await fetch(`${base}/cut`, {
      method: 'POST',
      body: 'x',
      headers: { 'x-forwarded-for': '192.0.2.71' },
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(cut.status, 200);
    await assert.rejects(cut.text(), (error: Error) => {
      assert.doesNotMatch(
        String((error as { cause?: unknown }).cause ?? error),
        /TimeoutError|aborted due to timeout/,
      );
      return true;
    });
    await eventually('the cut request logged', () =>
      readFileSync(logPath, 'utf8').includes('"POST /cut HTTP/1.1" 200 7 ') ? true : undefined,
    );
  });

  it('streams a GET response too large to buffer (over 8 MiB) through uncached, never a 502', async () => {
    const before = proxy.stats();
    for (const path of ['/huge', '/huge-sized']) {
      // Two at once: the second may join the first's fetch, which it cannot share (a stream).
      const responses = await Promise.all(['192.0.2.40', '192.0.2.41'].map((client) => get(path, client)));
      for (const response of responses) {
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get('x-cache'), 'MISS', path);
        if (path === '/huge-sized') assert.equal(response.headers.get('content-length'), String(9 << 20));
        const body = Buffer.from(await response.arrayBuffer());
        assert.equal(body.length, 9 << 20, path);
        assert.equal(body.subarray(-2).toString(), 'x!', `${path}: the whole body, in order`);
      }
      const again = await get(path, '192.0.2.42');
      assert.equal(again.headers.get('x-cache'), 'MISS', `${path} was not stored`);
      assert.equal((await again.arrayBuffer()).byteLength, 9 << 20);
      assert.equal(originHits.get(path), 3, `${path}: every request asked the origin`);
    }
    const stats = proxy.stats();
    assert.equal(stats.tooLarge - before.tooLarge, 6);
    assert.equal(stats.misses - before.misses, 6);
    assert.equal(stats.originErrors, before.originErrors);
    await eventually('the streamed responses logged', () =>
      readFileSync(logPath, 'utf8').match(/"GET \/huge(-sized)? HTTP\/1.1" 200 9437184 .* MISS "/g)
        ?.length === 6
        ? true
        : undefined,
    );
  });

  it('drops the origin answer too large to buffer for a client that left while it was asked: 499, no origin error', async () => {
    const before = proxy.stats().originErrors;
    const abandoned = httpRequest({
      port: new URL(base).port,
      path: '/late-huge',
      headers: { 'user-agent': BROWSER, 'x-forwarded-for': '192.0.2.43' },
    });
    abandoned.on('error', () => undefined);
    abandoned.end();
    await sleep(100);
    abandoned.destroy();
    // The origin answers at 300 ms; the proxy's origin timeout (10 s) must not be what ends it.
    await eventually('the origin answer dropped', () => (lateHugeClosed.length > 0 ? true : undefined), 3000);
    assert.deepEqual(lateHugeClosed, ['cut']);
    await eventually('the abandoned request logged', () =>
      readFileSync(logPath, 'utf8').includes('"GET /late-huge HTTP/1.1" 499 0 ') ? true : undefined,
    );
    assert.equal(proxy.stats().originErrors, before, 'the client left: not an origin error');
  });

  it('streams to a client slower than the origin timeout without cutting it, and still cuts an origin that stalls', async () => {
    // The origin timeout is for the origin: a client that stops reading for a while (a paused
    // download) holds the stream up, and the origin's socket idles meanwhile.
    const slow = new EdgeProxy({
      agent,
      origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
      originTimeoutMs: 300,
    });
    const url = await slow.listen();
    try {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = httpRequest(`${url}/huge`, { headers: { 'user-agent': BROWSER } }, (res) => {
          const chunks: Buffer[] = [];
          res.once('data', () => {
            res.pause();
            setTimeout(() => res.resume(), 1000);
          });
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(body.length, 9 << 20, 'the whole body');
      assert.equal(body.subarray(-2).toString(), 'x!');
      assert.equal(slow.stats().originErrors, 0);
      // An origin that stops sending while the client reads is still cut after the timeout.
      const stalled = await fetch(`${url}/huge-stall`, { signal: AbortSignal.timeout(5000) });
      assert.equal(stalled.status, 200);
      await assert.rejects(stalled.arrayBuffer(), (error: Error) => {
        assert.doesNotMatch(String((error as { cause?: unknown }).cause ?? error), /TimeoutError|timeout/);
        return true;
      });
      assert.equal(slow.stats().originErrors, 1);
    } finally {
      await slow.close(100);
    }
  });

  it('cuts a client that takes nothing for the send timeout: it cannot hold an origin connection for good', async () => {
    const stuck = new EdgeProxy({
      agent,
      origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
      originTimeoutMs: 2000,
      sendTimeoutMs: 1000,
    });
    const url = await stuck.listen();
    const answers = lateHugeClosed.length;
    // Reads nothing (32 MiB on the way): the body waits in the proxy and the kernel's buffers.
    const req = httpRequest(`${url}/late-huge`, { headers: { 'user-agent': BROWSER } }, (res) => res.pause());
    req.on('error', () => undefined);
    req.end();
    try {
      await eventually(
        'the origin answer cut',
        () => (lateHugeClosed.length > answers ? true : undefined),
        10_000,
      );
      assert.deepEqual(lateHugeClosed.slice(answers), ['cut']);
      assert.equal(stuck.stats().originErrors, 0, "the client's doing, not the origin's");
    } finally {
      req.destroy();
      await stuck.close(100);
    }
  });

  it('runs as a command: serves through the origin under its cold-start policy while Kafka has no topics yet', async () => {
    const { child, port, exited, stderr } = await runCommand('cli', ['--cold-start', 'open']);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/cli`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-cache'), 'MISS');
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr());
    }
    const usage = spawnSync(process.execPath, [proxyMain, '--port', '1'], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--origin is required/);
  });

  it('refuses bad flags with a usage error (exit 2) naming the flag, never a stack trace', async () => {
    const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    const source = ['--kafka', '127.0.0.1:9092'];
    // args, the message, and the environment the command runs with
    type Case = [string[], RegExp, Record<string, string>?];
    const cases: Case[] = [
      [['--origin', originUrl, ...source, '--bogus'], /Unknown option '--bogus'/],
      [['--origin', originUrl, ...source, 'stray'], /Unexpected argument 'stray'/],
      [['--origin', 'notaurl', ...source], /--origin must be an http:\/\/ URL/],
      [['--origin', 'https://origin.example', ...source], /--origin must be an http:\/\/ URL/],
      [['--origin', originUrl, '--api', 'notaurl', '--api-key', 'k'], /--api must be an http/],
      [['--origin', originUrl, ...source, '--cache-mb', 'abc'], /--cache-mb must be a positive number/],
      [['--origin', originUrl, ...source, '--cache-mb', '0'], /--cache-mb must be a positive number/],
      [
        ['--origin', originUrl, ...source, '--trusted-proxies', 'bogus'],
        /--trusted-proxies: "bogus" is not a CIDR/,
      ],
      [['--origin', originUrl, ...source, '--port', ''], /--port must be a port number/],
      ...['abc', '0', '-1', '1.5', '1e3', '2147483648', ''].map(
        (grace): Case => [
          ['--origin', originUrl, ...source, `--shutdown-grace-ms=${grace}`],
          /--shutdown-grace-ms \(or EDGE_PROXY_SHUTDOWN_GRACE_MS\) must be a whole number of milliseconds/,
        ],
      ),
      [
        ['--origin', originUrl, ...source],
        /--shutdown-grace-ms \(or EDGE_PROXY_SHUTDOWN_GRACE_MS\) must be .*, got "soon"/,
        { EDGE_PROXY_SHUTDOWN_GRACE_MS: 'soon' },
      ],
    ];
    for (const [args, message, env] of cases) {
      const run = spawnSync(process.execPath, [proxyMain, ...args], {
        encoding: 'utf8',
        timeout: 10_000,
        env: { ...process.env, ...env },
      });
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.doesNotMatch(run.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
    }
    // A port in use: a one-line error and exit 1.
    const busy = (origin.address() as AddressInfo).port;
    const run = spawnSync(
      process.execPath,
      [
        proxyMain,
        '--origin',
        originUrl,
        '--api',
        'http://127.0.0.1:9',
        '--api-key',
        'k',
        '--port',
        String(busy),
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /cannot listen on 127\.0\.0\.1 port \d+: .*EADDRINUSE/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });

  it('reopens its access log on SIGHUP, for logrotate', async () => {
    const log = join(work, 'rotate.log');
    const { child, port, exited, stderr } = await runCommand('hup', ['--access-log', log]);
    try {
      await (await fetch(`http://127.0.0.1:${port}/before-rotation`)).text();
      await eventually('the first line', () =>
        existsSync(log) && readFileSync(log, 'utf8') !== '' ? true : undefined,
      );
      renameSync(log, `${log}.1`);
      child.kill('SIGHUP');
      await eventually('the new file', () => (existsSync(log) ? true : undefined));
      await (await fetch(`http://127.0.0.1:${port}/after-rotation`)).text();
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr());
    } finally {
      child.kill('SIGKILL');
    }
    assert.match(
      readFileSync(`${log}.1`, 'utf8'),
      /^\S+ - - \[[^\]]+\] "GET \/before-rotation HTTP\/1.1" 200 [^\n]*\n$/,
    );
    assert.match(
      readFileSync(log, 'utf8'),
      /^\S+ - - \[[^\]]+\] "GET \/after-rotation HTTP\/1.1" 200 [^\n]*\n$/,
    );
  });

  it('on SIGTERM finishes the requests in flight, writes their access-log lines and exits 0', async () => {
    const log = join(work, 'sigterm.log');
    // An empty EDGE_PROXY_SHUTDOWN_GRACE_MS is unset (as every EDGEGUARD_* number): the default grace.
    const { child, port, exited, stderr } = await runCommand('term', ['--access-log', log], {
      EDGE_PROXY_SHUTDOWN_GRACE_MS: '',
    });
    try {
      // A keep-alive client with one idle connection and one request in flight (POST: streamed).
      const slow = fetch(`http://127.0.0.1:${port}/slow`, { method: 'POST', body: 'x' });
      const inFlight = fetch(`http://127.0.0.1:${port}/slow`);
      await sleep(200);
      child.kill('SIGTERM');
      const [a, b] = await Promise.all([slow, inFlight]);
      assert.equal(await a.text(), 'first half, second half');
      assert.equal(await b.text(), 'first half, second half');
      assert.equal(await exited, 0, stderr());
    } finally {
      child.kill('SIGKILL');
    }
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2, 'both requests logged');
    assert.ok(lines.some((line) => line.includes('"POST /slow HTTP/1.1" 200 ')));
    assert.ok(lines.some((line) => line.includes('"GET /slow HTTP/1.1" 200 ')));
  });

  it('cuts the requests still in flight after --shutdown-grace-ms, then exits 0', async () => {
    const log = join(work, 'grace.log');
    const { child, port, exited, stderr } = await runCommand('grace', [
      '--access-log',
      log,
      '--shutdown-grace-ms',
      '100',
    ]);
    try {
      // Streamed (POST): its headers and first part are through; the rest comes after 3 s.
      const stalled = await fetch(`http://127.0.0.1:${port}/stalled`, { method: 'POST', body: 'x' });
      assert.equal(stalled.status, 200);
      child.kill('SIGTERM');
      await assert.rejects(stalled.text(), 'cut after the grace, not finished');
      assert.equal(await exited, 0, stderr());
    } finally {
      child.kill('SIGKILL');
    }
    assert.match(readFileSync(log, 'utf8'), /"POST \/stalled HTTP\/1.1" 200 10 /, 'logged with what it got');
  });

  it('writes an access log the shipper parses back: client, status, host, cache status, language', async () => {
    await eventually('the access log written out', () =>
      readFileSync(logPath, 'utf8').trim().split('\n').length === accessLog.written ? true : undefined,
    );
    const parser = createParser(`nginx:${ACCESS_LOG_FORMAT}`);
    const lines = readFileSync(logPath, 'utf8').trim().split('\n');
    const records = lines.map((line) => parser.parse(line));
    for (const [i, record] of records.entries())
      assert.ok(!isBadInput(record), `line ${i + 1} rejected: ${lines[i]}`);
    const parsed = records as AccessLog[];
    const blocked = parsed.find((r) => r.clientAddress === '203.0.113.66' && r.status === 403);
    assert.ok(blocked, 'the blocked request is logged with its client and status');
    const hit = parsed.find((r) => r.path === '/hot' && r.cacheStatus === 'HIT');
    assert.ok(hit);
    assert.match(hit.query ?? '', /^cb=/, 'the query is logged as sent');
    assert.equal(hit.acceptLanguage, 'en-US,en;q=0.9');
    assert.equal(hit.host, new URL(base).hostname);
    assert.equal(hit.userAgent, BROWSER);
    assert.ok(parsed.some((r) => r.cacheStatus === 'MISS' && r.originDurationMs !== null));
  });
});
