// The CrowdSec endpoints over the real Redis store, served in this process: what a bouncer with
// filters is sent, and what it must never be sent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decision } from './support/decision.js';
import { startServer, type TestServer } from './support/server.js';

// biome-ignore lint/suspicious/noExplicitAny: CrowdSec JSON, checked field by field
type Body = any;

describe('CrowdSec stream and live lookups', { timeout: 60_000 }, () => {
  let server: TestServer;
  let key: string;
  const pull = async (query: string): Promise<Body> => {
    const response = await fetch(`${server.url}/v1/decisions/stream${query}`, {
      headers: { 'x-api-key': key },
    });
    assert.equal(response.status, 200, await response.clone().text());
    return response.json();
  };

  before(async () => {
    server = await startServer();
    key = (await server.keys.create('edge-1', 'bouncer')).key;
  });
  after(() => server.close());

  it('sends a filtered bouncer the deletion of a decision it was sent, whatever its filters', async () => {
    const { store } = server;
    await store.put(decision('ip', '192.0.2.10', { reason: 'scanner', origin: 'manual' }));
    await store.put(decision('ip', '192.0.2.11', { reason: 'crawler' }));
    await store.put(decision('range', '198.51.100.0/24', { reason: 'scanner' }));
    for (const filters of [
      'scenarios_containing=scanner',
      'origins=manual',
      'scenarios_not_containing=deleted',
    ]) {
      key = (await server.keys.create(`edge-${filters.split('=')[0]}`, 'bouncer')).key;
      const startup = await pull(`?startup=true&${filters}`);
      const held = new Set<string>(startup.new.map((d: Body) => d.value));
      assert.ok(held.has('192.0.2.10'), `${filters}: ${JSON.stringify(startup.new)}`);
      // Deleted between two pulls: the next pull must carry the deletion, or the bouncer blocks forever.
      await store.delete('ip:192.0.2.10');
      await store.delete('range:198.51.100.0/24');
      const delta = await pull(`?${filters}`);
      const deleted = (delta.deleted ?? []).map((d: Body) => d.value).sort();
      for (const value of held) {
        if (value === '192.0.2.11') continue;
        assert.ok(deleted.includes(value), `${filters}: ${value} deleted, got ${JSON.stringify(delta)}`);
      }
      await store.put(decision('ip', '192.0.2.10', { reason: 'scanner', origin: 'manual' }));
      await store.put(decision('range', '198.51.100.0/24', { reason: 'scanner' }));
    }
  });

  it('still honours the scopes filter on deletions', async () => {
    key = (await server.keys.create('edge-ranges', 'bouncer')).key;
    await server.store.put(decision('ip', '192.0.2.12'));
    await server.store.put(decision('range', '203.0.113.0/24'));
    await pull('?startup=true&scopes=range');
    await server.store.delete('ip:192.0.2.12');
    await server.store.delete('range:203.0.113.0/24');
    const delta = await pull('?scopes=range');
    assert.deepEqual(
      delta.deleted.map((d: Body) => [d.value, d.scope]),
      [['203.0.113.0/24', 'Range']],
    );
  });

  describe('the allowlist always wins', () => {
    const lookup = async (query: string): Promise<Body> => {
      const response = await fetch(`${server.url}/v1/decisions?${query}`, { headers: { 'x-api-key': key } });
      assert.equal(response.status, 200, await response.clone().text());
      return response.json();
    };
    /** The live answer once the in-memory follower has seen the writes (a feed round trip). */
    const settled = async (query: string, done: (body: Body) => boolean): Promise<Body> => {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const body = await lookup(query);
        if (done(body) || Date.now() > deadline) return body;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const values = (body: Body) => (body ?? []).map((d: Body) => d.value).sort();

    it('never answers an allowlisted address or range as a ban in live lookups', async () => {
      key = (await server.keys.create('edge-live', 'bouncer')).key;
      await server.store.put(decision('ip', '192.0.2.20'));
      await server.store.put(decision('range', '198.51.100.0/24', { reason: 'swarm' }));
      await server.store.put(decision('ip', '2001:db8::20'));
      assert.deepEqual(values(await settled('ip=192.0.2.20', (b) => b !== null)), ['192.0.2.20']);
      await server.store.allow('192.0.2.20', 'partner');
      await server.store.allow('198.51.100.7', 'monitoring probe');
      await server.store.allow('2001:db8::/64', 'office');
      assert.equal(await lookup('ip=192.0.2.20'), null);
      assert.equal(await lookup('ip=198.51.100.7'), null, 'inside a banned range, allowlisted');
      assert.equal(await lookup('ip=2001:db8::20'), null);
      assert.deepEqual(
        values(await lookup('ip=198.51.100.8')),
        ['198.51.100.0/24'],
        'its neighbour stays banned',
      );
      assert.equal(await lookup('range=198.51.100.0/24'), null, 'the range holds an allowlisted address');
      assert.equal(await lookup('scope=ip&value=192.0.2.20'), null);
      const all = values(await lookup(''));
      assert.ok(!all.includes('192.0.2.20') && !all.includes('2001:db8::20'), JSON.stringify(all));
      assert.ok(!all.includes('198.51.100.0/24'), 'a range covering an allowlisted address is not listed');
    });

    it('never streams an allowlisted decision; an allowlist change reaches a bouncer as delete / new', async () => {
      key = (await server.keys.create('edge-allow-stream', 'bouncer')).key;
      await server.store.put(decision('ip', '203.0.113.9'));
      await server.store.put(decision('range', '203.0.113.128/25'));
      const startup = await pull('?startup=true');
      const held = values(startup.new);
      assert.ok(held.includes('203.0.113.9') && held.includes('203.0.113.128/25'), JSON.stringify(held));
      for (const allowlisted of ['192.0.2.20', '198.51.100.0/24', '2001:db8::20'])
        assert.ok(!held.includes(allowlisted), `${allowlisted} streamed at startup although allowlisted`);

      await server.store.allow('203.0.113.0/24', 'customer network');
      const allowed = await pull('');
      assert.deepEqual(values(allowed.deleted), ['203.0.113.128/25', '203.0.113.9']);
      assert.equal(allowed.new, null);
      await server.store.put(decision('ip', '203.0.113.10'));
      assert.deepEqual(await pull(''), { new: null, deleted: null }, 'a decision inside the allowlist');

      await server.store.disallow('203.0.113.0/24');
      const disallowed = await pull('');
      assert.deepEqual(values(disallowed.new), ['203.0.113.10', '203.0.113.128/25', '203.0.113.9']);
      assert.equal(disallowed.deleted, null);
    });

    it('sends allowlisted decisions as deletions when a pull falls back to a full set', async () => {
      key = (await server.keys.create('edge-allow-resync', 'bouncer')).key;
      await server.store.put(decision('ip', '203.0.113.60'));
      await server.store.put(decision('ip', '203.0.113.61'));
      assert.ok(values((await pull('?startup=true')).new).includes('203.0.113.60'));
      await server.store.allow('203.0.113.60', 'customer');
      // The change log cannot serve this bouncer's cursor (as after a trim or a rebuilt store).
      await server.redis.hset(server.keys.keys.cursors, 'edge-allow-resync', String(Number.MAX_SAFE_INTEGER));
      const full = await pull('');
      assert.ok(values(full.new).includes('203.0.113.61'), 'a full set');
      assert.ok(!values(full.new).includes('203.0.113.60'));
      assert.ok(values(full.deleted).includes('203.0.113.60'), JSON.stringify(full.deleted));
      assert.ok(full.deleted.every((d: Body) => d.duration === '-1s' && d.until === undefined));
    });
  });
});
