// Methods: a known path asked with a method it does not take is 405 with an Allow header (RFC 9110
// §15.5.6), an unknown path stays 404, and HEAD answers wherever GET does (§9.3.2) — without
// opening an event stream or scanning the store for a body nobody gets.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { decision } from './support/decision.js';
import { startServer, type TestServer } from './support/server.js';

/** Every route and the methods it takes; checked against /openapi.json so none is forgotten. */
const ROUTES: Record<string, string[]> = {
  '/healthz': ['GET', 'HEAD'],
  '/readyz': ['GET', 'HEAD'],
  '/metrics': ['GET', 'HEAD'],
  '/openapi.json': ['GET', 'HEAD'],
  '/v1/decisions': ['GET', 'HEAD'],
  '/v1/decisions/stream': ['GET', 'HEAD'],
  '/api/blocklist': ['GET', 'HEAD'],
  '/api/blocklist/changes': ['GET', 'HEAD'],
  '/api/blocklist/events': ['GET', 'HEAD'],
  '/api/cache-policies': ['GET', 'HEAD'],
  '/api/cache-policies/changes': ['GET', 'HEAD'],
  '/api/cache-policies/events': ['GET', 'HEAD'],
  '/api/explain': ['GET', 'HEAD'],
  '/api/decisions': ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST'],
  '/api/allowlist': ['DELETE', 'GET', 'HEAD', 'POST'],
  '/api/blocklist/summary': ['GET', 'HEAD'],
  '/dashboard': ['GET', 'HEAD'],
  '/dashboard/dashboard.js': ['GET', 'HEAD'],
  '/dashboard/dashboard.css': ['GET', 'HEAD'],
};

