import { decodeTopicValue, eventTimeOf } from '@edgeguard/kafka';
import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import type { AccessLog } from '@edgeguard/schema';
import type { IHeaders, Kafka } from 'kafkajs';

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
  /** Single messages read to find where to start (see StartSearch). */
  probes?: number;
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

/** What the start search asks for next: read the first message at or after `probe`, or start at `start`. */
export type SearchStep = { probe: bigint } | { start: bigint };

/**
 * Finds where to start reading a partition for records of event time ≥ `target`, by the event time
 * of single messages (a batch's `eg-time` header). `lowerBound` comes from the Kafka timestamp index,
 * which is the shipper's wall clock: live, it is at most a batch or two before the answer, and the
 * first probe ends the search; for a log shipped after the fact (every timestamp later than every
 * event time) it is the partition's first offset and the answer may be millions of messages on.
 * Galloping (lowerBound + 1, 2, 4, …) then bisecting finds it in O(log distance) probes. Event
 * time is not strictly ordered in a partition (lines arrive out of order by a minute or so), which
 * the caller's window before `decidedAt` absorbs.
 */
export class StartSearch {
  /** Highest offset seen with an event time before the target (lowerBound − 1 until one is). */
  private below: bigint;
  /** Lowest offset seen at or after the target (`end` until one is). */
  private atOrAbove: bigint;
  private step = 1n;
  private galloping = true;
  private probe: bigint;
  probes = 0;

  constructor(
    private readonly lowerBound: bigint,
    private readonly end: bigint,
    private readonly target: number,
    /** Probes allowed before starting where the search stands (each is one fetch). */
    private readonly maxProbes = 64,
  ) {
    this.below = lowerBound - 1n;
    this.atOrAbove = end;
    this.probe = lowerBound;
  }

  first(): SearchStep {
    return this.lowerBound >= this.end ? { start: this.end } : { probe: this.lowerBound };
  }

  /** The message read for the last probe (the first at or after it) was at `offset` with `eventTime`. */
  observe(offset: bigint, eventTime: number): SearchStep {
    this.probes++;
    if (eventTime >= this.target) {
      // No message between the probe and `offset` (a gap left by compaction or a transaction
      // marker): the answer is the probe itself, which also keeps every bisection step shrinking.
      if (this.probe < this.atOrAbove) this.atOrAbove = this.probe;
      this.galloping = false;
    } else if (offset > this.below) {
      this.below = offset;
    }
    if (this.galloping) {
      const next = this.below + this.step;
      this.step *= 2n;
      if (next < this.end && this.probes < this.maxProbes) return this.probeAt(next);
      this.galloping = false;
    }
    if (this.atOrAbove - this.below <= 1n || this.probes >= this.maxProbes) return { start: this.below + 1n };
    return this.probeAt(this.below + (this.atOrAbove - this.below) / 2n);
  }

  private probeAt(offset: bigint): SearchStep {
    this.probe = offset;
    return { probe: offset };
  }
}

/**
 * The client's requests up to `decidedAt`, read from `access-logs` itself (the log of record): the
 * client's partition (`partitionFor(ip, partitions)`, as the producer keys it), from the first
 * batch whose event time reaches `decidedAt − window` (found by StartSearch from the offset the
 * timestamp index gives), forward a bounded number of batch messages. kafkajs has no manual
 * assignment, so a short-lived consumer in a unique group subscribes, pauses every other partition
 * and seeks (offsets are resolved by hand: an unresolved batch is fetched again from where the
 * last seek put it); the group is deleted afterwards.
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
    const windowStart = options.decidedAt - windowMs;
    const from = (await admin.fetchTopicOffsetsByTimestamp(topic, windowStart)).find(
      (p) => p.partition === partition,
    );
    const high = (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition);
    // -1: no record written at or after the window start (timestamps are never before event time)
    if (!from || from.offset === '-1') return { requests: [], scannedMessages: 0 };
    const end = BigInt(high?.high ?? '0');
    const search = new StartSearch(BigInt(from.offset), end, windowStart);
    let step = search.first();
    if ('start' in step && step.start >= end) return { requests: [], scannedMessages: 0 };
    // Where the consumer was last told to read: a fetch may still return earlier messages.
    let position = 'probe' in step ? step.probe : step.start;
    const kept: ExplainedRequest[] = [];
    let scanned = 0;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, resolveOffset }) => {
            if (batch.partition !== partition) return;
            for (const message of batch.messages) {
              const offset = BigInt(message.offset);
              if (offset < position) continue;
              // A batch's eg-time is its last record's event time (the Kafka timestamp is the
              // shipper's clock: later than event time, by days for a log shipped after the fact).
              const eventTime = eventTimeOf(message.headers, message.timestamp);
              if ('probe' in step) {
                step = search.observe(offset, eventTime);
                position = 'probe' in step ? step.probe : step.start;
                if (position >= end) return resolve();
                consumer.seek({ topic, partition, offset: position.toString() });
                return;
              }
              scanned++;
              keepClientRecords(message.value, message.headers, options, kept, limit);
              resolveOffset(message.offset);
              // Past decidedAt by more than the window: later batches hold nothing of interest (lines
              // arrive out of order by up to a minute or so).
              if (scanned >= maxMessages || offset + 1n >= end || eventTime > options.decidedAt + windowMs)
                return resolve();
            }
          },
        })
        .catch(reject);
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      const others = Array.from({ length: partitions }, (_, i) => i).filter((i) => i !== partition);
      if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
      consumer.seek({ topic, partition, offset: position.toString() });
    });
    await done;
    kept.sort((a, b) => a.time - b.time);
    return { requests: kept.slice(-limit), scannedMessages: scanned, probes: search.probes };
  } finally {
    if (timer) clearTimeout(timer);
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

/** Appends the explained client's records of one access-log batch up to decidedAt to `kept`. */
function keepClientRecords(
  value: Buffer | null,
  headers: IHeaders | undefined,
  options: ReadRequestsOptions,
  kept: ExplainedRequest[],
  limit: number,
): void {
  let values: unknown[] = [];
  try {
    values = decodeTopicValue(TOPICS.accessLogs, value, headers);
  } catch {
    // an undecodable batch is skipped: explain shows what can be read
  }
  for (const item of values) {
    const log = item as AccessLog | null;
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
}
