// A CrowdSec bouncer whose pull falls back to a full set (its cursor is older than the change log
// kept) must still be told what was deleted since its last pull: tombstones, over the real Redis.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@edgeguard/telemetry';
import { apiOptions } from '../src/options.js';
import { TombstoneRecorder, Tombstones } from '../src/tombstones.js';
import { decision } from './support/decision.js';
import { recorded, startServer, type TestServer, trimLog } from './support/server.js';

// biome-ignore lint/suspicious/noExplicitAny: CrowdSec JSON, checked field by field
type Body = any;

const values = (list: Body) => (list ?? []).map((d: Body) => d.value).sort();

/** Pulls the stream for `key`. */
async function pull(server: TestServer, key: string, query: string): Promise<Body> {
  const response = await fetch(`${server.url}/v1/decisions/stream${query}`, {
    headers: { 'x-api-key': key },
  });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

/** What /metrics would answer (it needs an admin key; read from the registry directly). */
const metricsText = async (server: TestServer) =>
  (await server.metrics.text())
    .split('\n')
    .filter((line) => line.startsWith('edgeguard_api_bouncer_'))
    .join('\n');

const incomplete = (text: string) =>
  Number(
    /^edgeguard_api_bouncer_full_sets_incomplete_total\{service="api"\} (\d+)$/m.exec(text)?.[1] ??
      Number.NaN,
  );

describe('CrowdSec stream: deletions in a full set', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('a pull whose cursor the trimmed log cannot serve gets the deletions since it as deleted', async () => {
    const { store } = server;
    const key = (await server.keys.create('edge-trimmed', 'bouncer')).key;
    await store.put(decision('ip', '192.0.2.1'));
    await store.put(decision('ip', '192.0.2.2'));
    await store.put(decision('range', '198.51.100.0/24'));
    await store.put(decision('ip', '192.0.2.3', { action: 'challenge' }));
    const startup = await pull(server, key, '?startup=true');
    assert.deepEqual(values(startup.new), ['192.0.2.1', '192.0.2.2', '192.0.2.3', '198.51.100.0/24']);
    assert.equal(startup.deleted, null, 'a key never pulled before is sent no tombstone');

    await store.delete('ip:192.0.2.1'); // lifted by an operator
    await store.delete('range:198.51.100.0/24');
    await store.delete('ip:192.0.2.3');
    await store.put(decision('ip', '192.0.2.3', { action: 'challenge' })); // deleted, then decided again
    await store.put(decision('ip', '192.0.2.4'));
    await recorded(server);
    await trimLog(server);

    const full = await pull(server, key, '');
    assert.deepEqual(values(full.new), ['192.0.2.2', '192.0.2.3', '192.0.2.4'], 'a full set');
    assert.deepEqual(values(full.deleted), ['192.0.2.1', '198.51.100.0/24'], JSON.stringify(full.deleted));
    for (const d of full.deleted) assert.equal(d.duration, '-1s');
    assert.deepEqual(full.deleted.map((d: Body) => d.scope).sort(), ['Ip', 'Range']);
    // The cursor moved: the next pull is a delta again, without those deletions.
    assert.deepEqual(await pull(server, key, ''), { new: null, deleted: null });
    const text = await metricsText(server);
    assert.match(text, /edgeguard_api_bouncer_full_sets_total\{cause="startup",service="api"\} [1-9]/);
    assert.match(text, /edgeguard_api_bouncer_full_sets_total\{cause="resync",service="api"\} [1-9]/);
    assert.match(
      text,
      /^edgeguard_api_bouncer_full_sets_incomplete_total\{service="api"\} 0$/m,
      'its tombstones were all kept',
    );
  });

  it('a bouncer restarting with startup=true is told what was deleted since its last pull', async () => {
    const key = (await server.keys.create('edge-restart', 'bouncer')).key;
    await server.store.put(decision('ip', '192.0.2.21'));
    await pull(server, key, '?startup=true');
    await server.store.delete('ip:192.0.2.21');
    await recorded(server);
    const restart = await pull(server, key, '?startup=true');
    assert.ok(values(restart.deleted).includes('192.0.2.21'), JSON.stringify(restart));
  });

  it('honours the scopes filter on tombstones', async () => {
    const key = (await server.keys.create('edge-scoped', 'bouncer')).key;
    await server.store.put(decision('ip', '192.0.2.31'));
    await server.store.put(decision('range', '203.0.113.0/24'));
    await pull(server, key, '?startup=true&scopes=range');
    await server.store.delete('ip:192.0.2.31');
    await server.store.delete('range:203.0.113.0/24');
    await recorded(server);
    await trimLog(server);
    const full = await pull(server, key, '?scopes=range');
    assert.deepEqual(values(full.deleted), ['203.0.113.0/24']);
  });

  it('records deletions made while no recorder ran, from the cursor kept in Redis', async () => {
    const key = (await server.keys.create('edge-down', 'bouncer')).key;
    await server.store.put(decision('ip', '192.0.2.41'));
    await pull(server, key, '?startup=true');
    await recorded(server);
    server.recorder.closed = true; // the API is down
    await server.store.delete('ip:192.0.2.41');
    const logger = createLogger('api-test');
    const restarted = new TombstoneRecorder(
      new Tombstones(server.redis, server.keys.keys),
      server.store,
      logger,
    );
    await restarted.start();
    await restarted.settled();
    await recorded(server);
    await trimLog(server);
    const full = await pull(server, key, '');
    assert.ok(values(full.deleted).includes('192.0.2.41'), JSON.stringify(full));
    restarted.closed = true;
  });
});

