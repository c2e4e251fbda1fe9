// Operator writes through the API come back through Kafka: POST /api/decisions → decisions topic →
// the decider's store writer → Redis → the API's follower → /v1/decisions; the same for the allowlist.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey, dropPrefix, openStore, type RunningApi, startApi } from './support/api.js';
import {
  edgeguard,
  eventually,
  type RunningService,
  startService,
  stopService,
  uniquePrefix,
} from './support/services.js';

describe('operator writes through the API', { timeout: 180_000 }, () => {
  const prefix = uniquePrefix('apirt');
  const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
  const { redis } = openStore(prefix);
  let api: RunningApi;
  let decider: RunningService;
  let admin: string;

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    admin = createKey(env, 'ops', 'admin');
    decider = await startService('decider', env);
    api = await startApi(env);
  });

  after(async () => {
    await api?.stop();
    if (decider) await stopService(decider);
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${api.url}${path}`, {
      method,
      headers: { 'x-api-key': admin, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const lookup = async (ip: string) =>
    (await call('GET', `/v1/decisions?ip=${ip}`)).json() as Promise<unknown>;

  it('adds and removes a manual decision that CrowdSec bouncers then see', async () => {
    const added = await call('POST', '/api/decisions', {
      range: '203.0.113.0/24',
      action: 'block',
      duration: '1h',
      reason: 'abuse report',
    });
    assert.equal(added.status, 202);
    const seen = (await eventually(
      'the manual decision served',
      async () => {
        const found = (await lookup('203.0.113.9')) as Array<Record<string, string>> | null;
        return found ?? undefined;
      },
      30_000,
    )) as Array<Record<string, string>>;
    assert.deepEqual(
      seen.map((d) => [d.value, d.type, d.origin, d.scenario]),
      [['203.0.113.0/24', 'ban', 'manual', 'edgeguard/abuse report']],
    );
    assert.equal((await call('DELETE', '/api/decisions?range=203.0.113.0/24')).status, 202);
    await eventually(
      'the removal served',
      async () => ((await lookup('203.0.113.9')) === null ? true : undefined),
      30_000,
    );
  });

  it('adds an allowlist entry that explain then reports', async () => {
    assert.equal(
      (await call('POST', '/api/allowlist', { cidr: '198.51.100.0/28', comment: 'monitoring' })).status,
      202,
    );
    const explained = (await eventually(
      'the allowlist entry stored',
      async () => {
        const body = (await (await call('GET', '/api/explain?ip=198.51.100.3')).json()) as {
          verdict: string;
          allowlist: Array<{ cidr: string; comment: string }>;
        };
        return body.allowlist.length > 0 ? body : undefined;
      },
      30_000,
    )) as { verdict: string; allowlist: Array<{ cidr: string; comment: string }> };
    assert.equal(explained.verdict, 'allow');
    assert.deepEqual(
      explained.allowlist.map((e) => [e.cidr, e.comment]),
      [['198.51.100.0/28', 'monitoring']],
    );
  });
});
