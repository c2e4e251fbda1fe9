import { TOPICS } from '@edgeguard/pipeline';
import {
  BadInput,
  decodeAccessLogMessage,
  SCHEMA_HEADER,
  type StageRecord,
  stageRecords,
} from '@edgeguard/schema';
import type { IHeaders } from 'kafkajs';

/** Header names edgeguard writes on every message it produces. */
export const HEADERS = {
  /** Producing stage instance, `<stage>/<partition>`: the unit of sequence numbering. */
  source: 'eg-src',
  /** Per-source sequence number: lets a consumer drop messages re-emitted after a restart. */
  sequence: 'eg-seq',
  /** How many source instances the producing stage has (for end-of-stream accounting). */
  sources: 'eg-src-of',
  /** Control messages: `end` marks end of input of one source (replays and `edgeguard ship`). */
  control: 'eg-control',
  schema: SCHEMA_HEADER,
  /**
   * Event time (epoch ms) of the message. The Kafka record timestamp stays the producer's wall
   * clock, because topic retention is computed from it: a replayed 2024 log must not be deleted
   * by a 3-day retention the moment it is written.
   */
  eventTime: 'eg-time',
  /**
   * On a `decisions` tombstone: the version of the decision it deletes. Consumers keep a decision
   * of a higher version (`survivesTombstone`, packages/schema), and the store writer produces it
   * again so that it stays its key's last record. Without it (older builds, operator deletes),
   * the older rules apply.
   */
  version: 'eg-version',
  /**
   * On a `decisions` record the store writer produced again (a decision it kept, a deletion after
   * a copy it refused): consumers refuse a copied decision whose version they saw deleted since,
   * and such a deletion removes the version it names only (not a lower one decided since).
   */
  copy: 'eg-copy',
  error: 'eg-error',
  originTopic: 'eg-origin-topic',
  originPartition: 'eg-origin-partition',
  originOffset: 'eg-origin-offset',
  stage: 'eg-stage',
  /** Index of the failed record inside a batch message (dead letters of one record). */
  originIndex: 'eg-origin-index',
  /**
   * On a dead letter whose value was cut (to MAX_DEAD_LETTER_BYTES) or dropped (the broker would
   * not take it): the original value's size in bytes.
   */
  truncated: 'eg-truncated',
  /**
   * `records-avro-v1`: the value is an Avro batch of keyed records (@edgeguard/schema
   * record-batch.ts, writer schema in `eg-schema`); `records-v1`: a JSON array of them.
   */
  format: 'eg-format',
} as const;

/**
 * Internal topics whose messages each carry many keyed records: a stage's outputs to one partition
 * within one input batch travel as one Kafka message. kafkajs spends several microseconds per
 * message (record encoding, CRC-32C in JavaScript, headers), which bounded a profiler at ~30k
 * events/s when every client signal was its own message. Compacted topics (`decisions`,
 * `cache-policies`) stay one message per key: compaction and outside readers work by key.
 */
export const RECORD_BATCH_TOPICS: ReadonlySet<string> = new Set<string>([
  TOPICS.signals,
  TOPICS.contentPartials,
]);
/** What we write: an Avro batch of stage records, its writer schema's fingerprint in `eg-schema`. */
export const RECORD_BATCH_FORMAT = 'records-avro-v1';
/** What builds before records-avro-v1 wrote: still read, so a rolling upgrade loses nothing. */
export const RECORD_BATCH_JSON_FORMAT = 'records-v1';

/** One record of a batch message: its own key, event time and per-source sequence number. */
export type TopicRecord = StageRecord;

/** One record, JSON-encoded as a `records-v1` batch element `[key, time, seq, value]`. */
export function encodeBatchRecord(record: TopicRecord): string {
  return JSON.stringify([record.key, record.time, record.seq, record.value]);
}

/** A `records-v1` batch message's value from records encoded with {@link encodeBatchRecord}. */
export function encodeRecordBatch(encodedRecords: readonly string[]): Buffer {
  return Buffer.from(`[${encodedRecords.join(',')}]`);
}

/**
 * Decodes a record batch message of either format (`eg-format` header); throws `BadInput` when it
 * is not one, or its writer schema is unknown.
 */
export function decodeRecordBatch(value: Buffer, headers: IHeaders | undefined): TopicRecord[] {
  if (headerText(headers, HEADERS.format) === RECORD_BATCH_JSON_FORMAT) return decodeJsonRecordBatch(value);
  return stageRecords.decode(value, headerText(headers, HEADERS.schema) ?? stageRecords.fingerprint);
}

/** Decodes a `records-v1` batch message; throws `BadInput` when it is not one. */
function decodeJsonRecordBatch(value: Buffer): TopicRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    throw new BadInput('undecodable', `not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new BadInput('undecodable', 'record batch: expected a JSON array');
  const records: TopicRecord[] = new Array(parsed.length);
  for (let i = 0; i < parsed.length; i++) {
    const item = parsed[i] as unknown;
    if (
      !Array.isArray(item) ||
      item.length !== 4 ||
      typeof item[0] !== 'string' ||
      typeof item[1] !== 'number' ||
      typeof item[2] !== 'number'
    )
      throw new BadInput('undecodable', `record batch: element ${i} is not [key, time, seq, value]`);
    records[i] = { key: item[0], time: item[1], seq: item[2], value: item[3] };
  }
  return records;
}

export function isRecordBatch(headers: IHeaders | undefined): boolean {
  const format = headerText(headers, HEADERS.format);
  return format === RECORD_BATCH_FORMAT || format === RECORD_BATCH_JSON_FORMAT;
}

export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value[0]?.toString();
  return value.toString();
}

/**
 * Decodes one Kafka message of an edgeguard topic into the values a stage processes: an Avro batch
 * of AccessLogs on `access-logs`, the records' values of a record batch, one JSON value elsewhere,
 * `null` for a tombstone. Throws
 * `BadInput` for anything undecodable, so the caller dead-letters it.
 */
export function decodeTopicValue(
  topic: string,
  value: Buffer | null,
  headers: IHeaders | undefined,
): unknown[] {
  if (value === null) {
    // Tombstones are values of compacted topics; access-logs carries only batches of records.
    if (topic === TOPICS.accessLogs) throw new BadInput('undecodable', 'access-logs message without a value');
    return [null];
  }
  if (isRecordBatch(headers)) return decodeRecordBatch(value, headers).map((record) => record.value);
  if (topic === TOPICS.accessLogs) return decodeAccessLogMessage(value, headerText(headers, HEADERS.schema));
  try {
    return [JSON.parse(value.toString('utf8'))];
  } catch (error) {
    throw new BadInput('undecodable', `not JSON: ${(error as Error).message}`);
  }
}

export function encodeJson(value: unknown): Buffer | null {
  return value === null ? null : Buffer.from(JSON.stringify(value));
}

/** Event time of a consumed message: the `eg-time` header, else the record timestamp. */
export function eventTimeOf(headers: IHeaders | undefined, recordTimestamp: string): number {
  const header = headerText(headers, HEADERS.eventTime);
  return header !== undefined ? Number(header) : Number(recordTimestamp);
}