/** A GET for each route that answers 200 with an admin key. */
const GOOD_GETS = [
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/v1/decisions?ip=192.0.2.1',
  '/v1/decisions',
  '/api/blocklist',
  '/api/blocklist/changes?since=0',
  '/api/cache-policies',
  '/api/cache-policies/changes?since=0',
  '/api/explain?ip=192.0.2.1',
  '/api/decisions',
  '/api/allowlist',
  '/api/blocklist/summary',
  '/dashboard',
  '/dashboard/dashboard.js',
  '/dashboard/dashboard.css',
];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own connection, read to its end (a HEAD that left a stream open times out). */
function send(
  server: TestServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${server.url}${path}`,
      { method, headers: { connection: 'close', ...headers }, agent: false, timeout: 5_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no end within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

describe('methods', { timeout: 60_000 }, () => {
  let server: TestServer;
  let admin: string;

  before(async () => {
    server = await startServer();
    admin = (await server.keys.create('ops', 'admin')).key;
    await server.store.put(decision('ip', '192.0.2.1'));
  });
  after(() => server.close());

  it('lists every documented route in this table', async () => {
    const document = JSON.parse((await send(server, 'GET', '/openapi.json')).body) as {
      paths: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(Object.keys(document.paths).sort(), Object.keys(ROUTES).sort());
    for (const [path, operations] of Object.entries(document.paths))
      assert.deepEqual(
        Object.keys(operations)
          .map((method) => method.toUpperCase())
          .sort(),
        ROUTES[path],
        `${path}: documented with HEAD where it has GET`,
      );
  });

  it('answers a wrong method on a known path 405 with Allow and the API error body, with or without a key', async () => {
    for (const [path, methods] of Object.entries(ROUTES)) {
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        if (methods.includes(method)) continue;
        for (const headers of [{}, { 'x-api-key': admin }]) {
          const answer = await send(server, method, `${path}?since=1`, headers);
          assert.equal(answer.status, 405, `${method} ${path}: ${answer.body}`);
          assert.deepEqual(String(answer.headers.allow).split(', ').sort(), methods, `${method} ${path}`);
          assert.match(String(answer.headers['content-type']), /^application\/json/);
          assert.deepEqual(JSON.parse(answer.body), {
            error: 'method-not-allowed',
            message: `${method} is not a method of ${path}: use ${answer.headers.allow}`,
          });
        }
      }
    }
    const metrics = await send(server, 'GET', '/metrics', { 'x-api-key': admin });
    assert.match(metrics.body, /edgeguard_api_rejected_total\{reason="method-not-allowed"[^}]*\} [1-9]/);
  });

  it('keeps 404 for unknown paths, whatever the method', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/api/nope'],
      ['DELETE', '/healthz/'],
      ['HEAD', '/api/blocklist/x'],
    ] as const) {
      const answer = await send(server, method, path);
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.equal(answer.headers.allow, undefined);
      if (method !== 'HEAD')
        assert.deepEqual(JSON.parse(answer.body), {
          error: 'not-found',
          message: `no route ${method} ${path}`,
        });
    }
  });

  it('answers HEAD wherever GET answers: same status and type, no body', async () => {
    for (const path of GOOD_GETS) {
      const get = await send(server, 'GET', path, { 'x-api-key': admin });
      const head = await send(server, 'HEAD', path, { 'x-api-key': admin });
      assert.equal(get.status, 200, `GET ${path}: ${get.body}`);
      assert.equal(head.status, 200, `HEAD ${path}`);
      assert.equal(head.body, '', `HEAD ${path}`);
      const mediaType = (answer: Answer) => String(answer.headers['content-type']).split(';')[0];
      assert.equal(mediaType(head), mediaType(get), `HEAD ${path}`);
      const length = head.headers['content-length'];
      // (/metrics changes between the two: it counts them)
      if (length !== undefined && path !== '/metrics')
        assert.equal(Number(length), Buffer.byteLength(get.body), `HEAD ${path}`);
    }
    // Errors too: a missing key, a bad query.
    assert.equal((await send(server, 'HEAD', '/api/blocklist')).status, 401);
    assert.equal((await send(server, 'HEAD', '/api/blocklist/changes', { 'x-api-key': admin })).status, 400);
  });

  it('answers HEAD on the blocklist snapshot with its ETag (and 304), reading no decision', async () => {
    const get = await send(server, 'GET', '/api/blocklist', { 'x-api-key': admin });
    assert.equal(get.body.trimEnd().split('\n').length, 2, 'a header line and the decision');
    const head = await send(server, 'HEAD', '/api/blocklist', { 'x-api-key': admin });
    assert.equal(head.headers.etag, get.headers.etag);
    assert.equal(head.headers['content-length'], undefined, 'no length: the body is not built');
    const notModified = await send(server, 'HEAD', '/api/blocklist', {
      'x-api-key': admin,
      'if-none-match': String(get.headers.etag),
    });
    assert.equal(notModified.status, 304);
  });

  it('answers HEAD on the event streams with their headers and holds no stream', async () => {
    for (const path of ['/api/blocklist/events', '/api/cache-policies/events']) {
      const head = await send(server, 'HEAD', path, { 'x-api-key': admin });
      assert.equal(head.status, 200, path);
      assert.equal(head.headers['content-type'], 'text/event-stream; charset=utf-8', path);
      assert.equal(head.body, '');
      assert.equal(server.hub.size, 0, `${path}: no stream open after HEAD`);
      const badId = await send(server, 'HEAD', path, { 'x-api-key': admin, 'last-event-id': 'x' });
      assert.equal(badId.status, 400, 'checked as GET checks it');
    }
  });

  it('answers HEAD on an event stream 503 when GET would be refused for the stream cap', async () => {
    const full = await startServer({ hub: { max: 0 } });
    try {
      const key = (await full.keys.create('edge', 'bouncer')).key;
      const head = await send(full, 'HEAD', '/api/blocklist/events', { 'x-api-key': key });
      assert.equal(head.status, 503);
      assert.equal(head.headers['retry-after'], '5');
    } finally {
      await full.close();
    }
  });
});
