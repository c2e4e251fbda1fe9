import avro from 'avsc';
import { type AccessLog, accessLogSchema } from './access-log.js';
import { AvroBatchFormat, type ItemReader } from './avro-batch.js';
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

/** How a field's value is written, as the hand-written reader below reads it (`?`: `['null', T]`). */
function fieldKind(type: unknown): string {
  if (typeof type === 'string') return type;
  if (Array.isArray(type))
    return type.length === 2 && type[0] === 'null' ? `?${fieldKind(type[1])}` : 'union';
  // avsc reads a logical type it was not given an implementation for as its underlying type.
  return typeof type === 'object' && type !== null && 'type' in type ? fieldKind(type.type) : 'other';
}

/** The AccessLog fields `AccessLogReader.read` reads, in order. */
const READ_FIELDS =
  'time:long clientAddress:string peerAddress:?string method:string host:?string path:string ' +
  'query:?string protocol:?string status:int bytes:long edgeDurationMs:?float originDurationMs:?float ' +
  'cacheStatus:?string userAgent:?string referer:?string acceptLanguage:?string ja3:?string ja4:?string ' +
  'headerOrder:?string asn:?int country:?string edgeNode:?string requestId:?string';

/** True while the hand-written reader matches `accessLogSchema` (else avsc reads every batch). */
export const handWrittenAccessLogReader =
  accessLogSchema.fields.map((f) => `${f.name}:${fieldKind(f.type)}`).join(' ') === READ_FIELDS;

/** Slots per string field in the reader's table of recent values. */
const SLOTS = 16;
/**
 * Longer values are decoded every time: comparing them byte by byte in JS costs more than
 * utf8Slice (bench/avro-decode.mjs: 0.61–0.77 µs/record with 8–24, 0.82–1.00 with 256).
 */
const MAX_KEPT = 16;
/** String fields with a table: all but `query` and `requestId`, which rarely repeat. */
const KEPT_FIELDS = 15;

const EMPTY = Buffer.alloc(0);

interface Utf8Slicer {
  utf8Slice(start: number, end: number): string;
}

/**
 * Reads one AccessLog written with `accessLogSchema` itself, what avsc's generated reader returns
 * (an instance of the same record class, the same values) at less cost: no Tap, no union dispatch
 * per field, and short string values already seen are not decoded again. Each string field but
 * `query` and `requestId` has a small table of recent short ASCII values (SLOTS, chosen by length
 * and three bytes); a value whose bytes equal the slot's string is that string, so a repeated
 * method, protocol, IPv4 address, country, cache status ... costs a byte comparison instead of a
 * UTF-8 decode and an allocation, and the stages get the same string object each time (its hash
 * is computed once). Only values decoded to as many UTF-16 units as bytes are kept: those are
 * ASCII (or U+FFFD, which no byte equals), so equal bytes mean an equal string. Cut or malformed
 * bytes throw, as avsc fails on them.
 */
class AccessLogReader {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Recent values, SLOTS per string field; bounded (see MAX_KEPT). */
  private readonly recent: string[] = new Array<string>(KEPT_FIELDS * SLOTS).fill('');

  constructor(private readonly Record: new (...values: unknown[]) => AccessLog) {}

  readonly read: ItemReader = (value, cursor) => {
    this.buf = value;
    this.pos = cursor.pos;
    // Arguments are evaluated left to right: the fields in schema order.
    const record = new this.Record(
      this.long(),
      this.string(0),
      this.union() ? this.string(1) : null,
      this.string(2),
      this.union() ? this.string(3) : null,
      this.string(4),
      this.union() ? this.string(-1) : null,
      this.union() ? this.string(5) : null,
      this.varint(),
      this.long(),
      this.union() ? this.float() : null,
      this.union() ? this.float() : null,
      this.union() ? this.string(6) : null,
      this.union() ? this.string(7) : null,
      this.union() ? this.string(8) : null,
      this.union() ? this.string(9) : null,
      this.union() ? this.string(10) : null,
      this.union() ? this.string(11) : null,
      this.union() ? this.string(12) : null,
      this.union() ? this.varint() : null,
      this.union() ? this.string(13) : null,
      this.union() ? this.string(14) : null,
      this.union() ? this.string(-1) : null,
    );
    // A varint cut at the end reads `undefined` bytes as 0 and stops past the end.
    if (this.pos > value.length) throw new Error('truncated buffer');
    cursor.pos = this.pos;
    this.buf = EMPTY; // holds no message (or the fetch response it is a slice of) between reads
    return record;
  };

