import { decodeTopicValue, eventTimeOf } from '@edgeguard/kafka';
import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import type { AccessLog } from '@edgeguard/schema';
import type { Kafka } from 'kafkajs';

/** One request shown under a decision in `explain`. */
export interface ExplainedRequest {
  time: number;
  method: string;
  host: string | null;
  path: string;
  query: string | null;
  status: number;
  cacheStatus: string | null;
  userAgent: string | null;
  referer: string | null;
}

export interface RequestsAnswer {
  requests: ExplainedRequest[];
  /** Access-log batch messages read from the client's partition. */
  scannedMessages: number;
}

export interface ReadRequestsOptions {
  kafka: Kafka;
  prefix: string;
  ip: string;
  decidedAt: number;
  /** How far before decidedAt to start reading, ms (default 60 s). */
  windowMs?: number;
  /** At most this many batch messages are read (default 64). */
  maxMessages?: number;
  /** The last this many of the client's requests are returned (default 20). */
  limit?: number;
  /** Time box of the whole read, ms (default 10 s). */
  timeoutMs?: number;
}

/**
 * The client's requests up to `decidedAt`, read from `access-logs` itself (the log of record): the
 * client's partition (`partitionFor(ip, partitions)`, as the producer keys it), from the offset at
 * `decidedAt − window` (record timestamps are the shipper's wall clock, equal to event time live),
 * forward a bounded number of batch messages. kafkajs has no manual assignment, so a short-lived
 * consumer in a unique group subscribes, pauses every other partition and seeks; the group is deleted
 * afterwards.
 */
export async function readClientRequests(options: ReadRequestsOptions): Promise<RequestsAnswer> {
  const windowMs = options.windowMs ?? 60_000;
  const maxMessages = options.maxMessages ?? 64;
  const limit = options.limit ?? 20;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const topic = options.prefix + TOPICS.accessLogs;
  const admin = options.kafka.admin();
  await admin.connect();
  const groupId = `${options.prefix}explain-${Math.random().toString(36).slice(2, 12)}`;
  const consumer = options.kafka.consumer({ groupId, allowAutoTopicCreation: false });
  let timer: NodeJS.Timeout | undefined;
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = metadata.topics[0]?.partitions.length ?? 0;
    if (partitions === 0) return { requests: [], scannedMessages: 0 };
    const partition = partitionFor(options.ip, partitions);
    const from = (await admin.fetchTopicOffsetsByTimestamp(topic, options.decidedAt - windowMs)).find(
      (p) => p.partition === partition,
    );
    const high = (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition);
    // -1: no record at or after the window start, so nothing of this client to show
    if (!from || from.offset === '-1') return { requests: [], scannedMessages: 0 };
    const start = BigInt(from.offset);
    const end = BigInt(high?.high ?? '0');
    if (start >= end) return { requests: [], scannedMessages: 0 };
    const kept: ExplainedRequest[] = [];
    let scanned = 0;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition: p, message }) => {
            if (p !== partition) return;
            const offset = BigInt(message.offset);
            if (offset < start) return;
            scanned++;
            // Every record up to decidedAt in event time; a batch's eg-time is its last record's
            // event time (the Kafka timestamp is the shipper's clock: later than event time).
            const eventTime = eventTimeOf(message.headers, message.timestamp);
            let values: unknown[] = [];
            try {
              values = decodeTopicValue(TOPICS.accessLogs, message.value, message.headers);
            } catch {
              // an undecodable batch is skipped: explain shows what can be read
            }
            for (const value of values) {
              const log = value as AccessLog | null;
              if (!log || log.clientAddress !== options.ip || log.time > options.decidedAt) continue;
              kept.push({
                time: log.time,
                method: log.method,
                host: log.host,
                path: log.path,
                query: log.query,
                status: log.status,
                cacheStatus: log.cacheStatus,
                userAgent: log.userAgent,
                referer: log.referer,
              });
              if (kept.length > limit * 4) kept.splice(0, kept.length - limit);
            }
            // Past decidedAt by more than the window: later batches hold nothing of interest (lines
            // arrive out of order by up to a minute or so).
            if (scanned >= maxMessages || offset + 1n >= end || eventTime > options.decidedAt + windowMs)
              resolve();
          },
        })
        .catch(reject);
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      const others = Array.from({ length: partitions }, (_, i) => i).filter((i) => i !== partition);
      if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
      consumer.seek({ topic, partition, offset: start.toString() });
    });
    await done;
    kept.sort((a, b) => a.time - b.time);
    return { requests: kept.slice(-limit), scannedMessages: scanned };
  } finally {
    if (timer) clearTimeout(timer);
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}
