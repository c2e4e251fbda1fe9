// The authenticator against a real key store in Redis: made-up keys are answered from a cache of
// their own (they cannot push the real keys out), and their Redis lookups are budgeted per second.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { Authenticator, KEY_CACHE_TTL_MS, KEY_LOOKUPS_PER_SECOND } from '../src/auth.js';
import { ApiError } from '../src/errors.js';
import { ApiKeyStore } from '../src/keys.js';
import { apiOptions } from '../src/options.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `test.auth.${process.pid}.${Date.now().toString(36)}.`;
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** The error code of a failed authentication (sync throw or rejection), or 'ok'. */
async function outcome(auth: Authenticator, key: string): Promise<string> {
  try {
    await auth.authenticate({ 'x-api-key': key }, 'bouncer');
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof ApiError, String(error));
    return `${error.status} ${error.code}`;
  }
}

test('a flood of unknown keys: lookups budgeted per second, real keys stay cached', {
  timeout: 60_000,
}, async () => {
  const store = new ApiKeyStore(redis, prefix);
  const { key } = await store.create('edge-1', 'bouncer');
  const clock = { now: 1_000_000 };
  const auth = new Authenticator(store, { rate: 0, burst: 0 }, undefined, () => clock.now);
  assert.equal(await outcome(auth, key), 'ok');
  clock.now += 1000; // that lookup counted in its own second

  // One second: the first KEY_LOOKUPS_PER_SECOND made-up keys are looked up (401), the rest 429.
  const results = new Map<string, number>();
  for (let i = 0; i < KEY_LOOKUPS_PER_SECOND + 100; i++) {
    const code = await outcome(auth, `made-up-${i}`);
    results.set(code, (results.get(code) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(results), {
    '401 unknown-key': KEY_LOOKUPS_PER_SECOND,
    '429 too-many-key-lookups': 100,
  });
  // A key already found unknown is answered from its cache without a lookup, even over budget.
  assert.equal(await outcome(auth, 'made-up-3'), '401 unknown-key');

  // 12,000 more made-up keys over the next seconds (more than the key cache holds): the real key is
  // still answered synchronously from the cache, no Redis round trip. Each (test-clock) second's
  // budget of lookups goes out at once, so that the flood ends well inside the real key's cache
  // time (wall clock): one lookup after another took ~5 s on a slow CI machine, and the entry then
  // expired for its age, not for the flood.
  const floodStarted = performance.now();
  for (let i = 0; i < 12_000; i += KEY_LOOKUPS_PER_SECOND) {
    clock.now += 1000;
    const second = Array.from({ length: KEY_LOOKUPS_PER_SECOND }, (_, k) => outcome(auth, `flood-${i + k}`));
    for (const code of await Promise.all(second)) assert.equal(code, '401 unknown-key');
  }
  const floodMs = performance.now() - floodStarted;
  assert.ok(
    floodMs < KEY_CACHE_TTL_MS / 2,
    `the flood took ${Math.round(floodMs)} ms: too slow to test the cache`,
  );
  const answer = auth.authenticate({ 'x-api-key': key }, 'bouncer');
  assert.ok(!(answer instanceof Promise), 'the real key is still cached');
  assert.equal(answer.name, 'edge-1');

  // Once its cache entry expired, a real key is looked up again (revocation), outside the budget
  // a flood of made-up keys has used up: it is never locked out.
  await new Promise((resolve) => setTimeout(resolve, KEY_CACHE_TTL_MS + 100));
  clock.now += 1000;
  for (let i = 0; i < KEY_LOOKUPS_PER_SECOND; i++) await outcome(auth, `burst-${i}`);
  assert.equal(await outcome(auth, 'one-too-many'), '429 too-many-key-lookups');
  const again = auth.authenticate({ 'x-api-key': key }, 'bouncer');
  assert.ok(again instanceof Promise, 'looked up again after the cache time');
  assert.equal((await again).name, 'edge-1');
});

test('EDGEGUARD_API_RATE_BURST below one request is refused at start while a rate is set', () => {
  assert.equal(apiOptions({ EDGEGUARD_API_RATE_LIMIT: '10' }).rateBurst, 20);
  assert.throws(
    () => apiOptions({ EDGEGUARD_API_RATE_LIMIT: '10', EDGEGUARD_API_RATE_BURST: '0' }),
    /EDGEGUARD_API_RATE_BURST must be a whole number from 1 to \d+, not "0"/,
  );
  assert.equal(apiOptions({ EDGEGUARD_API_RATE_LIMIT: '0', EDGEGUARD_API_RATE_BURST: '0' }).rateBurst, 0);
});
