// `edgeguard run api` when Redis loses the API keys (a flush, a restart without persistence):
// /readyz says so and the log says how to recover, until keys are re-created.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey, dropPrefix, openStore, type RunningApi, startApi } from './support/api.js';
import { edgeguard, eventually, uniquePrefix } from './support/services.js';

describe('the API when Redis loses its keys', { timeout: 120_000 }, () => {
  const prefix = uniquePrefix('apikeys');
  const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
  const { redis } = openStore(prefix);
  let api: RunningApi;

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    createKey(env, 'edge-1', 'bouncer');
    api = await startApi(env);
  });
  after(async () => {
    await api?.stop();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('reports not ready with the reason and logs the recovery, then is ready once keys are re-created', async () => {
    assert.equal((await fetch(`${api.url}/readyz`)).status, 200);
    // Only this test's keys: the shared Redis is never flushed.
    await redis.del(`{${prefix}api}:keys`, `{${prefix}api}:keyhash`);
    const reason = await eventually(
      'readyz 503',
      async () => {
        const response = await fetch(`${api.url}/readyz`);
        return response.status === 503 ? response.text() : undefined;
      },
      15_000,
    );
    assert.match(reason, /API key store .* is empty .*edgeguard keys create/);
    assert.match(api.output(), /API keys lost: not ready/);

    const key = createKey(env, 'edge-1', 'bouncer');
    await eventually(
      'readyz 200',
      async () => ((await fetch(`${api.url}/readyz`)).status === 200 ? true : undefined),
      15_000,
    );
    const lookup = await fetch(`${api.url}/v1/decisions?ip=192.0.2.1`, { headers: { 'x-api-key': key } });
    assert.equal(lookup.status, 200);
  });
});
