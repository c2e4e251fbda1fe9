// Operator writes through the API go to the partition the decider uses for their key. The API
// produced them all to partition 0: on a decisions topic of more than one partition (the decider,
// its store writer and `edgeguard decisions` all follow the topic's count), an operator's decision
// or deletion landed beside the decider's records for the key instead of after them, and
// compaction, which is per partition, kept a last record for the key in each.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKafka, kafkaEnvironment } from '@edgeguard/kafka';
import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import { createLogger } from '@edgeguard/telemetry';
import type { Admin } from 'kafkajs';
import { createKey, dropPrefix, openStore, type RunningApi, startApi } from './support/api.js';
import { edgeguard, uniquePrefix } from './support/services.js';

describe('API writes on a decisions topic of three partitions', { timeout: 120_000 }, () => {
  const prefix = uniquePrefix('apipart');
  const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
  const { redis } = openStore(prefix);
  const kafka = createKafka({
    brokers: kafkaEnvironment().brokers,
    clientId: 'api-partitions-test',
    logger: createLogger('test', {}, 'silent'),
  });
  let admin: Admin;
  let api: RunningApi;
  let key: string;

  before(async () => {
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: prefix + TOPICS.decisions,
          numPartitions: 3,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
    });
    // The rest as usual; `ensure` reports the decisions topic's count (exit 1) and leaves it.
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.match(ensure.stdout + ensure.stderr, /3 partition\(s\), expected 1/);
    key = createKey(env, 'ops', 'admin');
    api = await startApi(env);
  });

  after(async () => {
    await api?.stop();
    await admin?.deleteTopics({ topics: [prefix + TOPICS.decisions] }).catch(() => undefined);
    await admin?.disconnect();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const ends = async () =>
    (await admin.fetchTopicOffsets(prefix + TOPICS.decisions))
      .sort((a, b) => a.partition - b.partition)
      .map((o) => Number(o.high));

  it('produces a manual decision and its deletion to the key’s partition', async () => {
    // An address whose key is not on partition 0, so that the old behaviour shows.
    let ip = '';
    for (let i = 1; !ip; i++) if (partitionFor(`ip:192.0.2.${i}`, 3) !== 0) ip = `192.0.2.${i}`;
    const partition = partitionFor(`ip:${ip}`, 3);
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${api.url}${path}`, {
        method,
        headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const expected = [0, 0, 0];
    const added = await call('POST', '/api/decisions', {
      ip,
      action: 'block',
      duration: '1h',
      reason: 'test',
    });
    assert.equal(added.status, 202, await added.text());
    expected[partition]! += 1;
    assert.deepEqual(await ends(), expected);
    const removed = await call('DELETE', `/api/decisions?ip=${ip}`);
    assert.equal(removed.status, 202, await removed.text());
    expected[partition]! += 1;
    assert.deepEqual(await ends(), expected);
  });
});
