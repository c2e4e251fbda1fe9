import avro from 'avsc';
import { BadInput } from './bad-input.js';

/**
 * Avro batch envelopes: many items of one partition in one Kafka message, as a record whose only
 * field, `records`, is an array of items. kafkajs' per-message overhead, not Avro, bounds
 * throughput, so every internal topic with many small values batches them this way (`access-logs`:
 * AccessLogs; `signals` and `content-partials`: stage records, see record-batch.ts).
 *
 * The writer schema's SHA-256 fingerprint travels in the `eg-schema` header; a reader resolves a
 * registered older or newer writer schema through Avro reader/writer resolution.
 */

type Resolver = ReturnType<avro.Type['createResolver']>;

/**
 * Reads one item at `cursor.pos` of `value` and moves `cursor.pos` past it; throws when the bytes
 * are cut or malformed. A format's own reader for items written with its own schema (see `decode`).
 */
export type ItemReader = (value: Buffer, cursor: { pos: number }) => unknown;

interface Reader {
  /** Resolver of the whole batch (null: the writer is the reader's own schema). */
  resolver: Resolver | null;
  /** For writers whose only field is the records array: the resolver of one item. */
  items?: { resolver: Resolver | undefined; read?: ItemReader | undefined };
}

export class AvroBatchFormat {
  readonly batchType: avro.types.RecordType;
  /** The type of one item of the `records` array. */
  readonly itemType: avro.Type;
  /** Hex SHA-256 of the canonical batch schema: the `eg-schema` header value we write. */
  readonly fingerprint: string;
  /** Writer schemas we can read, by fingerprint; bounded by the number of schema versions we know. */
  private readonly readers = new Map<string, Reader>();

  constructor(
    /** Names the batch in errors, e.g. `AccessLog batch`. */
    readonly label: string,
    schema: object,
    options?: Partial<avro.ForSchemaOptions>,
    /**
     * Reads items written with exactly this schema (fingerprint match) instead of avsc; it must
     * return what avsc would. Any other writer schema still goes through avsc's resolver. Given
     * the item type (its record constructor); undefined: avsc reads them too.
     */
    ownReader?: (itemType: avro.Type) => ItemReader | undefined,
  ) {
    this.batchType = avro.Type.forSchema(schema as avro.Schema, options) as avro.types.RecordType;
    const records = this.batchType.fields[0]?.type;
    if (this.batchType.fields.length !== 1 || !(records instanceof avro.types.ArrayType))
      throw new Error(`${label}: a batch schema has one field, the records array`);
    this.itemType = records.itemsType;
    this.fingerprint = this.batchType.fingerprint('sha256').toString('hex');
    this.readers.set(this.fingerprint, {
      resolver: null,
      items: { resolver: undefined, read: ownReader?.(this.itemType) },
    });
  }

  /** Makes batches written with an older/newer writer schema readable (registered once at start). */
  register(schema: object): string {
    const writer = avro.Type.forSchema(schema as avro.Schema) as avro.types.RecordType;
    const fingerprint = writer.fingerprint('sha256').toString('hex');
    const fields = writer.fields;
    const records = fields.length === 1 && fields[0]!.name === 'records' ? fields[0]!.type : null;
    const items =
      records instanceof avro.types.ArrayType
        ? { resolver: this.itemType.createResolver(records.itemsType) }
        : undefined;
    this.readers.set(fingerprint, { resolver: this.batchType.createResolver(writer), items });
    return fingerprint;
  }

  /**
   * The items of a batch written with the schema whose fingerprint is `fingerprint`. Throws
   * `BadInput` (reasons `unknown-schema`, `undecodable`) so the consumer dead-letters the message.
   */
  decode(value: Buffer, fingerprint: string): unknown[] {
    const reader = this.readers.get(fingerprint);
    if (!reader) throw new BadInput('unknown-schema', `writer schema ${fingerprint} is not registered`);
    try {
      if (reader.items) return decodeItems(this.itemType, value, reader.items.resolver, reader.items.read);
      const batch = reader.resolver
        ? this.batchType.fromBuffer(value, reader.resolver)
        : this.batchType.fromBuffer(value);
      return (batch as { records: unknown[] }).records;
    } catch (error) {
      throw new BadInput('undecodable', `${this.label}: ${(error as Error).message}`);
    }
  }
}

/**
 * The records array of a batch envelope, block by block (Avro spec: a count, a byte size when the
 * count is negative, the items; a zero count ends it), each item decoded on its own. avsc's own
 * array reader believes the count and only checks the buffer at the end: a 4-byte message claiming
 * 20 million records built 20 million empty records and ran the consumer out of memory. Here a
 * count larger than the bytes left is refused at once (every item takes at least one byte), and
 * a cut item is found at that item.
 */
