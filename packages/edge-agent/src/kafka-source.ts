import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BadInput, tombstoneVersionOf } from '@edgeguard/schema';
import type { Consumer, IHeaders, Kafka, KafkaConfig, KafkaMessage } from 'kafkajs';
import type { Feed, FeedSink, Source } from './agent.js';
import { Backoff } from './backoff.js';

export interface KafkaSourceOptions {
  /** Broker addresses (`host:port`), or a ready kafkajs client in `kafka`. */
  brokers?: string[];
  kafka?: Kafka;
  /** Extra kafkajs client settings (ssl, sasl, retry) when the agent creates the client. */
  kafkaConfig?: Partial<KafkaConfig>;
  /** `EDGEGUARD_TOPIC_PREFIX` of the deployment (default `edgeguard.`). */
  topicPrefix?: string;
  /** Longest the broker holds a fetch open when there is nothing new (ms, default 100): bounds push latency. */
  maxWaitTimeInMs?: number;
}

/** Topic names without the prefix (as in packages/pipeline's TOPICS; the agent does not depend on the pipeline). */
const TOPIC_OF: Record<Feed, string> = {
  decisions: 'decisions',
  policies: 'cache-policies',
  allowlist: 'allowlist',
};
/** The header edgeguard's control messages (end-of-input markers) carry; they hold no record. */
const CONTROL_HEADER = 'eg-control';
/** Operator writes (packages/kafka control.ts) carry `eg-src: manual`; the decider's carry its stage. */
const SOURCE_HEADER = 'eg-src';
const MANUAL_SOURCE = 'manual';
/** Event time (epoch ms) of an edgeguard record; the record timestamp is the producer's wall clock. */
const EVENT_TIME_HEADER = 'eg-time';
/** On a tombstone: the version of the decision it deletes (packages/kafka codec.ts HEADERS). */
const VERSION_HEADER = 'eg-version';
/** On a record the decision store writer produced again (packages/kafka codec.ts HEADERS). */
const COPY_HEADER = 'eg-copy';

/**
 * Follows the compacted `decisions`, `cache-policies` and `allowlist` topics directly, for edges with Kafka
 * access: every record from the beginning (compaction keeps the latest value per key, so this is
 * the current state plus a little history), then live. A tombstone (null value) removes its key.
 * A feed is loaded once its topic has been read to the end offsets it had at start.
 *
 * The consumer group is a throw-away one per agent (`<prefix>tail-edge-agent-<uuid>`: hidden from
 * `edgeguard lag` like `edgeguard tail`'s), never commits, and is deleted on stop. kafkajs
 * reconnects on its own; a consumer crash is reported as `disconnected`, and the consumer is
 * restarted (by kafkajs when the error is retriable, else by this source after a backoff).
 */
