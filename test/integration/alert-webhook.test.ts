// The decider's alert webhook (packages/kafka alert-webhook.ts) over the real broker, delivering
// to a real local HTTP server: each alert on the `alerts` topic reaches the webhook once, 5xx are
// retried, other 4xx fail at once without blocking the next alert, and a restart neither sends a
// delivered alert again nor loses one produced while it was down.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardAlert } from '@edgeguard/detect';
import { AlertWebhook, createProducer, HEADERS, kafkaEnvironment } from '@edgeguard/kafka';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { eventually } from './support/services.js';
import { WebhookServer } from './support/webhook.js';

const prefix = `t-alerts-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.`;
const topic = `${prefix}alerts`;

function alert(state: 'tripped' | 'released', time: number, held = 1): GuardAlert {
  return {
    kind: 'blast-radius',
    time,
    state,
    message:
      state === 'tripped'
        ? 'automatic decisions held until …: decisions would cover 6 established benign clients (threshold 5 of 40 active)'
        : `automatic decisions resumed; ${held} were held`,
    coveredEstablished: state === 'tripped' ? 6 : 0,
    activeEstablished: 40,
    threshold: state === 'tripped' ? 5 : 0,
    heldUntil: time + 600_000,
    held,
    sampleKeys: ['ip:198.51.100.6'],
  };
}

/** A counter's value for one label set (0 when absent). */
async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return found?.value ?? 0;
}

