import type { GuardAlert } from '@edgeguard/detect';
import { TOPICS } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';
import type { Logger, Metrics } from '@edgeguard/telemetry';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { HEADERS, headerText } from './codec.js';
import { redactUrl } from './environment.js';
import { alertOfMessage, alertText } from './guard-alerts.js';

const URL_VARIABLE = 'EDGEGUARD_ALERT_WEBHOOK_URL';
const HEADERS_VARIABLE = 'EDGEGUARD_ALERT_WEBHOOK_HEADERS';

/** Where the decider delivers its alerts (from the environment). */
export interface AlertWebhookSettings {
  url: string;
  /** Extra request headers (an `Authorization` token, say). */
  headers: Record<string, string>;
  /** The URL as logs show it: scheme and host only (the path of a chat webhook is its secret). */
  shown: string;
}

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * `EDGEGUARD_ALERT_WEBHOOK_URL` (an http:// or https:// URL; unset or empty: no webhook) and
 * `EDGEGUARD_ALERT_WEBHOOK_HEADERS` (a JSON object of header names to string values). Anything
 * else is refused naming the variable, without repeating the secret parts.
 */
export function alertWebhookSettings(env: NodeJS.ProcessEnv = process.env): AlertWebhookSettings | null {
  const configured = (env[URL_VARIABLE] ?? '').trim();
  const headersText = (env[HEADERS_VARIABLE] ?? '').trim();
  if (configured === '') {
    if (headersText !== '')
      throw new BadInput(
        'bad-config',
        `${HEADERS_VARIABLE} is set but ${URL_VARIABLE} is not`,
        HEADERS_VARIABLE,
      );
    return null;
  }
  const shown = redactUrl(configured, { hidePath: true, what: URL_VARIABLE });
  let parsed: URL | null = null;
  try {
    parsed = new URL(configured);
  } catch {
    // reported below
  }
  if (
    parsed === null ||
    (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') ||
    parsed.hostname === ''
  )
    throw new BadInput(
      'bad-config',
      `${URL_VARIABLE} must be an http:// or https:// URL, not ${JSON.stringify(shown)}`,
      URL_VARIABLE,
    );
  // fetch refuses a URL with credentials, quoting the whole URL in its error (which would be
  // logged at every attempt): say so at start instead, and where the credentials go.
  if (parsed.username !== '' || parsed.password !== '')
    throw new BadInput(
      'bad-config',
      `${URL_VARIABLE} must not carry credentials (user:password@): put them in ${HEADERS_VARIABLE}, e.g. {"Authorization":"Basic …"}`,
      URL_VARIABLE,
    );
  return { url: parsed.toString(), headers: webhookHeaders(headersText), shown };
}

function webhookHeaders(text: string): Record<string, string> {
  if (text === '') return {};
  const fail = (why: string) =>
    new BadInput(
      'bad-config',
      `${HEADERS_VARIABLE} must be a JSON object of header names to strings, e.g. {"Authorization":"Bearer …"}: ${why}`,
      HEADERS_VARIABLE,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw fail('not JSON'); // the parser's message may quote the secret
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw fail('not an object');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (!HEADER_NAME.test(name)) throw fail(`${JSON.stringify(name)} is not a header name`);
    // RFC 9110 field-value: visible ASCII, Latin-1 obs-text, space and tab. fetch refuses anything
    // else at every attempt ("invalid Authorization header"), a delivery that can never work.
    if (typeof value !== 'string' || /[^\t\x20-\x7e\x80-\xff]/.test(value))
      throw fail(`the value of ${name} is not a one-line string of printable characters`);
    headers[name] = value;
  }
  return headers;
}

/** How a webhook delivery is retried. */
export interface DeliveryPolicy {
  /** One request's timeout (ms). */
  timeoutMs: number;
  /** Attempts at most, the first one included ... */
  maxAttempts: number;
  /** ... and retries started at most this long (ms) after the first attempt. */
  maxRetryMs: number;
  /** Wait before the first retry (ms), doubled for each next one up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
}

/**
 * 8 attempts within 5 minutes, 10 s each, 1 s to 60 s apart: an endpoint restarting or rate
 * limiting gets it; one that stays down makes the alert count as failed after about 2 minutes
 * and the next one goes.
 */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  timeoutMs: 10_000,
  maxAttempts: 8,
  maxRetryMs: 300_000,
  backoffMs: 1_000,
  maxBackoffMs: 60_000,
};

export interface AlertWebhookOptions {
  kafka: Kafka;
  prefix: string;
  logger: Logger;
  metrics: Metrics;
  settings: AlertWebhookSettings;
  policy?: Partial<DeliveryPolicy>;
  maxWaitTimeInMs?: number;
}

/** What one attempt came to. */
type Attempt =
  | { outcome: 'delivered' }
  | { outcome: 'failed'; why: string }
  | { outcome: 'retry'; why: string; retryAfterMs?: number };

/** What is remembered of the last alert handled from one source (committed as `[seq, time]`). */
interface Handled {
  seq: number;
  /** Its event time (ms). */
  time: number;
}

/** Upstream sources whose last sequence is remembered (decider instances: one per signals partition). */
const MAX_SOURCES = 64;

/**
 * Delivers the `alerts` topic to an HTTP webhook: a POST of JSON
 * `{text, alert, source, topic, partition, offset}` per alert (`text` one readable line, so a
 * Slack or Mattermost incoming webhook shows it; `alert` the GuardAlert record).
 *
 * It consumes with its own consumer group (`<prefix>alert-webhook`): with several decider
 * instances each alert is delivered by one of them, and it commits each alert's offset once the
 * alert is delivered or given up, so a restart neither loses nor sends again what was delivered.
 * A group that has no offset yet starts at the topic's end (enabling the webhook does not page
 * anyone with last month's alerts). Alerts a restarted decider regenerated (same source, a
 * sequence and an event time not above the last handled of that source; see stage-runner.ts) are
 * dropped; the last sequence and time per source travel in the committed offset's metadata.
 *
 * Retries (network errors, timeouts, 5xx, 429 with its Retry-After) back off and are bounded
 * (DeliveryPolicy): then the alert counts as failed and the next goes. Any other status is failed
 * at once. It never stops or fails the decider: its stage has a consumer of its own.
 */
export class AlertWebhook {
  private readonly group: string;
  private readonly topic: string;
  private readonly consumer: Consumer;
  private readonly log: Logger;
  private readonly policy: DeliveryPolicy;
  private readonly counters;
  private readonly running: ReturnType<Metrics['gauge']>;
  /** Per source (`decider/<partition>`), the last alert handled: its sequence and event time. */
  private readonly last = new Map<string, Handled>();
  private stopping = false;
  /** Aborts the request in flight and the backoff wait when stopping. */
  private readonly abort = new AbortController();

  constructor(private readonly options: AlertWebhookOptions) {
    this.group = `${options.prefix}alert-webhook`;
    this.topic = options.prefix + TOPICS.alerts;
    this.policy = { ...DEFAULT_DELIVERY_POLICY, ...options.policy };
    this.log = options.logger.child({ component: 'alert-webhook', webhook: options.settings.shown });
    this.consumer = options.kafka.consumer({
      groupId: this.group,
      maxWaitTimeInMs: options.maxWaitTimeInMs ?? 500,
      allowAutoTopicCreation: false,
    });
    const m = options.metrics;
    this.counters = {
      deliveries: m.counter(
        'edgeguard_alert_deliveries_total',
        'alerts delivered to the webhook, or given up',
        ['result'],
      ),
      attempts: m.counter(
        'edgeguard_alert_delivery_attempts_total',
        'requests to the alert webhook, by outcome',
        ['outcome'],
      ),
      skipped: m.counter(
        'edgeguard_alert_records_skipped_total',
        'alerts topic records not delivered: undecodable, or already delivered (duplicate)',
        ['reason'],
      ),
    };
    // 1 while the webhook's consumer runs; 0 before, after a stop and once it failed for good
    // (kafkajs gave up restarting it): the one sign of the last, alerts then waiting on the topic.
    this.running = m.gauge(
      'edgeguard_alert_webhook_running',
      "1 while the alert webhook's consumer runs; 0 once it stopped or failed for good",
    );
    this.running.set(0);
    m.countFromZero('edgeguard_alert_deliveries_total', { result: ['delivered', 'failed'] });
    m.countFromZero('edgeguard_alert_delivery_attempts_total', { outcome: ['delivered', 'retry', 'failed'] });
    m.countFromZero('edgeguard_alert_records_skipped_total', { reason: ['undecodable', 'duplicate'] });
  }

  async start(): Promise<void> {
    await this.resumePosition();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      if (!event.payload.restart) this.running.set(0);
      // Never the decider's end: its stage and store go on; this delivery is what stops.
      this.log.error(
        { error: event.payload.error?.message, restart: event.payload.restart },
        event.payload.restart
          ? 'alert webhook consumer crashed: restarting'
          : 'alert webhook consumer failed for good: alerts are not delivered until the decider restarts',
      );
    });
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: false });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        for (const message of batch.messages) {
          if (this.stopping || !isRunning() || isStale()) return;
          const handled = await this.handle(message, batch.partition, heartbeat);
          // Stopping or rebalancing in the middle: not committed, delivered by the next owner.
          if (!handled) return;
          resolveOffset(message.offset);
          await this.consumer.commitOffsets([
            {
              topic: this.topic,
              partition: batch.partition,
              offset: (BigInt(message.offset) + 1n).toString(),
              metadata: JSON.stringify(
                Object.fromEntries([...this.last].map(([source, h]) => [source, [h.seq, h.time]])),
              ),
            },
          ]);
          await heartbeat();
        }
      },
    });
    this.running.set(1);
    this.log.info('delivering alerts to the webhook');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    await this.consumer.disconnect();
    this.running.set(0);
  }

  /**
   * Before joining: the sequences handled so far (the committed offsets' metadata), and, for a
   * partition the group has no offset of yet, its end as the group's offset, so that an alert
   * produced while no instance is up is still delivered. Another instance already in the group
   * (setOffsets then fails) has done that.
   */
  private async resumePosition(): Promise<void> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const [committed] = await admin.fetchOffsets({ groupId: this.group, topics: [this.topic] });
      const missing: number[] = [];
      for (const p of committed?.partitions ?? []) {
        if (Number(p.offset) < 0) missing.push(p.partition);
        if (!p.metadata) continue;
        try {
          for (const [source, value] of Object.entries(JSON.parse(p.metadata) as Record<string, unknown>)) {
            // Not a `[seq, time]` pair (a commit of the first version, only the sequence): at
            // worst one duplicate of that source is delivered.
            if (!Array.isArray(value)) continue;
            const [seq, time] = value as unknown[];
            if (Number.isSafeInteger(seq) && Number.isFinite(time))
              this.remember(source, { seq: seq as number, time: time as number });
          }
        } catch {
          // not ours: no duplicates dropped until the next alert of each source
        }
      }
      if (missing.length > 0) {
        const ends = await admin.fetchTopicOffsets(this.topic);
        await admin
          .setOffsets({
            groupId: this.group,
            topic: this.topic,
            partitions: ends
              .filter((o) => missing.includes(o.partition))
              .map((o) => ({ partition: o.partition, offset: o.high })),
          })
          .catch(() => undefined);
      }
    } finally {
      await admin.disconnect();
    }
  }

  private remember(source: string, handled: Handled): void {
    this.last.delete(source);
    this.last.set(source, handled);
    if (this.last.size > MAX_SOURCES) this.last.delete(this.last.keys().next().value!);
  }

  /** Delivers one message, or counts why not. False when stopped or rebalanced before it was done. */
  private async handle(
    message: KafkaMessage,
    partition: number,
    heartbeat: () => Promise<void>,
  ): Promise<boolean> {
    const source = headerText(message.headers, HEADERS.source);
    const sequence = Number(headerText(message.headers, HEADERS.sequence));
    if (headerText(message.headers, HEADERS.control) !== undefined) return true;
    const numbered = source !== undefined && Number.isSafeInteger(sequence);
    let alert: GuardAlert | null;
    try {
      alert = alertOfMessage(message.value, message.headers);
    } catch (error) {
      this.counters.skipped.inc({ reason: 'undecodable' });
      this.log.warn(
        { partition, offset: message.offset, error: (error as Error).message },
        'alerts record skipped: not an alert',
      );
      alert = null;
    }
    const last = numbered ? this.last.get(source!) : undefined;
    // A regenerated alert has a sequence and an event time both not above the last handled. The
    // sequence alone is not enough: a decider that lost its checkpoint (Redis emptied) numbers
    // its outputs from 1 again, and its new alerts, later in event time, must still page.
    if (alert !== null && last !== undefined && sequence <= last.seq && alert.time <= last.time) {
      this.counters.skipped.inc({ reason: 'duplicate' });
      return true;
    }
    if (alert !== null) {
      const body = JSON.stringify({
        text: alertText(alert, source),
        alert,
        source: source ?? null,
        topic: this.topic,
        partition,
        offset: message.offset,
      });
      const result = await this.deliver(body, heartbeat);
      if (result === null) return false;
      this.counters.deliveries.inc({ result: result.outcome });
      const fields = { state: alert.state, time: new Date(alert.time).toISOString(), offset: message.offset };
      if (result.outcome === 'delivered') this.log.info(fields, 'alert delivered to the webhook');
      else this.log.error({ ...fields, error: result.why }, 'alert not delivered to the webhook: given up');
    }
    if (numbered && alert !== null) this.remember(source!, { seq: sequence, time: alert.time });
    return true;
  }

  /** Attempts until delivered, failed or out of attempts; null when stopped or rebalanced meanwhile. */
  private async deliver(
    body: string,
    heartbeat: () => Promise<void>,
  ): Promise<{ outcome: 'delivered' } | { outcome: 'failed'; why: string } | null> {
    const { maxAttempts, maxRetryMs, backoffMs, maxBackoffMs } = this.policy;
    const started = Date.now();
    let backoff = backoffMs;
    for (let attempt = 1; ; attempt++) {
      const result = await this.attempt(body);
      if (this.stopping) return null;
      this.counters.attempts.inc({ outcome: result.outcome });
      if (result.outcome !== 'retry') return result;
      const wait = Math.min(maxBackoffMs, Math.max(backoff, result.retryAfterMs ?? 0));
      if (attempt >= maxAttempts || Date.now() + wait - started > maxRetryMs)
        return { outcome: 'failed', why: `${result.why} (after ${attempt} attempts)` };
      this.log.warn(
        { attempt, retryInMs: wait, error: result.why },
        'alert webhook attempt failed: retrying',
      );
      if (!(await this.pause(wait, heartbeat))) return null;
      backoff = Math.min(maxBackoffMs, backoff * 2);
    }
  }

  private async attempt(body: string): Promise<Attempt> {
    const { url, headers } = this.options.settings;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'edgeguard-decider' },
        body,
        // A redirect is a wrong URL, not a place to send the token to.
        redirect: 'manual',
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.policy.timeoutMs)]),
      });
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause?.message;
      // Node's fetch says only "fetch failed"; the cause names the socket error (not the URL).
      return {
        outcome: 'retry',
        why: cause ? `${(error as Error).message}: ${cause}` : (error as Error).message,
      };
    }
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    if (status >= 200 && status < 300) return { outcome: 'delivered' };
    if (status === 429 || status >= 500)
      return { outcome: 'retry', why: `HTTP ${status}`, retryAfterMs: retryAfterMs(response.headers) };
    return { outcome: 'failed', why: `HTTP ${status}` };
  }

  /**
   * Waits `ms`, heartbeating the group every 3 s; false when stopped meanwhile, or when the
   * heartbeat fails: the group rebalances (another decider instance joined or left) or has
   * dropped this member. Then the alert is left, uncommitted, to the partition's owner after the
   * rebalance: going on with the retries (up to 5 minutes) would hold the whole group's rebalance
   * up to its timeout (60 s), and then the new owner would deliver the alert too.
   */
  private async pause(ms: number, heartbeat: () => Promise<void>): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.stopping && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.abort.signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(3_000, until - Date.now()));
        this.abort.signal.addEventListener('abort', done, { once: true });
      });
      if (this.stopping) break;
      try {
        await heartbeat();
      } catch (error) {
        this.log.info(
          { error: (error as Error).message },
          "alert webhook group rebalancing: the alert in retry is left to the partition's owner after it",
        );
        return false;
      }
    }
    return !this.stopping;
  }
}

/** `Retry-After` in seconds (the HTTP-date form is not used by webhook endpoints we know). */
function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (value === null || !/^[0-9]{1,6}$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}
