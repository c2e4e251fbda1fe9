import avro from 'avsc';
import { type AccessLog, accessLogSchema } from './access-log.js';
import { AvroBatchFormat } from './avro-batch.js';
import { BadInput } from './bad-input.js';
import { accessLogType } from './codec.js';

/**
 * Kafka wire format of `access-logs`: many AccessLog records of one partition in one Kafka message
 * (an Avro batch envelope), because per-message overhead, not Avro, bounds kafkajs throughput.
 * The writer schema's fingerprint travels in the `eg-schema` header; a reader resolves older or
 * newer writers through Avro reader/writer resolution. Confluent framing (magic byte 0 + 4-byte
 * schema id, https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format)
 * is accepted on input when the id's schema is registered with `registerConfluentSchema`.
 */
export const accessLogBatchSchema = {
  type: 'record',
  name: 'AccessLogBatch',
  namespace: 'io.edgeguard',
  fields: [{ name: 'records', type: { type: 'array', items: accessLogSchema } }],
} as const;

export const SCHEMA_HEADER = 'eg-schema';

const accessLogBatches = new AvroBatchFormat('AccessLog batch', accessLogBatchSchema);
const batchType = accessLogBatches.batchType;
/** Hex SHA-256 of the canonical batch schema: the `eg-schema` header value we write. */
export const accessLogBatchFingerprint = accessLogBatches.fingerprint;

/** Confluent schema ids → resolver of one AccessLog record (not a batch). */
const confluentReaders = new Map<number, ReturnType<avro.Type['createResolver']>>();

/** Makes batches written with an older/newer writer schema readable (registered once at start). */
export function registerBatchWriterSchema(schema: object): string {
  return accessLogBatches.register(schema);
}

/** Accepts Confluent-framed single records written with `schema` under registry id `id`. */
export function registerConfluentSchema(id: number, schema: object): void {
  confluentReaders.set(id, accessLogType.createResolver(avro.Type.forSchema(schema as avro.Schema)));
}

/**
 * Reused encoding buffer. avsc's `toBuffer` writes into a 1 KiB pool and, when the value does not
 * fit (a batch never does), writes it a second time into a buffer of the right size; encoding into
 * a buffer that fits and copying the bytes out writes once. Grows to the largest batch seen.
 */
let scratch = Buffer.allocUnsafeSlow(1 << 20);

export function encodeAccessLogBatch(records: AccessLog[]): Buffer {
  const value = { records };
  let end = batchType.encode(value, scratch, 0);
  if (end < 0) {
    // `encode` returns minus the number of bytes missing.
    scratch = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, scratch.length - end));
    end = batchType.encode(value, scratch, 0);
  }
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  return out;
}

/**
 * Decodes a Kafka message value into records. `schemaHeader` is the `eg-schema` header (absent:
 * Confluent framing or the current schema). Throws `BadInput` (reasons `unknown-schema`,
 * `undecodable`) so the consumer can route the message to the dead-letter topic.
 */
export function decodeAccessLogMessage(value: Buffer, schemaHeader?: string): AccessLog[] {
  if (!schemaHeader && value.length >= 5 && value[0] === 0 && confluentReaders.size > 0) {
    const id = value.readInt32BE(1);
    const reader = confluentReaders.get(id);
    if (!reader) throw new BadInput('unknown-schema', `Confluent schema id ${id} is not registered`);
    try {
      const { value: record, offset } = accessLogType.decode(value, 5, reader);
      if (offset !== value.length) throw new Error(offset < 0 ? 'truncated buffer' : 'trailing data');
      return [record as AccessLog];
    } catch (error) {
      throw new BadInput('undecodable', `Confluent-framed AccessLog: ${(error as Error).message}`);
    }
  }
  return accessLogBatches.decode(value, schemaHeader ?? accessLogBatchFingerprint) as AccessLog[];
}
