// The blast-radius guard through the real `edgeguard run decider`: signals that would have the
// decider block established people trip the guard; the hold and the alert are on /metrics and in
// the log once, the decider goes on deciding while its webhook is down, and the alert reaches the
// webhook once it is up. A webhook URL that is not http(s) is refused at start.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientSignal, GuardAlert, TrafficTick } from '@edgeguard/detect';
import { createProducer, HEADERS, kafkaEnvironment } from '@edgeguard/kafka';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import {
  edgeguard,
  eventually,
  freePort,
  type RunningService,
  startService,
  stopService,
  tail,
} from './support/services.js';
import { WebhookServer } from './support/webhook.js';

const prefix = `t-alerts-svc-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.`;
const SECRET = 's3cret-path-token';

/** A /metrics sample's value, or undefined when the series is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('the blast-radius guard in the decider service', { timeout: 240_000 }, () => {
  const kafka = new Kafka({
    clientId: 't-alerts-svc',
    brokers: kafkaEnvironment().brokers,
    logLevel: logLevel.NOTHING,
  });
  const webhook = new WebhookServer();
  let producer: Producer;
  let decider: RunningService | undefined;
  let env: NodeJS.ProcessEnv;
  let webhookPort = 0;
  const T0 = Date.now();

  async function produce(value: ClientSignal | TrafficTick): Promise<void> {
    await producer.send({
      topic: `${prefix}signals`,
      acks: -1,
      messages: [
        {
          key: value.kind === 'client' ? value.ip : 'tick',
          value: JSON.stringify(value),
          headers: { [HEADERS.eventTime]: String(value.time) },
        },
      ],
    });
  }

  function tick(time: number): TrafficTick {
    return {
      kind: 'tick',
      partition: 0,
      time,
      requests: 100,
      late: 0,
      clients: 50,
      establishedClients: 40,
      prefixes: [],
    };
  }

  /** A real person: browsing for long enough to be established; the rules flag nothing. */
  function bystander(ip: string, time: number): ClientSignal {
    return {
      kind: 'client',
      ip,
      prefix: `${ip.split('.').slice(0, 3).join('.')}.0/24`,
      fingerprint: 'h1:browser',
      time,
      score: 0,
      reason: 'none',
      signals: [{ name: 'requestsPerMinute', value: 4, threshold: undefined }],
      humanLooking: true,
      botShaped: false,
      paths: [1, 2, 3],
      burstRequests: 1,
      established: true,
      firstSeen: time - 600_000,
      requests: 40,
    };
  }

  async function metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${decider!.healthPort}/metrics`)).text();
  }

  before(async () => {
    const config = join(tmpdir(), `${prefix}config.json`);
    // A mis-tuned config: score 0 reaches every action, so every client would be blocked.
    writeFileSync(
      config,
      JSON.stringify({
        detect: {
          decisions: { scoreForThrottle: 0, scoreForChallenge: 0, scoreForBlock: 0 },
          guard: { holdMs: 60_000 },
        },
      }),
    );
    webhookPort = await freePort(); // nothing listens there yet: the webhook is down
    env = {
      EDGEGUARD_TOPIC_PREFIX: prefix,
      EDGEGUARD_CONFIG: config,
      EDGEGUARD_ALERT_WEBHOOK_URL: `http://127.0.0.1:${webhookPort}/hooks/${SECRET}`,
      LOG_LEVEL: 'info',
    };
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    producer = createProducer(kafka);
    await producer.connect();
    decider = await startService('decider', env);
  });

  after(async () => {
    if (decider) await stopService(decider);
    await producer?.disconnect();
    await webhook.close();
  });

  it('refuses a webhook URL that is not http(s) at start, naming the variable, not echoing the secret', () => {
    const run = edgeguard(
      ['run', 'decider'],
      { ...env, EDGEGUARD_ALERT_WEBHOOK_URL: `ftp://user:pa55@example.com/${SECRET}` },
      undefined,
      60_000,
    );
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /EDGEGUARD_ALERT_WEBHOOK_URL must be an http:\/\/ or https:\/\/ URL/);
    assert.doesNotMatch(run.stderr, new RegExp(`${SECRET}|pa55`));
  });

  it('starts with the guard not holding and its alert counters at 0', async () => {
    const text = await metrics();
    assert.equal(sample(text, 'edgeguard_guard_alerts_total{state="tripped",service="decider"}'), 0);
    assert.equal(sample(text, 'edgeguard_guard_alerts_total{state="released",service="decider"}'), 0);
    assert.equal(sample(text, 'edgeguard_alert_deliveries_total{result="delivered",service="decider"}'), 0);
  });

  it('trips: holds, alerts once in the log and on /metrics, and goes on deciding while the webhook is down', async () => {
    await produce(tick(T0));
    for (let i = 1; i <= 6; i++) await produce(bystander(`198.51.100.${i}`, T0 + i));
    // The hold shows as the decider processes; the alert counts once the broker has it.
    const text = await eventually(
      'the hold and its alert on /metrics',
      async () => {
        const t = await metrics();
        return sample(t, 'edgeguard_guard_holding{partition="0",service="decider"}') === 1 &&
          sample(t, 'edgeguard_guard_alerts_total{state="tripped",service="decider"}') === 1
          ? t
          : undefined;
      },
      60_000,
    );
    assert.ok(sample(text, 'edgeguard_guard_held_decisions{partition="0",service="decider"}')! >= 1);
    const alerts = tail('alerts', env, 2).filter((a) => a.value !== null);
    assert.equal(alerts.length, 1);
    assert.equal((alerts[0]!.value as GuardAlert).state, 'tripped');
    // A bot that covers nobody established is still decided during the hold, webhook down or not.
    await produce({
      ...bystander('203.0.113.200', T0 + 10),
      score: 3,
      reason: 'repetition',
      signals: [{ name: 'repetitionRatio', value: 0.95, threshold: 0.6 }],
      humanLooking: false,
      botShaped: true,
      established: false,
      firstSeen: T0 + 10,
    });
    await eventually(
      'the bot decided',
      () =>
        tail('decisions', env, 2).some(
          (d) => d.key === 'ip:203.0.113.200' && (d.value as { action?: string } | null)?.action === 'block',
        )
          ? true
          : undefined,
      60_000,
    );
    await eventually(
      'a failed attempt at the webhook',
      async () => {
        const retries = sample(
          await metrics(),
          'edgeguard_alert_delivery_attempts_total{outcome="retry",service="decider"}',
        );
        return retries !== undefined && retries >= 1 ? true : undefined;
      },
      30_000,
    );
    const log = decider!.output();
    assert.equal(log.match(/blast-radius guard tripped/g)?.length, 1, log);
    assert.match(log, /"coveredEstablished":\d+/);
    assert.doesNotMatch(log, new RegExp(SECRET), 'the webhook path is never logged');
  });

  it('after a restart: holding again once its input is replayed, the alert neither counted nor logged again', async () => {
    assert.equal(await stopService(decider!), 0);
    decider = await startService('decider', env);
    // The partition's state is rebuilt (its input replayed) when its next input comes.
    await produce(tick(T0 + 20));
    const text = await eventually(
      'the hold rebuilt by the replay',
      async () => {
        const t = await metrics();
        return sample(t, 'edgeguard_guard_holding{partition="0",service="decider"}') === 1 ? t : undefined;
      },
      60_000,
    );
    // The replay regenerates the tripped alert but does not send it again: nothing to count or log.
    await sleep(2_000);
    assert.equal(
      sample(await metrics(), 'edgeguard_guard_alerts_total{state="tripped",service="decider"}'),
      0,
    );
    assert.ok(text.includes('edgeguard_guard_held_decisions{partition="0",service="decider"}'));
    assert.doesNotMatch(decider!.output(), /blast-radius guard tripped/);
    assert.equal(tail('alerts', env, 2).filter((a) => a.value !== null).length, 1);
  });

  it('delivers the alert once the webhook is up, and the release after it', async () => {
    await webhook.listen(webhookPort);
    const delivered = await eventually(
      'the tripped alert at the webhook',
      () => webhook.delivered()[0],
      60_000,
    );
    assert.equal((delivered.alert as GuardAlert).state, 'tripped');
    assert.match(
      String(delivered.text),
      /^edgeguard blast-radius guard TRIPPED at .*\(decider\/0\): automatic decisions held until/,
    );
    assert.equal(webhook.requests[0]!.path, `/hooks/${SECRET}`);

    // The hold ends in event time.
    await produce(tick(T0 + 61_000));
    const released = await eventually(
      'the released alert at the webhook',
      () => webhook.delivered()[1],
      60_000,
    );
    assert.equal((released.alert as GuardAlert).state, 'released');
    const text = await metrics();
    assert.equal(sample(text, 'edgeguard_guard_holding{partition="0",service="decider"}'), 0);
    assert.equal(sample(text, 'edgeguard_guard_alerts_total{state="released",service="decider"}'), 1);
    assert.ok(sample(text, 'edgeguard_guard_decisions_held_total{service="decider"}')! >= 1);
    assert.equal(sample(text, 'edgeguard_alert_deliveries_total{result="delivered",service="decider"}'), 2);
    assert.equal(webhook.delivered().length, 2);
    assert.match(decider!.output(), /blast-radius guard released/);
  });
});