export class KafkaSource implements Source {
  readonly kind = 'kafka';
  private consumer: Consumer | null = null;
  private kafka: Kafka | null = null;
  private groupId = '';
  private controller = new AbortController();
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly options: KafkaSourceOptions) {
    if (!options.kafka && !(options.brokers && options.brokers.length > 0))
      throw new BadInput('bad-config', 'KafkaSource needs brokers (host:port list) or a kafkajs client');
  }

  /**
   * Starts following in the background: an unreachable broker or missing topics at start (or a
   * consumer that crashed for good later) are retried with backoff, never thrown, so an edge
   * starts (under its coldStart policy) while Kafka is down. After a restart the topics are read
   * again from the beginning into the live state (records are idempotent by key and version).
   */
  async start(sink: FeedSink): Promise<void> {
    this.controller = new AbortController();
    this.loop = this.follow(sink, this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  private async follow(sink: FeedSink, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(250, 30_000);
    const feeds: Feed[] = ['decisions', 'policies', 'allowlist'];
    while (!signal.aborted) {
      try {
        const { ended } = await this.consume(sink, signal);
        backoff.reset();
        const error = await ended;
        if (error !== null) {
          for (const feed of feeds) sink.connection(feed, false, error);
          sink.error(error);
        }
      } catch (error) {
        if (!signal.aborted) {
          for (const feed of feeds) sink.connection(feed, false, error as Error);
          sink.logger.warn({ error: (error as Error).message }, 'kafka source: cannot follow the topics yet');
        }
      }
      await this.release();
      if (signal.aborted) return;
      await sleep(backoff.next(), undefined, { signal }).catch(() => undefined);
    }
  }

  /** Connects and runs a consumer; `ended` tells how it ended (null: stopped; an Error: crashed for good). */
  private async consume(sink: FeedSink, signal: AbortSignal): Promise<{ ended: Promise<Error | null> }> {
    const kafkajs = await import('kafkajs');
    const prefix = this.options.topicPrefix ?? 'edgeguard.';
    this.kafka ??=
      this.options.kafka ??
      new kafkajs.Kafka({
        clientId: 'edgeguard-edge-agent',
        brokers: this.options.brokers!,
        logLevel: kafkajs.logLevel.NOTHING,
        retry: { retries: 3 },
        ...this.options.kafkaConfig,
      });
    const topicFeed = new Map<string, Feed>([
      [prefix + TOPIC_OF.decisions, 'decisions'],
      [prefix + TOPIC_OF.policies, 'policies'],
      [prefix + TOPIC_OF.allowlist, 'allowlist'],
    ]);
    // End offsets at start, per topic and partition: reading up to them is the initial load.
    const pending = new Map<string, Map<number, bigint>>();
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      for (const topic of topicFeed.keys()) {
        const ends = new Map<number, bigint>();
        for (const o of await admin.fetchTopicOffsets(topic)) {
          if (BigInt(o.high) > BigInt(o.low)) ends.set(o.partition, BigInt(o.high));
        }
        pending.set(topic, ends);
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    for (const [topic, ends] of pending) if (ends.size === 0) sink.loaded(topicFeed.get(topic)!);

    this.groupId = `${prefix}tail-edge-agent-${randomUUID()}`;
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      maxWaitTimeInMs: this.options.maxWaitTimeInMs ?? 100,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    let end: (error: Error | null) => void = () => {};
    const ended = new Promise<Error | null>((resolve) => {
      end = resolve;
    });
    // The agent's signal lives as long as the agent; this consumer may be replaced many times.
    const onAbort = () => end(null);
    signal.addEventListener('abort', onAbort, { once: true });
    void ended.then(() => signal.removeEventListener('abort', onAbort));
    consumer.on(consumer.events.CRASH, (event) => {
      const error = event.payload.error as Error;
      for (const feed of topicFeed.values()) sink.connection(feed, false, error);
      // kafkajs restarts the consumer itself after a retriable error; otherwise this one is done.
      if (!event.payload.restart) end(error);
    });
    consumer.on(consumer.events.FETCH_START, () => {
      for (const feed of topicFeed.values()) sink.connection(feed, true);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...topicFeed.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const feed = topicFeed.get(batch.topic)!;
        for (const message of batch.messages) apply(sink, feed, message);
        const ends = pending.get(batch.topic)!;
        const last = ends.get(batch.partition);
        if (last !== undefined && BigInt(batch.lastOffset()) + 1n >= last) {
          ends.delete(batch.partition);
          if (ends.size === 0) sink.loaded(feed);
        }
      },
    });
    return { ended };
  }

  /** Disconnects the consumer and deletes its throw-away group. */
  private async release(): Promise<void> {
    const consumer = this.consumer;
    if (consumer === null || this.kafka === null) return;
    this.consumer = null;
    await consumer.disconnect().catch(() => undefined);
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      await admin.deleteGroups([this.groupId]);
    } catch {
      // The group expires on the broker on its own (offsets.retention.minutes) if it cannot be deleted now.
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

function apply(sink: FeedSink, feed: Feed, message: KafkaMessage): void {
  if (headerText(message.headers, CONTROL_HEADER) !== undefined) return;
  const key = message.key?.toString('utf8');
  if (key === undefined) {
    sink.count('rejected');
    sink.logger.warn({ feed, offset: message.offset }, 'record without a key ignored');
    return;
  }
  if (message.value === null) {
    if (feed === 'decisions') {
      const version = tombstoneVersionOf(headerText(message.headers, VERSION_HEADER));
      sink.deleteDecision(
        key,
        headerText(message.headers, SOURCE_HEADER) === MANUAL_SOURCE && version === undefined
          ? undefined
          : Number(headerText(message.headers, EVENT_TIME_HEADER) ?? message.timestamp),
        version,
        headerText(message.headers, COPY_HEADER) !== undefined,
      );
    } else if (feed === 'policies') sink.deletePolicy(key);
    else sink.deleteAllow(key);
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(message.value.toString('utf8'));
  } catch (error) {
    sink.count('rejected');
    sink.logger.warn(
      { feed, key, offset: message.offset, error: (error as Error).message },
      'record is not JSON',
    );
    return;
  }
  if (feed === 'decisions')
    sink.putDecision(value, key, headerText(message.headers, COPY_HEADER) !== undefined);
  else if (feed === 'policies') sink.putPolicy(value, key);
  else sink.putAllow(value, key);
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value[0]?.toString();
  return value.toString();
}
