// The live query's filters combined: `value=` beside `ip=`/`range=` narrows the covering decisions
// to those of that value (CrowdSec's LAPI ANDs them), rather than replacing the address.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decision } from './support/decision.js';
import { startServer, type TestServer } from './support/server.js';

// biome-ignore lint/suspicious/noExplicitAny: CrowdSec JSON, checked field by field
type Body = any;

describe('CrowdSec live query: ip/range with value', { timeout: 30_000 }, () => {
  let server: TestServer;
  let key: string;
  const live = async (query: string): Promise<Body> => {
    const response = await fetch(`${server.url}/v1/decisions?${query}`, { headers: { 'x-api-key': key } });
    assert.equal(response.status, 200, `${query}: ${await response.clone().text()}`);
    return response.json();
  };
  const values = (body: Body): string[] | null =>
    body === null ? null : body.map((d: Body) => d.value).sort();

  before(async () => {
    server = await startServer();
    key = (await server.keys.create('edge-live-filters', 'bouncer')).key;
    await server.store.put(decision('ip', '198.51.100.7'));
    await server.store.put(decision('range', '198.51.100.0/24'));
    await server.store.put(decision('ip', '203.0.113.9'));
    for (let i = 0; i < 100 && (values(await live('ip=198.51.100.7'))?.length ?? 0) < 2; i++) await sleep(50);
  });
  after(() => server.close());

  it('answers the decisions covering the address whose value is the one asked, as CrowdSec does', async () => {
    assert.deepEqual(values(await live('ip=198.51.100.7')), ['198.51.100.0/24', '198.51.100.7']);
    assert.deepEqual(values(await live('ip=198.51.100.7&value=198.51.100.0/24')), ['198.51.100.0/24']);
    assert.deepEqual(values(await live('ip=198.51.100.7&value=198.51.100.7')), ['198.51.100.7']);
    // another value: nothing covers the address with it (before: 203.0.113.9's decision)
    assert.equal(await live('ip=198.51.100.7&value=203.0.113.9'), null);
    assert.equal(await live('range=198.51.100.0/24&value=203.0.113.9'), null);
    assert.deepEqual(values(await live('range=198.51.100.0/24&value=198.51.100.0/24')), ['198.51.100.0/24']);
    // value alone still names the address
    assert.deepEqual(values(await live('value=203.0.113.9')), ['203.0.113.9']);
    assert.deepEqual(values(await live('scope=ip&value=203.0.113.9')), ['203.0.113.9']);
  });
});
