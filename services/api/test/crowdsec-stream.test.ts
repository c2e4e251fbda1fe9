// The CrowdSec endpoints over the real Redis store, served in this process: what a bouncer with
// filters is sent, and what it must never be sent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Decision } from '@edgeguard/schema';
import { startServer, type TestServer } from './support/server.js';

// biome-ignore lint/suspicious/noExplicitAny: CrowdSec JSON, checked field by field
type Body = any;

let version = 1;
function decision(scope: 'ip' | 'range', value: string, overrides: Partial<Decision> = {}): Decision {
  const now = Date.now();
  return {
    key: `${scope}:${value}`,
    scope,
    value,
    action: 'block',
    reason: 'scanner',
    signals: [],
    score: 1,
    decidedAt: now,
    expiresAt: now + 3_600_000,
    origin: 'auto',
    version: version++,
    ...overrides,
  };
}

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
});