describe('tombstones stay within their bounds', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ tombstones: { maxCount: 2, maxAgeMs: 3_600_000 } });
  });
  after(() => server.close());

  it('keeps the newest maxCount, and says from where deletions may be missing', async () => {
    const tombstones = new Tombstones(server.redis, server.keys.keys);
    const versions: number[] = [];
    for (const ip of ['192.0.2.51', '192.0.2.52', '192.0.2.53']) {
      await server.store.put(decision('ip', ip));
      versions.push(await server.store.delete(`ip:${ip}`));
    }
    await recorded(server);
    assert.equal(await server.redis.zcard(server.keys.keys.tombstones), 2);
    assert.equal(await server.redis.zcard(server.keys.keys.tombstoneTimes), 2);
    const kept = [];
    for await (const page of tombstones.since(0)) kept.push(...page);
    assert.deepEqual(kept, [
      { key: 'ip:192.0.2.52', version: versions[1], action: 'block' },
      { key: 'ip:192.0.2.53', version: versions[2], action: 'block' },
    ]);
    assert.equal((await tombstones.state()).floor, versions[0], 'the trimmed deletion');
  });

  it('counts a full set that may miss deletions (its cursor is older than the kept tombstones)', async () => {
    const key = (await server.keys.create('edge-behind', 'bouncer')).key;
    await pull(server, key, '?startup=true');
    for (const ip of ['192.0.2.71', '192.0.2.72', '192.0.2.73']) {
      await server.store.put(decision('ip', ip));
      await server.store.delete(`ip:${ip}`);
    }
    await recorded(server);
    await trimLog(server);
    const before = incomplete(await metricsText(server));
    const full = await pull(server, key, '');
    // Two of the three deletions are still told; the first one's tombstone was trimmed.
    assert.deepEqual(values(full.deleted), ['192.0.2.72', '192.0.2.73']);
    assert.equal(incomplete(await metricsText(server)), before + 1);
  });

  it('drops tombstones older than maxAgeMs', async () => {
    const aged = await startServer({ tombstones: { maxCount: 100, maxAgeMs: 1 } });
    try {
      await aged.store.put(decision('ip', '192.0.2.61'));
      await aged.store.delete('ip:192.0.2.61');
      await recorded(aged);
      await new Promise((resolve) => setTimeout(resolve, 10));
      await aged.store.put(decision('ip', '192.0.2.62')); // any later recording trims by age
      await recorded(aged);
      assert.equal(await aged.redis.zcard(aged.keys.keys.tombstones), 0);
      assert.equal(await aged.redis.zcard(aged.keys.keys.tombstoneTimes), 0);
    } finally {
      await aged.close();
    }
  });
});

describe('tombstone bounds from the environment', () => {
  it('reads EDGEGUARD_API_TOMBSTONES and EDGEGUARD_API_TOMBSTONE_MAX_AGE_MS', () => {
    assert.deepEqual(apiOptions({}).tombstones, { maxCount: 200_000, maxAgeMs: 86_400_000 });
    assert.deepEqual(
      apiOptions({ EDGEGUARD_API_TOMBSTONES: '10', EDGEGUARD_API_TOMBSTONE_MAX_AGE_MS: '60000' }).tombstones,
      { maxCount: 10, maxAgeMs: 60_000 },
    );
    assert.throws(
      () => apiOptions({ EDGEGUARD_API_TOMBSTONES: '0' }),
      /EDGEGUARD_API_TOMBSTONES must be a whole number from 1 to/,
    );
  });
});
