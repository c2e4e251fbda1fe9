// The error contract: every error the API answers, including those answered before a route runs
// (content type, header size), is {"error": "<code>", "message": "<what was expected>"}.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { startServer, type TestServer } from './support/server.js';

// biome-ignore lint/suspicious/noExplicitAny: error bodies, checked field by field
type Body = any;

/** One raw HTTP/1.1 request: status, headers text and body, as the socket got them. */
function raw(port: number, request: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no response: ${JSON.stringify(text)}`));
      const head = text.slice(0, end);
      resolve({ status: Number(head.split(' ')[1]), head, body: text.slice(end + 4) });
    });
  });
}

describe('the error contract', { timeout: 30_000 }, () => {
  let server: TestServer;
  let admin: string;
  const send = async (path: string, init: RequestInit = {}): Promise<{ status: number; body: Body }> => {
    const response = await fetch(`${server.url}${path}`, {
      ...init,
      headers: { 'x-api-key': admin, ...(init.headers as Record<string, string>) },
    });
    return { status: response.status, body: await response.json() };
  };
  const post = (type: string, body: string) =>
    send('/api/decisions', { method: 'POST', headers: { 'content-type': type }, body });

  before(async () => {
    server = await startServer();
    admin = (await server.keys.create('ops', 'admin')).key;
  });
  after(() => server.close());

  it('refuses a text/plain body with 415 like any other non-JSON body, saying what is accepted', async () => {
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/xml']) {
      const { status, body } = await post(type, '<decision/>');
      assert.equal(status, 415, type);
      assert.deepEqual(Object.keys(body), ['error', 'message']);
      assert.equal(body.error, 'unsupported-media-type');
      assert.match(body.message, /application\/json/, body.message);
    }
  });

  it('refuses a compressed body with 415 naming the content coding, not 400 "not valid JSON"', async () => {
    const json = '{"ip":"192.0.2.1","action":"block","duration":"1h","reason":"r"}';
    for (const coding of ['gzip', 'br', 'GZIP, identity']) {
      const { status, body } = await send('/api/decisions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': coding },
        body: coding === 'br' ? brotliCompressSync(json) : gzipSync(json),
      });
      assert.equal(status, 415, coding);
      assert.deepEqual(body, {
        error: 'unsupported-media-type',
        message: `content-encoding ${JSON.stringify(coding)} is not accepted: send the JSON body uncompressed`,
      });
    }
    // identity is no coding: the body is read (and refused by Kafka's absence here, not by its coding).
    const plain = await send('/api/decisions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
      body: json,
    });
    assert.equal(plain.body.error, 'kafka-unavailable');
  });

  it('names the failing field once in validation messages (no doubled "querystring" or "body")', async () => {
    const cases: Array<[string, RequestInit, RegExp]> = [
      ['/api/blocklist/changes?since=abc', {}, /^querystring\/since must be integer/],
      [
        '/api/blocklist/changes?since=1&colour=red',
        {},
        /^querystring must NOT have additional properties: "colour"$/,
      ],
      [
        '/api/decisions',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"ip":"192.0.2.1","action":"block","duration":"1h","reason":"r","colour":"red"}',
        },
        /^body must NOT have additional properties: "colour"$/,
      ],
      ['/v1/decisions?contains=maybe', {}, /^querystring\/contains must be boolean$/],
      ['/v1/decisions?ip=192.0.2.1&ip=192.0.2.2', {}, /^querystring\/ip: given 2 times, expected once$/],
      ['/api/blocklist/changes?since=1&since=2&since=3', {}, /^querystring\/since: given 3 times/],
      [
        '/api/decisions?scope=country',
        {},
        /^querystring\/scope must be equal to one of the allowed values: ip, range, fingerprint$/,
      ],
      [
        '/api/decisions',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ip":"192.0.2.1"}' },
        /^body must have required property/,
      ],
    ];
    for (const [path, init, expected] of cases) {
      const { status, body } = await send(path, init);
      assert.equal(status, 400, path);
      assert.deepEqual(Object.keys(body), ['error', 'message']);
      assert.equal(body.error, 'bad-request');
      assert.match(body.message, expected, `${path}: ${body.message}`);
    }
  });

  it('refuses body fields of the wrong JSON type instead of coercing them', async () => {
    const cases: Array<[string, string, string, RegExp]> = [
      [
        'POST',
        '/api/decisions',
        '{"ip":"192.0.2.1","action":"block","duration":"1h","reason":"r","force":"true"}',
        /^body\/force must be boolean, got string$/,
      ],
      [
        'POST',
        '/api/decisions',
        '{"ip":"192.0.2.1","action":"block","duration":"1h","reason":1}',
        /^body\/reason must be string, got integer$/,
      ],
      ['POST', '/api/allowlist', '{"cidr":["192.0.2.0/24"]}', /^body\/cidr must be string, got array$/],
      [
        'PATCH',
        '/api/decisions',
        '{"key":"ip:192.0.2.1","duration":null}',
        /^body\/duration must be string, got null$/,
      ],
    ];
    for (const [method, path, json, expected] of cases) {
      const { status, body } = await send(path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: json,
      });
      assert.equal(status, 400, json);
      assert.deepEqual(Object.keys(body), ['error', 'message']);
      assert.equal(body.error, 'bad-request');
      assert.match(body.message, expected, `${json}: ${body.message}`);
    }
  });

  it('refuses number query parameters that are not plain decimal digits, naming the parameter', async () => {
    // The validator's coercion took these as 0, 1000, 16, 12 and 10.
    for (const [param, value] of [
      ['since', ''],
      ['since', '1e3'],
      ['since', '0x10'],
      ['since', '12.0'],
      ['limit', ' 10'],
    ]) {
      for (const route of [
        '/api/blocklist/changes',
        '/api/cache-policies/changes',
        '/api/blocklist/events',
      ]) {
        const path = `${route}?${param}=${encodeURIComponent(value!)}`;
        const { status, body } = await send(path);
        if (route.endsWith('/events') && param === 'limit') {
          assert.equal(status, 400, path); // no limit there: an unknown parameter
          continue;
        }
        assert.equal(status, 400, path);
        assert.deepEqual(body, {
          error: 'bad-request',
          message: `querystring/${param} must be integer (plain decimal digits), got ${JSON.stringify(value)}`,
        });
      }
    }
    for (const path of ['/api/decisions?limit=1e2', '/api/explain?ip=192.0.2.1&requests=0x0']) {
      const { status, body } = await send(path);
      assert.equal(status, 400, path);
      assert.match(body.message, /^querystring\/(limit|requests) must be integer \(plain decimal digits\)/);
    }
    // plain digits (leading zeros too) still work
    for (const path of ['/api/blocklist/changes?since=0&limit=007', '/api/decisions?limit=5']) {
      assert.equal((await send(path)).status, 200, path);
    }
  });

  it('says why a body is refused: its size limit, a __proto__ key', async () => {
    const big = await send('/api/decisions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ip: '192.0.2.1', action: 'block', duration: '1h', reason: 'x'.repeat(20_000) }),
    });
    assert.equal(big.status, 413);
    assert.deepEqual(big.body, {
      error: 'body-too-large',
      message: 'the body is larger than 16384 bytes (16 KiB), the limit of every request body',
    });
    for (const [json, key] of [
      ['{"ip":"192.0.2.1","action":"block","duration":"1h","reason":"r","__proto__":{"x":1}}', '__proto__'],
      ['{"cidr":"192.0.2.0/24","constructor":{"prototype":{"x":1}}}', 'constructor.prototype'],
    ]) {
      const { status, body } = await send(json!.includes('cidr') ? '/api/allowlist' : '/api/decisions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: json,
      });
      assert.equal(status, 400, json);
      assert.deepEqual(body, {
        error: 'bad-request',
        message: `body: the key "${key}" is not accepted (it would reach an object's prototype in JavaScript)`,
      });
    }
    // still: broken JSON is "not valid JSON", and an empty body is named
    const broken = await send('/api/decisions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"ip": ',
    });
    assert.equal(broken.status, 400);
    assert.match(broken.body.message, /not valid JSON/);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('answers a manual decision longer than 366 days as bad-duration naming the limit', async () => {
    for (const [method, json] of [
      ['POST', '{"ip":"192.0.2.1","action":"block","duration":"367d","reason":"r"}'],
      ['POST', '{"ip":"192.0.2.1","action":"block","duration":"9000h","reason":"r"}'],
    ]) {
      const { status, body } = await send('/api/decisions', {
        method,
        headers: { 'content-type': 'application/json' },
        body: json,
      });
      assert.equal(status, 400, json);
      assert.equal(body.error, 'bad-duration', json);
      assert.match(body.message, /^duration: at most 366 days \(8784h\), got '(367d|9000h)'$/);
    }
  });

  it('refuses a decisions cursor Redis cannot take with 400, not 500', async () => {
    for (const cursor of ['18446744073709551616', '99999999999999999999']) {
      const { status, body } = await send(`/api/decisions?cursor=${cursor}`);
      assert.equal(status, 400, cursor);
      assert.deepEqual(Object.keys(body), ['error', 'message']);
      assert.equal(body.error, 'bad-request');
      assert.match(body.message, /cursor/, body.message);
    }
    const last = await send('/api/decisions?cursor=18446744073709551615');
    assert.equal(last.status, 200, JSON.stringify(last.body));
  });

  it('answers headers too large (431), a URL that does not decode and garbage (400) in the same JSON shape', async () => {
    const port = Number(new URL(server.url).port);
    const response = await raw(
      port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(response.status, 431);
    assert.match(response.head, /content-type: application\/json/i);
    const body = JSON.parse(response.body);
    assert.deepEqual(Object.keys(body), ['error', 'message']);
    assert.equal(body.error, 'headers-too-large');
    assert.match(body.message, /16 KiB|16384/);
    const badUrl = await raw(port, 'GET /api/%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(badUrl.status, 400);
    assert.deepEqual(JSON.parse(badUrl.body), {
      error: 'bad-request',
      message: "'/api/%ZZ' is not a valid url component",
    });
    const garbage = await raw(port, 'NOT HTTP\r\n\r\n');
    assert.equal(garbage.status, 400);
    assert.deepEqual(Object.keys(JSON.parse(garbage.body)), ['error', 'message']);
    assert.equal(JSON.parse(garbage.body).error, 'bad-request');
  });

  it('documents these errors in /openapi.json', async () => {
    const doc: Body = await (await fetch(`${server.url}/openapi.json`)).json();
    const post = doc.paths['/api/decisions'].post.responses;
    assert.ok(post['413'] && post['415'], Object.keys(post).join(','));
    const events = doc.paths['/api/blocklist/events'].get.responses;
    assert.match(events['429'].description, /too-many-streams-for-key/);
    assert.ok(events['503']);
    assert.equal(doc.paths['/api/blocklist/changes'].get.responses['415'], undefined, 'no body, no 415');
  });
});

describe('a request not received in time', { timeout: 30_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ requestTimeoutMs: 1_000 });
  });
  after(() => server.close());

  it('is answered 408 in the JSON shape about the request timeout after it began, not up to 30 s later', async () => {
    const port = Number(new URL(server.url).port);
    const started = Date.now();
    // Headers never finished (a slowloris): the connection is answered and closed.
    const response = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const ms = Date.now() - started;
    assert.equal(response.status, 408);
    assert.equal(JSON.parse(response.body).error, 'request-timeout');
    assert.ok(ms >= 1_000 && ms < 3_500, `answered after ${ms} ms`);
  });
});
