import {
  type AccessLog,
  accessLogBatchSchema,
  encodeAccessLogBatch,
  writeUtf8AsAvsc,
} from '@edgeguard/schema';

/**
 * The `access-logs` Avro batch envelope (packages/schema, `AccessLogBatch`) written by hand: the
 * same bytes as `encodeAccessLogBatch` (avsc), about twice as fast, because the shipper encodes
 * every line it ships and avsc was its largest cost (per string a `Buffer.byteLength` call, per
 * nullable field a union type lookup). Avro binary encoding (Avro 1.11 specification, "Binary
 * Encoding"): long and int as zig-zag varints, string as a long length then UTF-8, float as 4
 * bytes little-endian, a union as the branch index (a long) then the value, an array as blocks:
 * a count, the items, and a 0 count to end.
 *
 * Written for the fields in FIELDS below, checked against the schema at load: if the schema
 * changes, this steps aside (every batch goes to avsc) until it is updated, and its test fails
 * meanwhile. A record with a value avsc would refuse (a non-integer long, a wrong type) sends the
 * whole batch to avsc, which then throws as it always did. Strings are written as avsc writes
 * them (its own UTF-8 loop up to 64 bytes, `utf8Write` above), so even lone surrogates match;
 * ASCII strings are copied by a plain loop instead (avsc calls `Buffer.byteLength` for each).
 */

/** The fields in schema order with their Avro types (checked against the schema at load). */
const FIELDS = [
  ['time', 'long'],
  ['clientAddress', 'string'],
  ['peerAddress', 'nstring'],
  ['method', 'string'],
  ['host', 'nstring'],
  ['path', 'string'],
  ['query', 'nstring'],
  ['protocol', 'nstring'],
  ['status', 'int'],
  ['bytes', 'long'],
  ['edgeDurationMs', 'nfloat'],
  ['originDurationMs', 'nfloat'],
  ['cacheStatus', 'nstring'],
  ['userAgent', 'nstring'],
  ['referer', 'nstring'],
  ['acceptLanguage', 'nstring'],
  ['ja3', 'nstring'],
  ['ja4', 'nstring'],
  ['headerOrder', 'nstring'],
  ['asn', 'nint'],
  ['country', 'nstring'],
  ['edgeNode', 'nstring'],
  ['requestId', 'nstring'],
] as const;

function fieldsOf(schema: typeof accessLogBatchSchema): string[] {
  const kind = (type: unknown): string => {
    if (typeof type === 'string') return type;
    if (Array.isArray(type)) return type.length === 2 && type[0] === 'null' ? `n${kind(type[1])}` : '?';
    const t = type as { type?: unknown; logicalType?: string };
    return t.logicalType === 'timestamp-millis' && t.type === 'long' ? 'long' : '?';
  };
  return schema.fields[0].type.items.fields.map((f) => `${f.name}:${kind(f.type)}`);
}

/** Whether this encoder matches the current schema (else `encode` is avsc's). */
export const handWritten =
  JSON.stringify(fieldsOf(accessLogBatchSchema)) === JSON.stringify(FIELDS.map(([n, k]) => `${n}:${k}`));

let buf: Buffer = Buffer.allocUnsafeSlow(1 << 20);
let pos = 0;

function ensure(bytes: number): void {
  if (pos + bytes <= buf.length) return;
  const grown = Buffer.allocUnsafeSlow(Math.max(buf.length * 2, pos + bytes));
  buf.copy(grown, 0, 0, pos);
  buf = grown;
}

/** avsc's Tap.writeLong: integer arithmetic below 2^30, floating point above. */
function writeLong(n: number): void {
  if (n >= -1073741824 && n < 1073741824) {
    let m = n >= 0 ? n << 1 : (~n << 1) | 1;
    while (m > 0x7f) {
      buf[pos++] = (m & 0x7f) | 0x80;
      m >>>= 7;
    }
    buf[pos++] = m;
  } else {
    let f = n >= 0 ? n * 2 : -n * 2 - 1;
    while (f >= 128) {
      buf[pos++] = (f & 0x7f) | 0x80;
      f /= 128;
    }
    buf[pos++] = f & 0x7f;
  }
}

const NON_ASCII = /[^\x00-\x7f]/;

function writeString(s: string): void {
  const n = s.length;
  // Room for the worst case (3 bytes per UTF-16 unit) and a 5-byte length.
  ensure(3 * n + 5);
  // ASCII (the common case) is n bytes: short strings are copied by a loop that checks as it
  // goes, longer ones checked by a regular expression and copied by Buffer#write (latin1).
  if (n < 32) {
    const b = buf;
    let p = pos + 1;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        writeStringAsAvsc(s);
        return;
      }
      b[p++] = c;
    }
    b[pos] = n << 1; // the length, one byte
    pos = p;
  } else if (!NON_ASCII.test(s)) {
    writeLong(n);
    pos += buf.write(s, pos, n, 'latin1');
  } else writeStringAsAvsc(s);
}

