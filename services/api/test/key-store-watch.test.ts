// KeyStoreWatch against the real Redis key store: a store that lost its keys is reported (and
// logged once) when keys are expected, and not for a fresh install waiting for its first key.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { ApiKeyStore, KeyStoreWatch } from '../src/keys.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `test.keywatch.${process.pid}.${Date.now().toString(36)}.`;
after(async () => {
  const keys = await redis.keys(`{${prefix}api}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

function recorder() {
  const lines: string[] = [];
  return {
    lines,
    error: (_: object, msg: string) => lines.push(`error ${msg}`),
    info: (_: object, msg: string) => lines.push(`info ${msg}`),
  };
}

test('a key store emptied after keys were seen makes the API not ready until keys are re-created', async () => {
  const store = new ApiKeyStore(redis, prefix);
  const log = recorder();
  const watch = new KeyStoreWatch(store, false, log);
  await watch.check();
  assert.equal(watch.problem, null, 'a fresh install is ready before its first key');
  await store.create('edge-1', 'bouncer');
  await watch.check();
  assert.equal(watch.problem, null);
  await redis.del(store.keys.records, store.keys.byHash); // what FLUSHALL or a restart without persistence does
  await watch.check();
  await watch.check();
  assert.match(watch.problem ?? '', /API key store .* is empty .*edgeguard keys create/);
  assert.deepEqual(log.lines, ['error API keys lost: not ready'], 'logged once');
  await store.create('edge-1', 'bouncer');
  await watch.check();
  assert.equal(watch.problem, null);
  assert.deepEqual(log.lines, ['error API keys lost: not ready', 'info API keys readable again: ready']);
});

test('EDGEGUARD_API_REQUIRE_KEYS: an empty key store is not ready from the start; an unreadable one never is', async () => {
  const store = new ApiKeyStore(redis, `${prefix}required.`);
  const watch = new KeyStoreWatch(store, true, recorder());
  await watch.check();
  assert.match(watch.problem ?? '', /is empty/);
  await redis.set(store.keys.records, 'not a hash');
  await watch.check();
  assert.match(watch.problem ?? '', /unreadable: WRONGTYPE/);
  await redis.del(store.keys.records);
});