function decodeItems(
  itemType: avro.Type,
  value: Buffer,
  resolver: Resolver | undefined,
  read: ItemReader | undefined,
): unknown[] {
  const items: unknown[] = [];
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
    if (read) {
      for (let i = 0; i < count; i++) items.push(read(value, cursor));
      continue;
    }
    for (let i = 0; i < count; i++) {
      const { value: item, offset } = itemType.decode(value, cursor.pos, resolver);
      if (offset < 0) throw new Error(`truncated buffer (record ${items.length})`);
      items.push(item);
      cursor.pos = offset;
    }
  }
  if (cursor.pos !== value.length) throw new Error('trailing data');
  return items;
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

/**
 * Writes one item at `pos` of `buffer` and returns its end, or a negative number when `buffer` is
 * too small (more bytes are needed). avsc's `Type#encode`; stage-record-encoder.ts is a hand-written one.
 */
export interface ItemEncoder {
  encode(item: unknown, buffer: Buffer, pos: number): number;
}

/**
 * Builds one batch envelope item by item: each item is Avro-encoded straight into a growing buffer
 * (no string or buffer per item), and `finish` copies the items out once, behind their count. The
 * buffer is kept for the next batch; it grows to the largest batch written (`limit` plus one item).
 */
export class AvroBatchWriter {
  private buffer: Buffer;
  private end = 0;
  /** Items in the open batch. */
  count = 0;

  constructor(
    private readonly itemType: ItemEncoder,
    initialBytes = 16 * 1024,
  ) {
    this.buffer = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Encoded bytes of the open batch's items. */
  get bytes(): number {
    return this.end;
  }

  /**
   * Appends `item`. When the open batch already has items and `item` would take it past `limit`
   * bytes, that batch is finished without it and returned (`item` starts the next one); else null.
   * Throws (leaving the batch as it was) when the encoder cannot encode `item`.
   */
  add(item: unknown, limit: number): Buffer | null {
    const start = this.end;
    let end = this.itemType.encode(item, this.buffer, start);
    while (end < 0) {
      // `encode` returns minus the number of bytes missing (avsc) or -1 (at least double).
      const grown = Buffer.allocUnsafeSlow(Math.max(this.buffer.length * 2, this.buffer.length - end));
      this.buffer.copy(grown, 0, 0, start);
      this.buffer = grown;
      end = this.itemType.encode(item, this.buffer, start);
    }
    let finished: Buffer | null = null;
    if (this.count > 0 && end > limit) {
      finished = this.envelope(start);
      this.buffer.copyWithin(0, start, end);
      end -= start;
      this.count = 0;
    }
    this.end = end;
    this.count++;
    return finished;
  }

  /** The open batch as a message value (null when empty); the writer is empty afterwards. */
  finish(): Buffer | null {
    if (this.count === 0) return null;
    const out = this.envelope(this.end);
    this.end = 0;
    this.count = 0;
    return out;
  }

  /** One block of `count` items (bytes [0, end) of the buffer), then the array's end (a zero count). */
  private envelope(end: number): Buffer {
    const header = zigzag(this.count);
    const out = Buffer.allocUnsafe(header.length + end + 1);
    header.copy(out, 0);
    this.buffer.copy(out, header.length, 0, end);
    out[out.length - 1] = 0;
    return out;
  }
}

const longType = avro.Type.forSchema('long');

/** A count as an Avro long (zig-zag varint). */
function zigzag(count: number): Buffer {
  return longType.toBuffer(count);
}

/**
 * UTF-8 of `s` at `pos` of `buf` as avsc's Tap.writeString writes strings of ≤ 64 bytes: surrogate
 * pairs joined, any other code unit (a lone surrogate too) as 1–3 bytes; returns the end. Hand-written
 * Avro encoders use it to write avsc's bytes exactly (`Buffer#write` makes a lone surrogate U+FFFD).
 */
export function writeUtf8AsAvsc(buf: Buffer, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) buf[pos++] = c;
    else if (c < 0x800) {
      buf[pos++] = (c >> 6) | 0xc0;
      buf[pos++] = (c & 0x3f) | 0x80;
    } else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c & 0x3ff) << 10) + (s.charCodeAt(++i) & 0x3ff);
      buf[pos++] = (c >> 18) | 0xf0;
      buf[pos++] = ((c >> 12) & 0x3f) | 0x80;
      buf[pos++] = ((c >> 6) & 0x3f) | 0x80;
      buf[pos++] = (c & 0x3f) | 0x80;
    } else {
      buf[pos++] = (c >> 12) | 0xe0;
      buf[pos++] = ((c >> 6) & 0x3f) | 0x80;
      buf[pos++] = (c & 0x3f) | 0x80;
    }
  }
  return pos;
}
