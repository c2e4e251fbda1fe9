// The API service against the real Redis store and the real Kafka broker: auth, limits, the CrowdSec
// bouncer protocol shapes, the native blocklist (snapshot, changes, SSE), cache policies from the
// topic, explain, and operator writes reaching Kafka.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AccessLogProducer, kafkaEnvironment } from '@edgeguard/kafka';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import {
  createKey,
  decision,
  dropPrefix,
  openEvents,
  openStore,
  type RunningApi,
  startApi,
} from './support/api.js';
import { edgeguard, eventually, tail, uniquePrefix } from './support/services.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies of many shapes, checked field by field
type Body = any;

const GO_DURATION = /^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$/;

describe('the API service', { timeout: 240_000 }, () => {
  const prefix = uniquePrefix('api');
  const env = {
    EDGEGUARD_TOPIC_PREFIX: prefix,
    EDGEGUARD_API_RATE_LIMIT: '100',
    EDGEGUARD_API_RATE_BURST: '100',
    EDGEGUARD_API_MAX_STREAMS: '4',
  };
  const { store, redis } = openStore(prefix);
  const kafka = new Kafka({
    brokers: kafkaEnvironment().brokers,
    clientId: 'api-test',
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  let api: RunningApi;
  let admin: string;
  let bouncer: string;
  const get = (path: string, key?: string, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, {
      ...init,
      headers: { ...(key ? { 'x-api-key': key } : {}), ...(init.headers as Record<string, string>) },
    });
  const json = async (path: string, key: string) => {
    const response = await get(path, key);
    assert.equal(response.status, 200, `${path}: ${response.status} ${await response.clone().text()}`);
    return response.json() as Promise<Body>;
  };

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    admin = createKey(env, 'ops', 'admin');
    bouncer = createKey(env, 'edge-1', 'bouncer');
    await producer.connect();
    api = await startApi(env);
  });

  after(async () => {
    await api?.stop();
    await producer.disconnect();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  describe('authentication', () => {
    it('refuses a missing, unknown or revoked key with 401 and a wrong scope with 403', async () => {
      const missing = await get('/v1/decisions?ip=192.0.2.1');
      assert.equal(missing.status, 401);
      assert.deepEqual(Object.keys(await missing.json()), ['error', 'message']);
      const unknown = await get('/v1/decisions?ip=192.0.2.1', 'eg_not-a-key');
      assert.equal(unknown.status, 401);
      assert.equal((await unknown.json()).error, 'unknown-key');
      const bearer = await get('/v1/decisions?ip=192.0.2.1', undefined, {
        headers: { authorization: `Bearer ${bouncer}` },
      });
      assert.equal(bearer.status, 200);

      const wrongScope = await fetch(`${api.url}/api/decisions`, {
        method: 'POST',
        headers: { 'x-api-key': bouncer, 'content-type': 'application/json' },
        body: JSON.stringify({ ip: '192.0.2.1', action: 'block', duration: '1h', reason: 'test' }),
      });
      assert.equal(wrongScope.status, 403);
      assert.equal((await wrongScope.json()).error, 'forbidden');
      assert.equal((await get('/metrics', bouncer)).status, 403);
      assert.equal((await get('/metrics', admin)).status, 200);

      const temporary = createKey(env, 'temporary', 'bouncer');
      assert.equal((await get('/v1/decisions?ip=192.0.2.1', temporary)).status, 200);
      const revoke = edgeguard(['keys', 'revoke', 'temporary'], env);
      assert.equal(revoke.code, 0, revoke.stderr);
      const again = edgeguard(['keys', 'revoke', 'temporary'], env);
      assert.equal(again.code, 2, 'a name with no active key is bad input, not a failed Redis');
      assert.match(again.stderr, /no active key named 'temporary'/);
      const started = Date.now();
      await eventually(
        'the revoked key refused',
        async () => {
          const response = await get('/v1/decisions?ip=192.0.2.1', temporary);
          return response.status === 401 ? await response.json() : undefined;
        },
        10_000,
      ).then((body: Body) => assert.equal(body.error, 'revoked-key'));
      const took = Date.now() - started;
      assert.ok(took < 8_000, `revocation took ${took} ms (documented: within the 5 s key cache)`);

      const listed = edgeguard(['keys', 'list', '--json'], env);
      const keys = listed.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        keys.map((k) => [k.name, k.scope, k.revokedAt !== null]),
        [
          ['edge-1', 'bouncer', false],
          ['ops', 'admin', false],
          ['temporary', 'bouncer', true],
        ],
      );
      assert.ok(!listed.stdout.includes(bouncer.slice(3)), 'keys list never prints a key');
      assert.ok(keys.find((k) => k.name === 'edge-1').lastUsedAt > 0, 'last use recorded');
    });

    it('limits each key’s rate with 429 and Retry-After, without touching other keys', async () => {
      const noisy = createKey(env, 'noisy', 'bouncer');
      const started = Date.now();
      const statuses = await Promise.all(
        Array.from({ length: 400 }, () =>
          get('/v1/decisions?ip=192.0.2.9', noisy).then(
            async (r) => [r.status, r.headers.get('retry-after'), await r.text()] as const,
          ),
        ),
      );
      const seconds = (Date.now() - started) / 1000;
      const limited = statuses.filter(([s]) => s === 429);
      const served = statuses.filter(([s]) => s === 200).length;
      // burst 100, then 100/s: what was served is bounded by the bucket, the rest refused
      assert.ok(served <= 100 + 100 * seconds + 1, `${served} served in ${seconds} s`);
      assert.equal(served + limited.length, 400);
      assert.ok(limited.length > 0, `no 429 in ${seconds} s`);
      assert.ok(Number(limited[0]![1]) >= 1);
      assert.equal(JSON.parse(limited[0]![2]).error, 'rate-limited');
      assert.equal((await get('/v1/decisions?ip=192.0.2.9', bouncer)).status, 200);
    });
  });

  describe('request limits', () => {
    it('answers malformed and oversized requests with 400, 404, 413, 414 and a JSON error', async () => {
      const badIp = await get('/v1/decisions?ip=999.1.1.1', bouncer);
      assert.equal(badIp.status, 400);
      assert.equal((await badIp.json()).error, 'bad-ip');
      const badSince = await get('/api/blocklist/changes?since=abc', bouncer);
      assert.equal(badSince.status, 400);
      assert.match((await badSince.json()).message, /since/);
      const unknownParam = await get('/api/blocklist/changes?since=1&colour=red', bouncer);
      assert.equal(unknownParam.status, 400);
      const post = (body: string, type = 'application/json') =>
        fetch(`${api.url}/api/decisions`, {
          method: 'POST',
          headers: { 'x-api-key': admin, 'content-type': type },
          body,
        });
      const broken = await post('{"ip": ');
      assert.equal(broken.status, 400);
      assert.deepEqual(Object.keys(await broken.json()), ['error', 'message']);
      const missingField = await post(JSON.stringify({ ip: '192.0.2.1', action: 'block', reason: 'x' }));
      assert.equal(missingField.status, 400);
      assert.match((await missingField.json()).message, /duration/);
      const badAction = await post(
        JSON.stringify({ ip: '192.0.2.1', action: 'nuke', duration: '1h', reason: 'x' }),
      );
      assert.equal(badAction.status, 400);
      const badDuration = await post(
        JSON.stringify({ ip: '192.0.2.1', action: 'block', duration: 'soon', reason: 'x' }),
      );
      assert.equal(badDuration.status, 400);
      assert.equal((await badDuration.json()).error, 'bad-duration');
      // a bare number would be milliseconds: "3600" meant as seconds must not make a 3.6 s decision
      const bareNumber = await post(
        JSON.stringify({ ip: '192.0.2.1', action: 'block', duration: '3600', reason: 'x' }),
      );
      assert.equal(bareNumber.status, 400);
      assert.match((await bareNumber.json()).message, /duration: give a unit, e.g. 3600h/);
      const twoTargets = await post(
        JSON.stringify({
          ip: '192.0.2.1',
          range: '192.0.2.0/24',
          action: 'block',
          duration: '1h',
          reason: 'x',
        }),
      );
      assert.equal(twoTargets.status, 400);
      const huge = await post(
        JSON.stringify({ ip: '192.0.2.1', action: 'block', duration: '1h', reason: 'x'.repeat(20_000) }),
      );
      assert.equal(huge.status, 413);
      assert.equal((await huge.json()).error, 'body-too-large');
      const xml = await post('<decision/>', 'application/xml');
      assert.equal(xml.status, 415);
      assert.equal((await xml.json()).error, 'unsupported-media-type');
      const long = await get(`/v1/decisions?ip=192.0.2.1&origins=${'a'.repeat(5000)}`, bouncer);
      assert.equal(long.status, 414);
      const nowhere = await get('/nowhere', bouncer);
      assert.equal(nowhere.status, 404);
      assert.equal((await nowhere.json()).error, 'not-found');
    });
  });

  describe('CrowdSec bouncer protocol', () => {
    it('answers live lookups with covering decisions in CrowdSec shape, or null', async () => {
      await store.putMany([
        decision('ip', '203.0.113.7', { action: 'challenge', reason: 'bot' }),
        decision('range', '198.51.100.0/24', { reason: 'swarm' }),
        decision('range', '2001:db8:1::/48', { action: 'throttle' }),
        decision('fingerprint', 'fp-abc'),
      ]);
      // The API answers from its in-memory follower of the store: a change shows up a feed round trip later.
      const covering = await eventually(
        'the new decisions followed',
        async () => {
          const body = await json('/v1/decisions?ip=2001:db8:1:2::9', bouncer);
          return body === null ? undefined : json('/v1/decisions?ip=198.51.100.77', bouncer);
        },
        5_000,
      );
      assert.equal(covering.length, 1);
      const [d] = covering;
      assert.deepEqual(Object.keys(d).sort(), [
        'duration',
        'id',
        'origin',
        'scenario',
        'scope',
        'type',
        'until',
        'value',
      ]);
      assert.equal(d.type, 'ban');
      assert.equal(d.scope, 'Range');
      assert.equal(d.value, '198.51.100.0/24');
      assert.equal(d.scenario, 'edgeguard/swarm');
      assert.equal(d.origin, 'edgeguard');
      assert.match(d.duration, GO_DURATION);
      assert.ok(Number.isSafeInteger(d.id) && d.id > 0);
      const v6 = await json('/v1/decisions?ip=2001:db8:1:2::9', bouncer);
      assert.deepEqual(
        v6.map((x: Body) => [x.type, x.value]),
        [['throttle', '2001:db8:1::/48']],
      );
      const own = await json('/v1/decisions?ip=203.0.113.7', bouncer);
      assert.deepEqual(
        own.map((x: Body) => [x.type, x.scope, x.value]),
        [['captcha', 'Ip', '203.0.113.7']],
      );
      assert.equal(await (await get('/v1/decisions?ip=192.0.2.200', bouncer)).text(), 'null');
      assert.equal((await json('/v1/decisions?scope=ip&value=198.51.100.1', bouncer)).length, 1);
      assert.equal((await json('/v1/decisions?range=198.51.100.128/25', bouncer)).length, 1);
      assert.equal(await (await get('/v1/decisions?range=198.51.0.0/16', bouncer)).text(), 'null');
      assert.equal(await (await get('/v1/decisions?ip=198.51.100.77&type=captcha', bouncer)).text(), 'null');
      const head = await get('/v1/decisions?ip=198.51.100.77', bouncer, { method: 'HEAD' });
      assert.equal(head.status, 200);
    });

    it('answers live lookups the same from Redis per request (EDGEGUARD_API_LOOKUP=redis)', async () => {
      const fromRedis = await startApi({ ...env, EDGEGUARD_API_LOOKUP: 'redis' });
      try {
        const queries = [
          '/v1/decisions?ip=198.51.100.77',
          '/v1/decisions?ip=2001:db8:1:2::9',
          '/v1/decisions?ip=203.0.113.7',
          '/v1/decisions?ip=192.0.2.200',
          '/v1/decisions?scope=ip&value=198.51.100.1',
          '/v1/decisions?range=198.51.100.128/25',
          '/v1/decisions?range=198.51.0.0/16',
          '/v1/decisions?ip=198.51.100.77&type=captcha',
          '/v1/decisions?ip=999.1.1.1',
        ];
        // The remaining duration moves between the two answers: compare everything else.
        const answer = async (url: string) => {
          const response = await fetch(url, { headers: { 'x-api-key': bouncer } });
          const body = await response.json();
          const shape = (d: Body) => ({ ...d, duration: GO_DURATION.test(d.duration) });
          return [response.status, Array.isArray(body) ? body.map(shape) : body];
        };
        for (const query of queries)
          assert.deepEqual(
            await answer(`${fromRedis.url}${query}`),
            await answer(`${api.url}${query}`),
            query,
          );
        const head = await fetch(`${fromRedis.url}/v1/decisions?ip=198.51.100.77`, {
          method: 'HEAD',
          headers: { 'x-api-key': bouncer },
        });
        assert.equal(head.status, 200);
        assert.equal(await head.text(), '');
      } finally {
        await fromRedis.stop();
      }
    });

    it('streams everything at startup, then only what changed since this key’s last pull', async () => {
      const reader = createKey(env, 'stream-reader', 'bouncer');
      const startup = await json('/v1/decisions/stream?startup=true', reader);
      assert.deepEqual(Object.keys(startup), ['new', 'deleted']);
      const values = startup.new.map((d: Body) => d.value).sort();
      assert.deepEqual(
        values,
        ['198.51.100.0/24', '2001:db8:1::/48', '203.0.113.7'],
        'ip and range scopes, no fingerprints',
      );
      assert.equal(startup.deleted, null);
      assert.deepEqual(await json('/v1/decisions/stream', reader), { new: null, deleted: null });

      await store.put(decision('ip', '192.0.2.50', { action: 'block', reason: 'scanner' }));
      await store.delete('ip:203.0.113.7');
      await store.put(decision('ip', '192.0.2.51'));
      await store.delete('ip:192.0.2.51'); // added and removed between pulls: only deleted
      const head = await get('/v1/decisions/stream', reader, { method: 'HEAD' });
      assert.equal(head.status, 200);
      const delta = await json('/v1/decisions/stream', reader);
      assert.deepEqual(
        delta.new.map((d: Body) => [d.value, d.type]),
        [['192.0.2.50', 'ban']],
        'HEAD did not move the cursor',
      );
      assert.deepEqual(delta.deleted.map((d: Body) => [d.value, d.scope]).sort(), [
        ['192.0.2.51', 'Ip'],
        ['203.0.113.7', 'Ip'],
      ]);
      assert.deepEqual(await json('/v1/decisions/stream', reader), { new: null, deleted: null });
      const onlyRanges = await json('/v1/decisions/stream?startup=true&scopes=range', reader);
      assert.ok(onlyRanges.new.every((d: Body) => d.scope === 'Range'));
    });
  });

  describe('native blocklist', () => {
    it('serves an NDJSON snapshot with an ETag, 304 when unchanged, and changes since a version', async () => {
      const response = await get('/api/blocklist', bouncer);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /application\/x-ndjson/);
      const etag = response.headers.get('etag')!;
      const lines = (await response.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const header = lines[0];
      assert.equal(etag, `"${header.epoch}-${header.version}"`);
      assert.equal(header.count, lines.length - 1);
      assert.ok(lines.slice(1).some((d) => d.key === 'fp:fp-abc' && Array.isArray(d.signals)));
      const same = await get('/api/blocklist', bouncer, { headers: { 'if-none-match': etag } });
      assert.equal(same.status, 304);
      for (const path of [
        '/api/blocklist?since=3',
        '/api/cache-policies?x=1',
        '/api/allowlist?cidr=10.0.0.0/8',
      ]) {
        const refused = await get(path, bouncer);
        assert.equal(refused.status, 400, path);
        assert.match((await refused.json()).message, /must NOT have additional properties/, path);
      }
      await store.put(decision('ip', '192.0.2.60'));
      const changed = await get('/api/blocklist', bouncer, { headers: { 'if-none-match': etag } });
      assert.equal(changed.status, 200);
      await changed.text();
      const changes = await json(`/api/blocklist/changes?since=${header.version}`, bouncer);
      assert.equal(changes.resync, false);
      assert.deepEqual(
        changes.changes.map((c: Body) => [c.op, c.key]),
        [['add', 'ip:192.0.2.60']],
      );
      assert.equal(changes.changes[0].decision.value, '192.0.2.60');
      assert.equal((await json('/api/blocklist/changes?since=0', bouncer)).resync, true);
      assert.equal(
        (await json(`/api/blocklist/changes?since=${changes.version + 1000}`, bouncer)).resync,
        true,
      );
    });

    it('pushes a change over SSE within milliseconds and resumes from Last-Event-ID', async () => {
      const { version } = await store.changesSince(0).then(async () => ({ version: await store.version() }));
      const stream = openEvents(`${api.url}/api/blocklist/events?since=${version}`, { 'x-api-key': bouncer });
      await new Promise((r) => setTimeout(r, 300));
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const sent = Date.now();
        const v = await store.put(decision('ip', `192.0.2.${100 + i}`));
        await stream.waitFor((events) => events.some((e) => e.id === String(v)));
        latencies.push(stream.events.find((e) => e.id === String(v))!.at - sent);
      }
      latencies.sort((a, b) => a - b);
      const p99 = latencies.at(-1)!;
      assert.ok(p99 < 250, `push latency p99 ${p99} ms (all: ${latencies.join(',')})`);
      const last = stream.events.at(-1)!;
      stream.close();

      const missed = [await store.put(decision('ip', '192.0.2.201')), await store.delete('ip:192.0.2.100')];
      const resumed = openEvents(`${api.url}/api/blocklist/events`, {
        'x-api-key': bouncer,
        'last-event-id': last.id!,
      });
      await resumed.waitFor((events) => events.length >= 2);
      assert.deepEqual(
        resumed.events.map((e) => [e.event, Number(e.id), (e.data as Body).op]),
        [
          ['change', missed[0], 'add'],
          ['change', missed[1], 'del'],
        ],
      );
      resumed.close();

      const fresh = openEvents(`${api.url}/api/blocklist/events?since=0`, { 'x-api-key': bouncer });
      await fresh.waitFor((events) => events.some((e) => e.event === 'resync'));
      const resync = fresh.events.find((e) => e.event === 'resync')!.data as Body;
      assert.ok(resync.version >= missed[1]! && resync.epoch > 0);
      await fresh.done;
      const bad = await get('/api/blocklist/events', bouncer, { headers: { 'last-event-id': 'x1' } });
      assert.equal(bad.status, 400);
    });

    it('serves at most EDGEGUARD_API_MAX_STREAMS streams and drops a client that stops reading', async () => {
      const version = await store.version();
      const path = `/api/blocklist/events?since=${version}`;
      const readers = [0, 1, 2].map(() => openEvents(`${api.url}${path}`, { 'x-api-key': bouncer }));
      await eventually(
        'three streams open',
        () => (readers.every((r) => r.status() === 200) ? true : undefined),
        10_000,
      );
      // The fourth: a client that sends its request, then never reads.
      const { port } = new URL(api.url);
      const stalled = connect(Number(port), '127.0.0.1');
      stalled.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${bouncer}\r\n\r\n`);
      stalled.pause();
      let stalledClosed = false;
      stalled.on('close', () => {
        stalledClosed = true;
      });
      await sleep(300);
      const refused = await get(path, bouncer);
      assert.equal(refused.status, 503);
      assert.equal((await refused.json()).error, 'too-many-streams');
      for (const reader of readers) reader.close();

      // ~30k events (~13 MB): more than the socket buffers and the 1 MiB the server keeps per client.
      for (let batch = 0; batch < 60; batch++) {
        await store.putMany(
          Array.from({ length: 500 }, (_, i) =>
            decision('ip', `10.${200 + (batch >> 4)}.${(batch & 15) * 16 + (i >> 5)}.${i & 31}`),
          ),
        );
      }
      const dropped = await eventually(
        'the stalled stream dropped',
        async () => {
          const metrics = await (await get('/metrics', admin)).text();
          const count = Number(
            /^edgeguard_api_sse_dropped_total\{[^}]*stream="blocklist"[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0,
          );
          return count >= 1 ? metrics : undefined;
        },
        20_000,
      );
      const open = Number(
        /^edgeguard_api_sse_clients\{[^}]*stream="blocklist"[^}]*\} (\d+)/m.exec(dropped)?.[1] ?? -1,
      );
      assert.equal(open, 0, 'no stream left open');
      stalled.resume();
      await eventually(
        'the stalled socket closed by the server',
        () => (stalledClosed ? true : undefined),
        20_000,
      );
    });
  });

  describe('cache policies', () => {
    it('serves the compacted topic as snapshot, changes and events (version = offset + 1)', async () => {
      const policy = (key: string, ttl: number) => ({
        key,
        match: { host: 'example.com', pathPattern: key.slice(11) },
        ttlSeconds: ttl,
        staleWhileRevalidateSeconds: null,
        staleIfErrorSeconds: null,
        maxStaleSeconds: null,
        collapse: true,
        cacheKey: { kind: 'drop' },
        reason: 'cache-bust',
        signals: [],
        decidedAt: Date.now(),
        expiresAt: Date.now() + 3_600_000,
        version: 1,
      });
      const topic = `${prefix}cache-policies`;
      await producer.send({
        topic,
        messages: [{ key: 'example.com/a', value: JSON.stringify(policy('example.com/a', 60)) }],
      });
      const snapshot = await eventually(
        'the policy served',
        async () => {
          const body = await json('/api/cache-policies', bouncer);
          return body.policies.length === 1 ? body : undefined;
        },
        20_000,
      );
      assert.equal(snapshot.version, 1);
      assert.equal(snapshot.policies[0].key, 'example.com/a');
      const stream = openEvents(`${api.url}/api/cache-policies/events?since=1`, { 'x-api-key': bouncer });
      await new Promise((r) => setTimeout(r, 200));
      await producer.send({
        topic,
        messages: [
          { key: 'example.com/b', value: JSON.stringify(policy('example.com/b', 30)) },
          { key: 'example.com/a', value: null },
        ],
      });
      await stream.waitFor((events) => events.length >= 2);
      assert.deepEqual(
        stream.events.map((e) => [e.id, (e.data as Body).op, (e.data as Body).key]),
        [
          ['2', 'put', 'example.com/b'],
          ['3', 'del', 'example.com/a'],
        ],
      );
      stream.close();
      const changes = await json('/api/cache-policies/changes?since=0', bouncer);
      assert.equal(changes.resync, false);
      assert.deepEqual(
        changes.changes.map((c: Body) => [c.version, c.op]),
        [
          [1, 'put'],
          [2, 'put'],
          [3, 'del'],
        ],
      );
      assert.deepEqual(
        (await json('/api/cache-policies', bouncer)).policies.map((p: Body) => p.key),
        ['example.com/b'],
      );
      assert.equal((await json('/api/cache-policies/changes?since=99', bouncer)).resync, true);
    });
  });

  describe('explain and operator writes', () => {
    it('explains an ip decision with the requests that led to it, read from access-logs', async () => {
      const writer = new AccessLogProducer({ producer, prefix, partitions: 1, batchRecords: 3 });
      const now = Date.now();
      for (let i = 0; i < 8; i++)
        for (const client of ['192.0.2.77', '192.0.2.78'])
          await writer.add({
            ...explainLog,
            time: now - 8000 + i * 1000,
            clientAddress: client,
            path: `/${client}/${i}`,
          });
      await writer.flush();
      await store.put(decision('ip', '192.0.2.77', { decidedAt: Date.now() }));
      const answer = await json('/api/explain?ip=192.0.2.77', admin);
      const explained = answer.decisions.find((d: { key: string }) => d.key === 'ip:192.0.2.77');
      assert.deepEqual(
        explained.requests.map((r: { path: string }) => r.path),
        Array.from({ length: 8 }, (_, i) => `/192.0.2.77/${i}`),
      );
      assert.ok(explained.scannedMessages > 0);
      // A bouncer key (on every edge node) gets the verdict and the decisions, not the requests.
      const asBouncer = (await json('/api/explain?ip=192.0.2.77', bouncer)).decisions.find(
        (d: { key: string }) => d.key === 'ip:192.0.2.77',
      );
      assert.equal(asBouncer.requests, undefined);
      assert.match(asBouncer.requestsError, /admin keys only/);
      const skipped = await json('/api/explain?ip=192.0.2.77&requests=0', admin);
      assert.equal(
        skipped.decisions.find((d: { key: string }) => d.key === 'ip:192.0.2.77').requests,
        undefined,
      );
      // A range decision covering the client: its own requests up to the range's decision time.
      await store.delete('ip:192.0.2.77');
      await store.put(decision('range', '192.0.2.0/24', { decidedAt: now - 3500 }));
      const byRange = await json('/api/explain?ip=192.0.2.78', admin);
      const range = byRange.decisions.find((d: { key: string }) => d.key === 'range:192.0.2.0/24');
      assert.deepEqual(
        range.requests.map((r: { path: string }) => r.path),
        Array.from({ length: 5 }, (_, i) => `/192.0.2.78/${i}`),
        'only 192.0.2.78, only up to the decision',
      );
      await store.delete('range:192.0.2.0/24');
    });

    it('explains an address: covering decisions with signals, allowlist entries, verdict', async () => {
      const blocked = await json('/api/explain?ip=198.51.100.9', bouncer);
      assert.equal(blocked.verdict, 'block');
      assert.equal(blocked.decisions[0].key, 'range:198.51.100.0/24');
      assert.deepEqual(blocked.decisions[0].signals, [{ name: 'probes', value: 12, threshold: 5 }]);
      await store.allow('198.51.100.9', 'our monitoring');
      const allowed = await json('/api/explain?ip=198.51.100.9', bouncer);
      assert.equal(allowed.verdict, 'allow');
      assert.equal(allowed.allowlist[0].comment, 'our monitoring');
      assert.equal(allowed.decisions.length, 1);
      assert.equal((await json('/api/explain?ip=192.0.2.250', bouncer)).verdict, 'allow');
      assert.equal((await get('/api/explain?ip=nope', bouncer)).status, 400);
      assert.equal((await get('/api/explain?ip=192.0.2.250&requests=2', bouncer)).status, 400);
      assert.equal((await json('/api/explain?ip=192.0.2.250&requests=0', bouncer)).verdict, 'allow');
      const listed = await json('/api/allowlist', bouncer);
      assert.deepEqual(
        listed.entries.map((e: Body) => e.cidr),
        ['198.51.100.9/32'],
      );
      const ranges: Body[] = [];
      let cursor = '0';
      do {
        const page = await json(`/api/decisions?scope=range&limit=1000&cursor=${cursor}`, bouncer);
        ranges.push(...page.decisions);
        cursor = page.cursor;
      } while (cursor !== '0');
      assert.deepEqual(ranges.map((d) => d.key).sort(), ['range:198.51.100.0/24', 'range:2001:db8:1::/48']);
    });

    it('produces manual decisions and allowlist entries to Kafka (admin only)', async () => {
      const send = (method: string, path: string, body?: unknown) =>
        fetch(`${api.url}${path}`, {
          method,
          headers: { 'x-api-key': admin, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
      const added = await send('POST', '/api/decisions', {
        ip: '192.0.2.77',
        action: 'challenge',
        duration: '2h',
        reason: 'operator check',
      });
      assert.equal(added.status, 202, await added.clone().text());
      const { decision: manual } = await added.json();
      assert.equal(manual.key, 'ip:192.0.2.77');
      assert.equal(manual.origin, 'manual');
      assert.equal(manual.expiresAt - manual.decidedAt, 7_200_000);
      await store.put(decision('range', '203.0.113.0/24'));
      const extended = await send('PATCH', '/api/decisions', {
        key: 'range:203.0.113.0/24',
        duration: '48h',
      });
      assert.equal(extended.status, 202);
      assert.equal(
        (await send('PATCH', '/api/decisions', { key: 'ip:192.0.2.254', duration: '1h' })).status,
        404,
      );
      // A range key with host bits is refused as DELETE refuses it, not taken as the /24.
      const typo = await send('PATCH', '/api/decisions', { key: 'range:203.0.113.7/24', duration: '1h' });
      assert.equal(typo.status, 400);
      assert.match((await typo.json()).message, /203\.0\.113\.0\/24/);
      assert.equal((await send('PATCH', '/api/decisions', { key: 'host:x', duration: '1h' })).status, 400);
      assert.equal((await send('DELETE', '/api/decisions?range=203.0.113.0/24')).status, 202);
      assert.equal(
        (await send('POST', '/api/allowlist', { cidr: '10.1.0.0/16', comment: 'office', duration: '30d' }))
          .status,
        202,
      );
      assert.equal((await send('DELETE', '/api/allowlist?cidr=10.1.0.0/16')).status, 202);
      // Nothing is produced for these: the whole internet allowed (every block off) or blocked,
      // and a typo that would allow a whole /8.
      for (const [path, body, message] of [
        ['/api/allowlist', { cidr: '0.0.0.0/0' }, /is wider than \/8/],
        ['/api/allowlist', { cidr: '::/0' }, /is wider than \/32/],
        ['/api/allowlist', { cidr: '203.0.113.7/8' }, /bits set after its prefix length/],
        [
          '/api/decisions',
          { range: '0.0.0.0/0', action: 'block', duration: '1h', reason: 'oops' },
          /is wider than \/8/,
        ],
      ] as const) {
        const refused = await send('POST', path, body);
        assert.equal(refused.status, 400, JSON.stringify(body));
        assert.match(await refused.text(), message);
      }

      const decisions = tail('decisions', env, 3);
      assert.deepEqual(
        decisions.map((r) => [r.key, (r.value as Body)?.origin ?? null, (r.value as Body)?.action ?? null]),
        [
          ['ip:192.0.2.77', 'manual', 'challenge'],
          ['range:203.0.113.0/24', 'manual', 'block'],
          ['range:203.0.113.0/24', null, null],
        ],
      );
      const extendedValue = decisions[1]!.value as Body;
      assert.ok(extendedValue.expiresAt - extendedValue.decidedAt === 48 * 3_600_000);
      const allow = tail('allowlist', env, 3);
      assert.deepEqual(
        allow.map((r) => [r.key, (r.value as Body)?.comment ?? null]),
        [
          ['10.1.0.0/16', 'office'],
          ['10.1.0.0/16', null],
        ],
      );
    });
  });

  describe('a wiped store', () => {
    it('makes event streams resync and the in-memory follower reload', async () => {
      await store.put(decision('ip', '192.0.2.240'));
      await eventually(
        'the follower has it',
        async () => ((await json('/v1/decisions?ip=192.0.2.240', bouncer)) ? true : undefined),
        5_000,
      );
      const before = await json('/api/blocklist/changes?since=0', bouncer);
      const stream = openEvents(`${api.url}/api/blocklist/events?since=${await store.version()}`, {
        'x-api-key': bouncer,
      });
      await sleep(300);
      await dropPrefix(redis, prefix, ['bl']); // Redis lost the store; the API keys survive
      await store.put(decision('ip', '192.0.2.241'));
      await stream.waitFor((events) => events.some((e) => e.event === 'resync'));
      const resync = stream.events.find((e) => e.event === 'resync')!.data as Body;
      assert.ok(resync.version > before.version, 'versions keep growing across a wipe');
      await stream.done;
      await eventually(
        'the follower reloaded',
        async () => {
          const gone = await (await get('/v1/decisions?ip=192.0.2.240', bouncer)).text();
          const kept = await json('/v1/decisions?ip=192.0.2.241', bouncer);
          return gone === 'null' && kept?.length === 1 ? true : undefined;
        },
        10_000,
      );
    });
  });

  it('counts requests by route, method and status, their latency by route, and refusals by reason', async () => {
    // Every sample of a metric whose labels include `labels` (any order, other labels allowed).
    const sample = (text: string, name: string, labels: Record<string, string>): number => {
      let total = 0;
      for (const match of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
        const found = Object.fromEntries(
          [...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]),
        );
        if (Object.entries(labels).every(([key, value]) => found[key] === value)) total += Number(match[2]);
      }
      return total;
    };
    const read = async () => {
      const response = await get('/metrics', admin);
      assert.equal(response.status, 200);
      return response.text();
    };
    const requests = (route: string, method: string, status: string) =>
      ['edgeguard_api_requests_total', { route, method, status }] as const;
    const timed = (route: string, series = 'count', le?: string) =>
      [`edgeguard_api_request_duration_seconds_${series}`, { route, ...(le ? { le } : {}) }] as const;
    const rejected = (reason: string) => ['edgeguard_api_rejected_total', { reason }] as const;
    const watched = {
      lookupOk: requests('/v1/decisions', 'GET', '200'),
      lookupHead: requests('/v1/decisions', 'HEAD', '200'),
      lookupNoKey: requests('/v1/decisions', 'GET', '401'),
      lookupBadIp: requests('/v1/decisions', 'GET', '400'),
      unmatched404: requests('unmatched', 'GET', '404'),
      unmatched414: requests('unmatched', 'GET', '414'),
      lookupTimed: timed('/v1/decisions'),
      lookupFast: timed('/v1/decisions', 'bucket', '1'),
      unmatchedTimed: timed('unmatched'),
      missingKey: rejected('missing-key'),
      badIp: rejected('bad-ip'),
      notFound: rejected('not-found'),
      urlTooLong: rejected('url-too-long'),
    };
    const counts = (text: string) =>
      Object.fromEntries(
        Object.entries(watched).map(([what, [name, labels]]) => [what, sample(text, name, labels)]),
      );
    const before = counts(await read());
    assert.equal((await get('/v1/decisions?ip=192.0.2.60', bouncer)).status, 200);
    assert.equal((await get('/v1/decisions?ip=192.0.2.61', bouncer)).status, 200);
    assert.equal((await get('/v1/decisions?ip=192.0.2.61', bouncer, { method: 'HEAD' })).status, 200);
    assert.equal((await get('/v1/decisions?ip=192.0.2.62')).status, 401);
    assert.equal((await get('/v1/decisions?ip=192.0.2.300', bouncer)).status, 400);
    assert.equal((await get('/nowhere-counted', bouncer)).status, 404);
    assert.equal((await get(`/nowhere-counted?${'a'.repeat(5000)}`, bouncer)).status, 414);
    const after = counts(await read());
    const delta = Object.fromEntries(
      Object.entries(after).map(([key, value]) => [key, value - before[key]!]),
    );
    assert.deepEqual(delta, {
      lookupOk: 2,
      lookupHead: 1,
      lookupNoKey: 1,
      lookupBadIp: 1,
      unmatched404: 1,
      unmatched414: 1,
      lookupTimed: 5,
      lookupFast: 5,
      unmatchedTimed: 2,
      missingKey: 1,
      badIp: 1,
      notFound: 1,
      urlTooLong: 1,
    });
  });

  it('describes every route in /openapi.json', async () => {
    const doc = await (await get('/openapi.json')).json();
    const paths = Object.keys(doc.paths).sort();
    for (const path of [
      '/v1/decisions',
      '/v1/decisions/stream',
      '/api/blocklist',
      '/api/blocklist/changes',
      '/api/blocklist/events',
      '/api/cache-policies',
      '/api/cache-policies/changes',
      '/api/cache-policies/events',
      '/api/explain',
      '/api/decisions',
      '/api/allowlist',
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.json',
    ])
      assert.ok(paths.includes(path), `${path} missing from ${paths.join(', ')}`);
    assert.deepEqual(Object.keys(doc.paths['/api/decisions']).sort(), [
      'delete',
      'get',
      'head',
      'patch',
      'post',
    ]);
    assert.ok(
      doc.paths['/api/decisions'].post.requestBody.content['application/json'].schema.properties.action,
    );
    assert.ok(doc.paths['/v1/decisions/stream'].get.parameters.some((p: Body) => p.name === 'startup'));
  });
});

const explainLog = {
  time: 0,
  clientAddress: '',
  peerAddress: null,
  method: 'GET',
  host: 'shop.example',
  path: '/',
  query: null,
  protocol: 'HTTP/1.1',
  status: 200,
  bytes: 10,
  edgeDurationMs: null,
  originDurationMs: null,
  cacheStatus: null,
  userAgent: 'curl/8',
  referer: null,
  acceptLanguage: null,
  ja3: null,
  ja4: null,
  headerOrder: null,
  asn: null,
  country: null,
  edgeNode: null,
  requestId: null,
};
