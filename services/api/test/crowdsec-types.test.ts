// A CrowdSec bouncer holds decisions by value and type (ban, captcha, throttle): when a decision's
// action changes, or a captcha goes, the stream must delete the type the bouncer holds — in deltas,
// full sets and from change-log entries and tombstones written before they kept the action.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decision } from './support/decision.js';
import { recorded, startServer, type TestServer, trimLog } from './support/server.js';

// biome-ignore lint/suspicious/noExplicitAny: CrowdSec JSON, checked field by field
type Body = any;

/** `value type` of each entry, sorted. */
const typed = (list: Body, prefix = ''): string[] =>
  (list ?? [])
    .filter((d: Body) => d.value.startsWith(prefix))
    .map((d: Body) => `${d.value} ${d.type}`)
    .sort();

describe('CrowdSec stream: decision types', { timeout: 60_000 }, () => {
  let server: TestServer;
  let key: string;
  const pull = async (query = ''): Promise<Body> => {
    const response = await fetch(`${server.url}/v1/decisions/stream${query}`, {
      headers: { 'x-api-key': key },
    });
    assert.equal(response.status, 200, await response.clone().text());
    return response.json();
  };
  /** Appends a change-log entry as the store wrote them before entries kept actions. */
  const oldEntry = async (...fields: string[]) => {
    const version = (await server.store.version()) + 1;
    await server.redis.set(server.store.keys.sequence, String(version));
    await server.redis.xadd(server.store.keys.changes, `${version}-0`, ...fields);
  };

  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('a delta deletes the type a changed decision had, and a deleted captcha as a captcha', async () => {
    key = (await server.keys.create('edge-types', 'bouncer')).key;
    const { store } = server;
    await store.put(decision('ip', '192.0.2.1'));
    await store.put(decision('ip', '192.0.2.2', { action: 'challenge' }));
    await store.put(decision('ip', '192.0.2.3'));
    await store.put(decision('ip', '192.0.2.4', { action: 'throttle' }));
    assert.deepEqual(typed((await pull('?startup=true')).new), [
      '192.0.2.1 ban',
      '192.0.2.2 captcha',
      '192.0.2.3 ban',
      '192.0.2.4 throttle',
    ]);

    await store.put(decision('ip', '192.0.2.1', { action: 'challenge' })); // weakened
    await store.put(decision('ip', '192.0.2.2')); // escalated
    await store.put(decision('ip', '192.0.2.3', { reason: 'crawler' })); // same type: no deletion
    await store.delete('ip:192.0.2.4');
    const delta = await pull();
    assert.deepEqual(typed(delta.new), ['192.0.2.1 captcha', '192.0.2.2 ban', '192.0.2.3 ban']);
    assert.deepEqual(typed(delta.deleted), ['192.0.2.1 ban', '192.0.2.2 captcha', '192.0.2.4 throttle']);

    // Deleted in a later pull than the one that added it: still its own type.
    await store.delete('ip:192.0.2.1');
    assert.deepEqual(typed((await pull()).deleted), ['192.0.2.1 captcha']);

    // Several changes in one window: the bouncer is told to drop the type it held.
    await store.put(decision('ip', '192.0.2.2', { action: 'challenge' }));
    await store.put(decision('ip', '192.0.2.2', { action: 'throttle' }));
    await store.delete('ip:192.0.2.2');
    assert.deepEqual(typed((await pull()).deleted), ['192.0.2.2 ban', '192.0.2.2 throttle']);
    await store.put(decision('ip', '192.0.2.3', { action: 'challenge' }));
    await store.put(decision('ip', '192.0.2.3'));
    const back = await pull();
    assert.deepEqual(
      [typed(back.new), back.deleted],
      [['192.0.2.3 ban'], null],
      'held as a ban: nothing to drop',
    );
  });

  it('a full set deletes replaced types and deleted captchas from the tombstones', async () => {
    key = (await server.keys.create('edge-types-full', 'bouncer')).key;
    const { store } = server;
    await store.put(decision('ip', '192.0.2.11'));
    await store.put(decision('ip', '192.0.2.12', { action: 'challenge' }));
    await store.put(decision('ip', '192.0.2.13'));
    await pull('?startup=true');
    await store.put(decision('ip', '192.0.2.11', { action: 'challenge' }));
    await store.delete('ip:192.0.2.12');
    await store.put(decision('ip', '192.0.2.13', { action: 'challenge' }));
    await store.put(decision('ip', '192.0.2.13')); // back to a ban: held as a ban, nothing to drop
    await recorded(server);
    await trimLog(server);
    const full = await pull();
    assert.deepEqual(typed(full.new, '192.0.2.1'), ['192.0.2.11 captcha', '192.0.2.13 ban']);
    // 192.0.2.13's replaced captcha tombstone is sent (the bouncer may hold none: a no-op for it).
    assert.deepEqual(typed(full.deleted), ['192.0.2.11 ban', '192.0.2.12 captcha', '192.0.2.13 captcha']);
    assert.deepEqual(await pull(), { new: null, deleted: null }, 'the cursor moved');
  });

  it('entries written before the log kept actions: deletions go out as ban, as before', async () => {
    key = (await server.keys.create('edge-types-old', 'bouncer')).key;
    const { store } = server;
    await store.put(decision('ip', '192.0.2.21', { action: 'challenge' }));
    await pull('?startup=true');
    await store.delete('ip:192.0.2.21'); // hand the stored payload over to an old-format log below
    await pull();
    const old = decision('ip', '192.0.2.22', { action: 'challenge' });
    await oldEntry('op', 'add', 'key', old.key, 'decision', JSON.stringify(old));
    assert.deepEqual(typed((await pull()).new), ['192.0.2.22 captcha']);
    await oldEntry('op', 'del', 'key', old.key, 'reason', 'removed');
    assert.deepEqual(typed((await pull()).deleted), ['192.0.2.22 ban'], 'the type is not known: ban');
    // A tombstone recorded before tombstones kept actions (the bare key) also reads as a ban.
    await store.put(decision('ip', '192.0.2.24')); // moves the store past the key's cursor
    await recorded(server);
    await server.redis.zadd(server.keys.keys.tombstones, String(await store.version()), 'ip:192.0.2.23');
    await trimLog(server);
    const full = await pull();
    assert.ok(typed(full.deleted).includes('192.0.2.23 ban'), JSON.stringify(full));
  });
});