describe('the alert webhook', { timeout: 180_000 }, () => {
  const kafka = new Kafka({
    clientId: 't-alerts',
    brokers: kafkaEnvironment().brokers,
    logLevel: logLevel.NOTHING,
  });
  const webhook = new WebhookServer();
  let url = '';
  let producer: Producer;
  let metrics: Metrics;
  let companion: AlertWebhook;
  let seq = 0;
  const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);

  function startCompanion(): AlertWebhook {
    metrics = new Metrics('decider');
    companion = new AlertWebhook({
      kafka,
      prefix,
      logger: createLogger('t-alerts', {}, 'silent'),
      metrics,
      settings: { url, headers: { Authorization: 'Bearer t0ken' }, shown: 'http://127.0.0.1/…' },
      policy: { backoffMs: 100, maxBackoffMs: 400, maxAttempts: 4, timeoutMs: 2_000 },
      maxWaitTimeInMs: 100,
    });
    return companion;
  }

  /** Produces as the decider's stage does: source and sequence headers, one JSON alert. */
  async function produce(value: GuardAlert | string, sequence = ++seq): Promise<void> {
    await producer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: 'blast-radius',
          value: typeof value === 'string' ? value : JSON.stringify(value),
          headers: {
            [HEADERS.source]: 'decider/0',
            [HEADERS.sequence]: String(sequence),
            [HEADERS.eventTime]: String(T0),
          },
        },
      ],
    });
  }

  before(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    producer = createProducer(kafka);
    await producer.connect();
    url = `http://127.0.0.1:${await webhook.listen()}/hooks/T0/s3cret`;
  });

  after(async () => {
    await companion?.stop();
    await producer?.disconnect();
    await webhook.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([`${prefix}alert-webhook`]).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it("starts at the topic's end (no page for old alerts) and keeps that place over a restart before its first alert", async () => {
    await produce(alert('tripped', T0 - 86_400_000)); // before the webhook was enabled
    await startCompanion().start();
    await companion.stop();
    await produce(alert('tripped', T0 - 1_000)); // while no decider was up
    await startCompanion().start();
    await eventually('the alert from the downtime', () => webhook.requests[0], 30_000);
    await sleep(1_000);
    assert.deepEqual(
      webhook.requests.map((r) => (r.body.alert as GuardAlert).time),
      [T0 - 1_000],
    );
    webhook.requests.length = 0;
    await companion.stop();
    await startCompanion().start();
  });

  it('POSTs a tripped alert once: a readable text line, the alert record, its source', async () => {
    await produce(alert('tripped', T0));
    const request = await eventually('the webhook request', () => webhook.requests[0], 30_000);
    assert.equal(request!.path, '/hooks/T0/s3cret');
    assert.equal(request!.headers.authorization, 'Bearer t0ken');
    assert.equal(request!.headers['content-type'], 'application/json');
    assert.equal(
      request!.body.text,
      'edgeguard blast-radius guard TRIPPED at 2026-11-29T12:00:00.000Z (decider/0): automatic decisions held until …: decisions would cover 6 established benign clients (threshold 5 of 40 active)',
    );
    assert.deepEqual(request!.body.alert, alert('tripped', T0));
    assert.equal(request!.body.source, 'decider/0');
    await sleep(1_000);
    assert.equal(webhook.requests.length, 1, 'delivered once');
    assert.equal(await counter(metrics, 'edgeguard_alert_deliveries_total', { result: 'delivered' }), 1);
  });

  it('retries a 500 and delivers once on the 200 after it', async () => {
    webhook.requests.length = 0;
    webhook.statuses.push(500);
    await produce(alert('released', T0 + 1, 7));
    await eventually(
      'the retry delivered',
      () => (webhook.delivered().length === 1 ? true : undefined),
      30_000,
    );
    await sleep(1_000);
    assert.deepEqual(
      webhook.requests.map((r) => r.status),
      [500, 200],
    );
    assert.equal((webhook.delivered()[0]!.alert as GuardAlert).held, 7);
    assert.equal(await counter(metrics, 'edgeguard_alert_delivery_attempts_total', { outcome: 'retry' }), 1);
    assert.equal(await counter(metrics, 'edgeguard_alert_deliveries_total', { result: 'delivered' }), 2);
  });

  it('counts a 400 as failed at once and goes on with the next alert', async () => {
    webhook.requests.length = 0;
    webhook.statuses.push(400);
    await produce(alert('tripped', T0 + 2));
    await produce(alert('released', T0 + 3, 2));
    await eventually(
      'the next alert delivered',
      () => (webhook.delivered().length === 1 ? true : undefined),
      30_000,
    );
    assert.deepEqual(
      webhook.requests.map((r) => [r.status, (r.body.alert as GuardAlert).time]),
      [
        [400, T0 + 2],
        [200, T0 + 3],
      ],
    );
    assert.equal(await counter(metrics, 'edgeguard_alert_deliveries_total', { result: 'failed' }), 1);
  });

  it('gives up on an endpoint that keeps failing after its attempts and goes on', async () => {
    webhook.requests.length = 0;
    webhook.statuses.push(503, 503, 503, 503);
    await produce(alert('tripped', T0 + 4));
    await produce(alert('released', T0 + 5, 3));
    await eventually(
      'the next alert delivered',
      () => (webhook.delivered().length === 1 ? true : undefined),
      30_000,
    );
    assert.deepEqual(
      webhook.requests.map((r) => r.status),
      [503, 503, 503, 503, 200],
    );
    assert.equal(await counter(metrics, 'edgeguard_alert_deliveries_total', { result: 'failed' }), 2);
  });

  it('skips and counts an undecodable record and a duplicate (a restarted decider regenerating an alert)', async () => {
    webhook.requests.length = 0;
    await produce('{not json');
    await produce(JSON.stringify({ kind: 'blast-radius', state: 'maybe' }));
    const duplicate = seq - 2; // the sequence of an alert handled before
    await produce(alert('tripped', T0 + 2), duplicate);
    await produce(alert('tripped', T0 + 6));
    await eventually(
      'the good alert delivered',
      () => (webhook.delivered().length === 1 ? true : undefined),
      30_000,
    );
    await sleep(1_000);
    assert.equal(webhook.requests.length, 1);
    assert.equal((webhook.requests[0]!.body.alert as GuardAlert).time, T0 + 6);
    assert.equal(
      await counter(metrics, 'edgeguard_alert_records_skipped_total', { reason: 'undecodable' }),
      2,
    );
    assert.equal(await counter(metrics, 'edgeguard_alert_records_skipped_total', { reason: 'duplicate' }), 1);
  });

  it('after a restart sends nothing delivered again, and delivers what came while it was down', async () => {
    assert.equal(await counter(metrics, 'edgeguard_alert_webhook_running', {}), 1, 'running before the stop');
    await companion.stop();
    assert.equal(
      await counter(metrics, 'edgeguard_alert_webhook_running', {}),
      0,
      'not running once stopped',
    );
    webhook.requests.length = 0;
    await produce(alert('released', T0 + 7, 4));
    // The decider restarted too and regenerated its last alert before the restart: same sequence.
    await produce(alert('released', T0 + 7, 4), seq);
    await startCompanion().start();
    await eventually(
      'the alert from the downtime',
      () => (webhook.delivered().length >= 1 ? true : undefined),
      30_000,
    );
    await sleep(2_000);
    assert.deepEqual(
      webhook.requests.map((r) => (r.body.alert as GuardAlert).time),
      [T0 + 7],
    );
    assert.equal(await counter(metrics, 'edgeguard_alert_webhook_running', {}), 1, 'running again');
    assert.equal(await counter(metrics, 'edgeguard_alert_records_skipped_total', { reason: 'duplicate' }), 1);
  });

  it('delivers the new alerts of a decider that numbers from 1 again (its checkpoint lost), not its replayed old ones', async () => {
    webhook.requests.length = 0;
    const duplicates = await counter(metrics, 'edgeguard_alert_records_skipped_total', {
      reason: 'duplicate',
    });
    // Redis emptied: the decider replays its input from the start and numbers its outputs from 1.
    await produce(alert('tripped', T0 + 2), 1); // an old alert regenerated: dropped
    await produce(alert('tripped', T0 + 9), 2); // a new one: seq below the last, but later
    await eventually(
      'the new alert delivered',
      () => (webhook.delivered().length >= 1 ? true : undefined),
      30_000,
    );
    await sleep(1_000);
    assert.deepEqual(
      webhook.requests.map((r) => (r.body.alert as GuardAlert).time),
      [T0 + 9],
    );
    assert.equal(
      await counter(metrics, 'edgeguard_alert_records_skipped_total', { reason: 'duplicate' }),
      duplicates + 1,
    );
  });

  it('hands an alert in retry over when another instance joins: the rebalance is not held up, the alert delivered once', async () => {
    await companion.stop();
    webhook.requests.length = 0;
    // Retries for minutes (the default policy's scale), 1 s apart.
    const slow = {
      backoffMs: 1_000,
      maxBackoffMs: 1_000,
      maxAttempts: 1_000,
      maxRetryMs: 600_000,
      timeoutMs: 2_000,
    };
    const instance = () =>
      new AlertWebhook({
        kafka,
        prefix,
        logger: createLogger('t-alerts', {}, 'silent'),
        metrics: new Metrics('decider'),
        settings: { url, headers: {}, shown: 'http://127.0.0.1/…' },
        policy: slow,
        maxWaitTimeInMs: 100,
      });
    const first = instance();
    const second = instance();
    try {
      await first.start();
      webhook.statuses.push(...new Array<number>(1_000).fill(503)); // the endpoint is down
      await produce(alert('tripped', T0 + 10));
      await eventually('a failed attempt', () => webhook.requests[0], 30_000);
      // Another decider instance starts: its consumer joins once the group has rebalanced.
      const started = Date.now();
      await second.start();
      const joinMs = Date.now() - started;
      webhook.statuses.length = 0; // the endpoint is back
      await eventually(
        'the alert delivered',
        () => (webhook.delivered().length >= 1 ? true : undefined),
        30_000,
      );
      await sleep(4_000);
      assert.equal(webhook.delivered().length, 1, 'delivered once');
      assert.ok(joinMs < 20_000, `the second instance joined after ${joinMs} ms`);
    } finally {
      await second.stop();
      await first.stop();
    }
  });
});
