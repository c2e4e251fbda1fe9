import { randomUUID } from 'node:crypto';
import { TOPICS } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';
import type { Admin, IHeaders, Kafka } from 'kafkajs';
import { connectAdmin } from './client.js';
import {
  decodeRecordBatch,
  decodeTopicValue,
  eventTimeOf,
  HEADERS,
  headerText,
  isRecordBatch,
} from './codec.js';
import { startupTimeoutMs } from './stage-service.js';
import { edgeguardTopics } from './topics.js';

export interface TailRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  timestamp: number;
  /** Decoded value; null for a tombstone. */
  value: unknown;
  /** `end` for an end-of-input marker. */
  control?: string;
  /** Why the value could not be decoded (it is then the raw bytes as base64). */
  error?: string;
  /**
   * On `dead-letter`: why the stage routed it aside and where it came from, from the dead letter's
   * headers (without them a tailed dead letter said neither; `error` above is only tail's own
   * decoding of the value).
   */
  deadLetter?: {
    /** `<reason>: <message>`, as the stage logged it. */
    error: string | undefined;
    stage: string | undefined;
    origin: {
      topic: string | undefined;
      partition: number | undefined;
      offset: string | undefined;
      index?: number;
    };
    truncatedFrom?: number;
  };
}

/** A dead letter's `eg-*` headers, as `TailRecord.deadLetter`. */
function deadLetterHeaders(headers: IHeaders | undefined): NonNullable<TailRecord['deadLetter']> {
  const text = (name: string) => headerText(headers, name);
  const number = (name: string) => {
    const value = text(name);
    return value === undefined ? undefined : Number(value);
  };
  const index = number(HEADERS.originIndex);
  const truncatedFrom = number(HEADERS.truncated);
  return {
    error: text(HEADERS.error),
    stage: text(HEADERS.stage),
    origin: {
      topic: text(HEADERS.originTopic),
      partition: number(HEADERS.originPartition),
      offset: text(HEADERS.originOffset),
      ...(index !== undefined ? { index } : {}),
    },
    ...(truncatedFrom !== undefined ? { truncatedFrom } : {}),
  };
}

/**
 * Reads an edgeguard topic (named without its prefix) and hands every record to `onRecord`,
 * decoded: one record per AccessLog of a batch, JSON values as objects, tombstones as null. Uses
 * a throw-away consumer group that is deleted afterwards. Resolves after `idleExitMs` without a
 * new message (or never, when it is 0, until `signal` aborts).
 */
export async function tailTopic(
  kafka: Kafka,
  options: {
    prefix: string;
    topic: string;
    fromBeginning: boolean;
    idleExitMs: number;
    signal?: AbortSignal;
    /** The brokers, to name them when none answers within EDGEGUARD_STARTUP_TIMEOUT_MS. */
    brokers?: string[];
  },
  onRecord: (record: TailRecord) => void,
): Promise<number> {
  const known = edgeguardTopics().map((t) => t.name);
  const admin = kafka.admin();
  if (options.brokers) await connectAdmin(admin, options.brokers, startupTimeoutMs());
  else await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(options.prefix + options.topic)) {
      // `--topic edgeguard.decisions`, copied from the broker's topic list: the prefix given twice.
      const unprefixed = options.prefix && options.topic.startsWith(options.prefix);
      const bare = unprefixed ? options.topic.slice(options.prefix.length) : '';
      throw new BadInput(
        'unknown-topic',
        unprefixed && known.includes(bare)
          ? `topic '${options.prefix + options.topic}' does not exist: name the topic without the prefix '${options.prefix}', as --topic ${bare}`
          : `topic '${options.prefix + options.topic}' does not exist (edgeguard topics: ${known.join(', ')}; run 'edgeguard topics ensure')`,
      );
    }
  } finally {
    await admin.disconnect();
  }
  const groupId = `${options.prefix}tail-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
  await consumer.connect();
  let count = 0;
  let lastMessageAt = Date.now();
  try {
    await consumer.subscribe({ topic: options.prefix + options.topic, fromBeginning: options.fromBeginning });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        lastMessageAt = Date.now();
        const base = {
          topic: options.topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          timestamp: eventTimeOf(message.headers, message.timestamp),
          ...(options.topic === TOPICS.deadLetter ? { deadLetter: deadLetterHeaders(message.headers) } : {}),
        };
        const control = headerText(message.headers, HEADERS.control);
        if (control) {
          onRecord({ ...base, value: null, control });
          count++;
          return;
        }
        try {
          if (isRecordBatch(message.headers) && message.value !== null) {
            for (const record of decodeRecordBatch(message.value, message.headers)) {
              onRecord({ ...base, key: record.key, timestamp: record.time, value: record.value });
              count++;
            }
            return;
          }
          for (const value of decodeTopicValue(options.topic, message.value, message.headers)) {
            onRecord({ ...base, value });
            count++;
          }
        } catch (error) {
          onRecord({
            ...base,
            value: message.value?.toString('base64') ?? null,
            error: (error as Error).message,
          });
          count++;
        }
      },
    });
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (options.idleExitMs > 0 && Date.now() - lastMessageAt >= options.idleExitMs) done();
      }, 100);
      const done = () => {
        clearInterval(timer);
        resolve();
      };
      options.signal?.addEventListener('abort', done, { once: true });
    });
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => undefined);
    await cleanup.disconnect();
  }
  return count;
}

export interface LagRow {
  group: string;
  topic: string;
  partition: number;
  committed: string;
  high: string;
  lag: number;
}

/**
 * Consumer lag of every edgeguard consumer group under the prefix, per partition. edgeguard's own
 * group names (`profiler`, `store-writer`, …) hold no `.`, so a group whose name after the prefix
 * does is another deployment's whose prefix extends this one (`edgeguard.staging.` under the
 * default `edgeguard.`), not ours.
 */
export async function consumerLag(admin: Admin, prefix: string): Promise<LagRow[]> {
  const { groups } = await admin.listGroups();
  const ours = groups
    .map((g) => g.groupId)
    .filter(
      (g) => g.startsWith(prefix) && !g.startsWith(`${prefix}tail-`) && !g.slice(prefix.length).includes('.'),
    );
  const rows: LagRow[] = [];
  const highs = new Map<string, Map<number, string>>();
  for (const group of ours.sort()) {
    for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group })) {
      let high = highs.get(topic);
      if (!high) {
        high = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
        highs.set(topic, high);
      }
      for (const { partition, offset } of partitions) {
        const end = high.get(partition) ?? '0';
        const committed = offset === '-1' ? '0' : offset;
        rows.push({
          group,
          topic,
          partition,
          committed: offset,
          high: end,
          lag: Math.max(0, Number(end) - Number(committed)),
        });
      }
    }
  }
  return rows;
}
