import { randomUUID } from 'node:crypto';
import type { AllowEntry } from '@edgeguard/decisions';
import { MAX_RUNTIME_ALLOW_ENTRIES, type TimedAllowEntry } from '@edgeguard/detect';
import { parseCidr } from '@edgeguard/netaddr';
import { TOPICS } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';
import type { Logger, Metrics } from '@edgeguard/telemetry';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { decodeTopicValue, HEADERS, headerText } from './codec.js';

/** Removed entries are kept this long (wall clock) so a restarted decider replays them as they were. */
const REMOVED_KEPT_MS = 2 * 86_400_000;

/**
 * Reads one `allowlist` record into an entry: the key is the canonical CIDR, the value an
 * AllowEntry. Throws BadInput (`bad-allow-entry`) naming what is wrong.
 */
export function parseAllowRecord(key: string | null, value: unknown): AllowEntry {
  const fail = (message: string) => new BadInput('bad-allow-entry', message);
  if (key === null) throw fail('allowlist record without a key');
  if (typeof value !== 'object' || value === null) throw fail(`${key}: expected an AllowEntry object`);
  const entry = value as Partial<AllowEntry>;
  let cidr: string;
  try {
    cidr = parseCidr(String(entry.cidr)).text;
  } catch (error) {
    throw fail(`${key}: ${(error as Error).message}`);
  }
  if (cidr !== key) throw fail(`${key}: the entry's cidr ${JSON.stringify(entry.cidr)} is not its key`);
  if (typeof entry.createdAt !== 'number' || !Number.isFinite(entry.createdAt))
    throw fail(`${key}: createdAt must be epoch ms`);
  if (entry.expiresAt !== null && (typeof entry.expiresAt !== 'number' || !Number.isFinite(entry.expiresAt)))
    throw fail(`${key}: expiresAt must be epoch ms or null`);
  return {
    cidr,
    comment: typeof entry.comment === 'string' ? entry.comment : '',
    createdAt: entry.createdAt,
    expiresAt: entry.expiresAt ?? null,
  };
}

export interface AllowlistFollowerOptions {
  kafka: Kafka;
  prefix: string;
  logger: Logger;
  metrics: Metrics;
  /** Every change: the whole runtime allowlist, on the event-time axis. */
  onChange: (entries: TimedAllowEntry[]) => void;
  maxWaitTimeInMs?: number;
  /** Called when the consumer crashed for good (the service should exit non-zero and be restarted). */
  onFatal?: (error: Error) => void;
}

/**
 * Follows the whole compacted `allowlist` topic, from its beginning, in every decider instance
 * (a throw-away consumer group per instance, `<prefix>tail-allowlist-<uuid>`, deleted on stop and
 * hidden from `edgeguard lag` like `edgeguard tail`'s; it never commits). An entry is in effect
 * from its `createdAt` until its `expiresAt` or the record time of its tombstone.
 */
export class AllowlistFollower {
  private readonly entries = new Map<string, TimedAllowEntry>();
  private readonly groupId: string;
  private readonly consumer: Consumer;
  private readonly log: Logger;
  private readonly counters;

  constructor(private readonly options: AllowlistFollowerOptions) {
    this.groupId = `${options.prefix}tail-allowlist-${randomUUID()}`;
    this.consumer = options.kafka.consumer({
      groupId: this.groupId,
      maxWaitTimeInMs: options.maxWaitTimeInMs ?? 500,
      allowAutoTopicCreation: false,
    });
    this.log = options.logger.child({ component: 'allowlist-follower' });
    this.counters = {
      records: options.metrics.counter(
        'edgeguard_allowlist_records_total',
        'allowlist topic records applied by the decider',
        ['op'],
      ),
      entries: options.metrics.gauge(
        'edgeguard_allowlist_runtime_entries',
        'runtime allowlist entries known (removed ones kept for replays)',
      ),
    };
    options.metrics.countFromZero('edgeguard_allowlist_records_total', { op: ['add', 'remove', 'rejected'] });
  }

  /** Starts following; resolves once the topic has been read up to the end offsets it had at start. */
  async start(timeoutMs = 60_000): Promise<void> {
    const topic = this.options.prefix + TOPICS.allowlist;
    const admin = this.options.kafka.admin();
    await admin.connect();
    const ends = new Map<number, bigint>();
    try {
      for (const o of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(o.high) > BigInt(o.low)) ends.set(o.partition, BigInt(o.high));
      }
    } finally {
      await admin.disconnect();
    }
    let caughtUp: () => void = () => {};
    const loaded = new Promise<void>((resolve) => {
      caughtUp = resolve;
    });
    if (ends.size === 0) caughtUp();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.log.error(
        { error: event.payload.error?.message, restart: event.payload.restart },
        'consumer crashed',
      );
      // kafkajs restarts the consumer after retriable errors; otherwise this process cannot go on.
      if (!event.payload.restart) this.options.onFatal?.(event.payload.error);
    });
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) this.apply(message);
        this.publish();
        const end = ends.get(batch.partition);
        if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) {
          ends.delete(batch.partition);
          if (ends.size === 0) caughtUp();
        }
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`allowlist topic not read within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([loaded, timeout]);
    } finally {
      clearTimeout(timer);
    }
    this.log.info({ entries: this.entries.size }, 'allowlist loaded');
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
    const admin = this.options.kafka.admin();
    await admin.connect();
    await admin.deleteGroups([this.groupId]).catch(() => undefined);
    await admin.disconnect();
  }

  private apply(message: KafkaMessage): void {
    if (headerText(message.headers, HEADERS.control)) return;
    const key = message.key?.toString() ?? null;
    try {
      const [value] = decodeTopicValue(TOPICS.allowlist, message.value, message.headers);
      if (value === null) {
        const cidr = parseCidr(key ?? '').text;
        const current = this.entries.get(cidr);
        // Removed as of the tombstone's record time (the operator's command, wall clock).
        if (current) current.until = Math.min(current.until, Number(message.timestamp));
        this.counters.records.inc({ op: 'remove' });
        return;
      }
      const entry = parseAllowRecord(key, value);
      this.entries.set(entry.cidr, {
        cidr: entry.cidr,
        from: entry.createdAt,
        until: entry.expiresAt ?? Number.POSITIVE_INFINITY,
      });
      this.counters.records.inc({ op: 'add' });
    } catch (error) {
      this.counters.records.inc({ op: 'rejected' });
      this.log.warn(
        { key, offset: message.offset, error: (error as Error).message },
        'allowlist record ignored',
      );
    }
  }

  /** Hands the whole list over, dropping entries removed long ago and keeping at most the bound. */
  private publish(): void {
    const forgetBefore = Date.now() - REMOVED_KEPT_MS;
    for (const [cidr, entry] of this.entries) if (entry.until < forgetBefore) this.entries.delete(cidr);
    if (this.entries.size > MAX_RUNTIME_ALLOW_ENTRIES) {
      this.log.warn(
        { entries: this.entries.size, kept: MAX_RUNTIME_ALLOW_ENTRIES },
        'allowlist over its bound',
      );
    }
    this.counters.entries.set(this.entries.size);
    this.options.onChange([...this.entries.values()].map((entry) => ({ ...entry })));
  }
}
