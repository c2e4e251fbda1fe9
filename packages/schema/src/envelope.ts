import avro from 'avsc';
import { type AccessLog, accessLogSchema } from './access-log.js';
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

const batchType = avro.Type.forSchema(accessLogBatchSchema as unknown as avro.Schema);
/** Hex SHA-256 of the canonical batch schema: the `eg-schema` header value we write. */
export const accessLogBatchFingerprint = batchType.fingerprint('sha256').toString('hex');

interface Reader {
  type: avro.Type;
  resolver: ReturnType<avro.Type['createResolver']> | null;
  /** For batch writers whose only field is the records array: the resolver of one record. */
  items?: { resolver: ReturnType<avro.Type['createResolver']> | undefined };
}
/** Writer schemas we can read, by fingerprint; bounded by the number of schema versions we know. */
const readersByFingerprint = new Map<string, Reader>([
  [accessLogBatchFingerprint, { type: batchType, resolver: null, items: { resolver: undefined } }],
]);
/** Confluent schema ids → reader of one AccessLog record (not a batch). */
const confluentReaders = new Map<number, Reader>();

/** Makes batches written with an older/newer writer schema readable (registered once at start). */
export function registerBatchWriterSchema(schema: object): string {
  const writer = avro.Type.forSchema(schema as avro.Schema) as avro.types.RecordType;
  const fingerprint = writer.fingerprint('sha256').toString('hex');
  const fields = writer.fields;
  const records = fields.length === 1 && fields[0]!.name === 'records' ? fields[0]!.type : null;
  const items =
    records instanceof avro.types.ArrayType
      ? { resolver: accessLogType.createResolver(records.itemsType) }
      : undefined;
  readersByFingerprint.set(fingerprint, { type: writer, resolver: batchType.createResolver(writer), items });
  return fingerprint;
}

/** Accepts Confluent-framed single records written with `schema` under registry id `id`. */
export function registerConfluentSchema(id: number, schema: object): void {
  const writer = avro.Type.forSchema(schema as avro.Schema);
  confluentReaders.set(id, { type: writer, resolver: accessLogType.createResolver(writer) });
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
      const { value: record, offset } = accessLogType.decode(value, 5, reader.resolver ?? undefined);
      if (offset !== value.length) throw new Error(offset < 0 ? 'truncated buffer' : 'trailing data');
      return [record as AccessLog];
    } catch (error) {
      throw new BadInput('undecodable', `Confluent-framed AccessLog: ${(error as Error).message}`);
    }
  }
  const reader = readersByFingerprint.get(schemaHeader ?? accessLogBatchFingerprint);
  if (!reader) throw new BadInput('unknown-schema', `writer schema ${schemaHeader} is not registered`);
  try {
    if (reader.items) return decodeRecords(value, reader.items.resolver);
    const batch = reader.resolver
      ? batchType.fromBuffer(value, reader.resolver)
      : batchType.fromBuffer(value);
    return (batch as { records: AccessLog[] }).records;
  } catch (error) {
    throw new BadInput('undecodable', `AccessLog batch: ${(error as Error).message}`);
  }
}

/**
 * The records array of a batch envelope, block by block (Avro spec: a count, a byte size when the
 * count is negative, the items; a zero count ends it), each record decoded on its own. avsc's own
 * array reader believes the count and only checks the buffer at the end: a 4-byte message claiming
 * 20 million records built 20 million empty records and ran the consumer out of memory. Here a
 * count larger than the bytes left is refused at once (every record takes at least one byte), and
 * a cut record is found at that record.
 */
function decodeRecords(
  value: Buffer,
  resolver: ReturnType<avro.Type['createResolver']> | undefined,
): AccessLog[] {
  const records: AccessLog[] = [];
  const cursor = { pos: 0 };
  for (;;) {
    let count = readLong(value, cursor);
    if (count === 0) break;
    if (count < 0) {
      count = -count;
      readLong(value, cursor); // the block's size in bytes: not needed to read it
    }
    if (count > value.length - cursor.pos)
      throw new Error(`a block of ${count} records in ${value.length - cursor.pos} bytes`);
    for (let i = 0; i < count; i++) {
      const { value: record, offset } = accessLogType.decode(value, cursor.pos, resolver);
      if (offset < 0) throw new Error(`truncated buffer (record ${records.length})`);
      records.push(record as AccessLog);
      cursor.pos = offset;
    }
  }
  if (cursor.pos !== value.length) throw new Error('trailing data');
  return records;
}

/** An Avro long (zig-zag varint) at cursor.pos; throws when cut or beyond 2^53. */
function readLong(buffer: Buffer, cursor: { pos: number }): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (cursor.pos >= buffer.length) throw new Error('truncated buffer');
    const byte = buffer[cursor.pos++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    scale *= 128;
  }
  throw new Error('a block count beyond 2^53');
}
