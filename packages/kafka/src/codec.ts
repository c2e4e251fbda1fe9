import { TOPICS } from '@edgeguard/pipeline';
import { BadInput, decodeAccessLogMessage, SCHEMA_HEADER } from '@edgeguard/schema';
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
  error: 'eg-error',
  originTopic: 'eg-origin-topic',
  originPartition: 'eg-origin-partition',
  originOffset: 'eg-origin-offset',
  stage: 'eg-stage',
} as const;

export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value[0]?.toString();
  return value.toString();
}

/**
 * Decodes one Kafka message of an edgeguard topic into the values a stage processes: an Avro batch
 * of AccessLogs on `access-logs`, one JSON value elsewhere, `null` for a tombstone. Throws
 * `BadInput` for anything undecodable, so the caller dead-letters it.
 */
export function decodeTopicValue(
  topic: string,
  value: Buffer | null,
  headers: IHeaders | undefined,
): unknown[] {
  if (value === null) return [null];
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