  /** A zig-zag varint, exactly as avsc's Tap.readLong reads it. */
  private varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let n = 0;
    let k = 0;
    let b: number;
    do {
      b = buf[pos++]!;
      n |= (b & 0x7f) << k;
      k += 7;
    } while (b & 0x80 && k < 28);
    if (b & 0x80) {
      // Past 28 bits: float arithmetic, as avsc does.
      let f = n;
      let fk = 268435456;
      do {
        b = buf[pos++]!;
        f += (b & 0x7f) * fk;
        fk *= 128;
      } while (b & 0x80);
      this.pos = pos;
      return (f % 2 ? -(f + 1) : f) / 2;
    }
    this.pos = pos;
    return (n >> 1) ^ -(n & 1);
  }

  /** An Avro long; beyond ±(2^53 − 2) avsc refuses it, and so do we. */
  private long(): number {
    const n = this.varint();
    if (!(n >= -9007199254740990 && n <= 9007199254740990)) throw new Error('potential precision loss');
    return n;
  }

  /** The branch of a `['null', T]` union: false for null, true for T. */
  private union(): boolean {
    // One byte, 0 or 2, in every batch we write: no varint loop (any other byte: read as avsc does).
    const byte = this.buf[this.pos];
    if (byte === 2 || byte === 0) {
      this.pos++;
      return byte === 2;
    }
    const index = this.varint();
    if (index === 1) return true;
    if (index === 0) return false;
    throw new Error(`invalid union index: ${index}`);
  }

  private float(): number {
    const pos = this.pos;
    if (pos + 4 > this.buf.length) throw new Error('truncated buffer');
    this.pos = pos + 4;
    return this.buf.readFloatLE(pos);
  }

  /** A string of the field with table number `field` (0 … KEPT_FIELDS − 1; −1: none). */
  private string(field: number): string {
    const length = this.varint();
    const buf = this.buf;
    const start = this.pos;
    const end = start + length;
    if (length < 0) throw new Error(`a string of length ${length}`);
    if (end > buf.length) throw new Error('truncated buffer');
    this.pos = end;
    if (length === 0) return '';
    if (field < 0 || length > MAX_KEPT) return (buf as unknown as Utf8Slicer).utf8Slice(start, end);
    const slot =
      field * SLOTS +
      ((length + buf[start]! * 7 + buf[end - 1]! * 31 + buf[start + (length >> 1)]! * 131) & (SLOTS - 1));
    const known = this.recent[slot]!;
    if (known.length === length) {
      let i = 0;
      while (i < length && known.charCodeAt(i) === buf[start + i]) i++;
      if (i === length) return known;
    }
    const text = (buf as unknown as Utf8Slicer).utf8Slice(start, end);
    if (text.length === length) this.recent[slot] = text;
    return text;
  }
}

/** The `access-logs` batch format (its `batchType` is avsc's own reader, e.g. for comparisons). */
export const accessLogBatchFormat = new AvroBatchFormat(
  'AccessLog batch',
  accessLogBatchSchema,
  undefined,
  (itemType) =>
    handWrittenAccessLogReader
      ? new AccessLogReader((itemType as avro.types.RecordType).recordConstructor).read
      : undefined,
);
const batchType = accessLogBatchFormat.batchType;
/** Hex SHA-256 of the canonical batch schema: the `eg-schema` header value we write. */
export const accessLogBatchFingerprint = accessLogBatchFormat.fingerprint;

/** Confluent schema ids → resolver of one AccessLog record (not a batch). */
const confluentReaders = new Map<number, ReturnType<avro.Type['createResolver']>>();

/** Makes batches written with an older/newer writer schema readable (registered once at start). */
export function registerBatchWriterSchema(schema: object): string {
  return accessLogBatchFormat.register(schema);
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
  return accessLogBatchFormat.decode(value, schemaHeader ?? accessLogBatchFingerprint) as AccessLog[];
}