/** avsc's Tap.writeString. */
function writeStringAsAvsc(s: string): void {
  const len = Buffer.byteLength(s);
  writeLong(len);
  if (len > 64) {
    buf.write(s, pos, len, 'utf8');
    pos += len;
    return;
  }
  pos = writeUtf8AsAvsc(buf, pos, s);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && v === (v | 0);
/** avsc's LongType check (`isSafeLong`: within ±(2^53 − 2)). */
const isLong = (v: unknown): v is number =>
  typeof v === 'number' && v % 1 === 0 && v >= -9007199254740990 && v <= 9007199254740990;

/** Writes one record; false when a value is one avsc must judge. */
function writeRecord(r: AccessLog): boolean {
  ensure(64);
  if (!isLong(r.time)) return false;
  writeLong(r.time);
  if (typeof r.clientAddress !== 'string') return false;
  writeString(r.clientAddress);
  if (!writeNullableString(r.peerAddress)) return false;
  if (typeof r.method !== 'string') return false;
  writeString(r.method);
  if (!writeNullableString(r.host)) return false;
  if (typeof r.path !== 'string') return false;
  writeString(r.path);
  if (!writeNullableString(r.query) || !writeNullableString(r.protocol)) return false;
  if (!isInt(r.status) || !isLong(r.bytes)) return false;
  ensure(32);
  writeLong(r.status);
  writeLong(r.bytes);
  if (!writeNullableFloat(r.edgeDurationMs) || !writeNullableFloat(r.originDurationMs)) return false;
  if (
    !writeNullableString(r.cacheStatus) ||
    !writeNullableString(r.userAgent) ||
    !writeNullableString(r.referer) ||
    !writeNullableString(r.acceptLanguage) ||
    !writeNullableString(r.ja3) ||
    !writeNullableString(r.ja4) ||
    !writeNullableString(r.headerOrder)
  )
    return false;
  ensure(8);
  if (r.asn === null) buf[pos++] = 0;
  else if (isInt(r.asn)) {
    buf[pos++] = 2;
    writeLong(r.asn);
  } else return false;
  return (
    writeNullableString(r.country) && writeNullableString(r.edgeNode) && writeNullableString(r.requestId)
  );
}

/** A nullable field's union branch: 0 for null (nothing follows), 1 when a value follows. */
function writeBranch(isNull: boolean): void {
  ensure(1);
  buf[pos++] = isNull ? 0 : 2;
}

function writeNullableString(v: string | null): boolean {
  if (v !== null && typeof v !== 'string') return false;
  writeBranch(v === null);
  if (v !== null) writeString(v);
  return true;
}

function writeNullableFloat(v: number | null): boolean {
  if (v !== null && typeof v !== 'number') return false;
  writeBranch(v === null);
  if (v !== null) {
    ensure(4);
    pos = buf.writeFloatLE(v, pos);
  }
  return true;
}

/**
 * One Avro batch envelope of `records`, byte for byte what `encodeAccessLogBatch` returns, in a
 * Buffer of its own.
 */
export function encodeAccessLogBatchFast(records: AccessLog[]): Buffer {
  const end = encodeInto(records);
  const out = Buffer.allocUnsafe(end);
  buf.copy(out, 0, 0, end);
  return out;
}

/**
 * Appends the envelope of `records` to `target` at `offset`, growing it (a new buffer, the bytes
 * before `offset` copied) when it is too small: returns the buffer written, which starts its own
 * ArrayBuffer when `target` did, and where the envelope ends. For a worker that hands a chunk's
 * envelopes over in one transferable buffer without copying each.
 */
export function appendAccessLogBatch(
  records: AccessLog[],
  target: Buffer,
  offset: number,
): { buffer: Buffer; end: number } {
  const scratch = buf;
  buf = target;
  pos = offset;
  try {
    return { end: encodeInto(records, offset), buffer: buf };
  } finally {
    buf = scratch;
  }
}

/** Writes the envelope into `buf` from `start`; returns its end. */
function encodeInto(records: AccessLog[], start = 0): number {
  pos = start;
  if (handWritten) {
    ensure(16);
    let ok = true;
    if (records.length > 0) {
      writeLong(records.length);
      for (let i = 0; i < records.length && ok; i++) ok = writeRecord(records[i]!);
    }
    if (ok) {
      ensure(1);
      buf[pos++] = 0;
      return pos;
    }
  }
  // avsc: the schema changed, or a value only avsc can judge (it throws on what it refuses).
  const bytes = encodeAccessLogBatch(records);
  pos = start;
  ensure(bytes.length);
  return start + bytes.copy(buf, start);
}
