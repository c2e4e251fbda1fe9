/**
 * A hand-written Avro encoder for the records of `stageRecordBatchSchema` (record-batch.ts): the
 * profiler writes one for every client signal, fingerprint partial, tick and content batch, and
 * avsc spent ~13 % of the profiler process on them (a CPU profile draining 1M events: `isValid`
 * walked each value once to pick the union branch, `encode` walked it again, arrays of 32-bit
 * hashes took avsc's floating-point varint path). Here each value is checked while it is written:
 * a field that does not fit throws MISFIT, and the record is written again with its value as JSON
 * text, which is what avsc's `isValid` → JSON branch did. The bytes are avsc's, byte for byte
 * (test/stage-record-encoder.test.ts compares them over every branch and misfit).
 *
 * It knows exactly one schema: `StageRecordCodec` uses it only when its schema's fingerprint is
 * `STAGE_RECORD_ENCODER_FINGERPRINT`, and a test fails when the schema changes without it.
 */

import { writeUtf8AsAvsc } from './avro-batch.js';

/** SHA-256 of the canonical `stageRecordBatchSchema` this encoder writes. */
export const STAGE_RECORD_ENCODER_FINGERPRINT =
  '986780b3be9ea0c8b7b4e9dba1afcb85424613e8ce393148d9fb58ee20f288cb';

/** Thrown when a value does not fit its field's type: the record goes as JSON text instead. */
const MISFIT = new Error('value does not fit the stage record schema');
/** Thrown when the buffer is too small: `encode` returns -1 and its caller retries in a larger one. */
const NO_ROOM = new Error('no room');

/** avsc's range of a `long` (types.js isSafeLong). */
const MAX_LONG = 9_007_199_254_740_990;
/** avsc writes strings up to this many bytes with its own loop, longer ones with `utf8Write`. */
const SHORT_STRING_BYTES = 64;

/** Union indexes of the StageRecord `value` (schema order); `kind` picks the branch. */
const CLIENT = 0;
const FINGERPRINT = 1;
const TICK = 2;
const CONTENT_BATCH = 3;
const JSON_TEXT = 4;

type Value = Record<string, unknown>;

interface Writable {
  key: string;
  time: number;
  seq: number;
  value: unknown;
}

export class StageRecordEncoder {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Records written as JSON text because their value fits no schema. */
  jsonRecords = 0;

  /**
   * Writes `record` at `pos` of `buf` and returns the end, or -1 when `buf` is too small (avsc's
   * `Type#encode` contract: a negative number asks for a larger buffer). Throws when the key is
   * not a string (time and seq are the caller's to check).
   */
  encode(record: Writable, buf: Buffer, pos: number): number {
    this.buf = buf;
    this.pos = pos;
    try {
      if (typeof record.key !== 'string')
        throw new Error(`stage record key ${String(record.key)} is not a string`);
      this.string(record.key);
      this.long(record.time);
      this.long(record.seq);
      const mark = this.pos;
      try {
        this.value(record.value);
      } catch (error) {
        if (error !== MISFIT) throw error;
        this.pos = mark;
        this.int(JSON_TEXT);
        this.string(JSON.stringify(record.value) ?? 'null');
        this.jsonRecords++;
      }
    } catch (error) {
      if (error === NO_ROOM) return -1;
      throw error;
    }
    return this.pos;
  }

  private value(value: unknown): void {
    if (value === null || typeof value !== 'object') throw MISFIT;
    const v = value as Value;
    switch (v.kind) {
      case 'client':
        this.int(CLIENT);
        this.clientSignal(v);
        return;
      case 'fingerprint':
        this.int(FINGERPRINT);
        this.fingerprintPartial(v);
        return;
      case 'tick':
        this.int(TICK);
        this.trafficTick(v);
        return;
      case 'content-batch':
        this.int(CONTENT_BATCH);
        this.contentPartialBatch(v);
        return;
      default:
        throw MISFIT;
    }
  }

  private clientSignal(v: Value): void {
    this.string(v.kind);
    this.string(v.ip);
    this.nullableString(v.prefix);
    this.string(v.fingerprint);
    this.long(v.time);
    this.double(v.score);
    this.string(v.reason);
    this.records(v.signals, this.signal);
    this.boolean(v.humanLooking);
    this.boolean(v.botShaped);
    this.longs(v.paths);
    this.double(v.burstRequests);
    this.boolean(v.established);
    this.long(v.firstSeen);
    this.long(v.requests);
  }

  private signal(s: Value): void {
    this.string(s.name);
    this.double(s.value);
    // ['null', 'double'] with default null: absent is written as null.
    const threshold = s.threshold;
    if (threshold === null || threshold === undefined) this.int(0);
    else {
      this.int(1);
      this.double(threshold);
    }
  }

  private fingerprintPartial(v: Value): void {
    this.string(v.kind);
    this.string(v.fingerprint);
    this.long(v.time);
    this.long(v.requests);
    this.long(v.pages);
    this.long(v.assets);
    this.long(v.repeats);
    this.long(v.pathRepeats);
    this.double(v.busts);
    this.long(v.loginPosts);
    this.long(v.authFailures);
    this.long(v.sensitiveHits);
    this.long(v.errors);
    this.long(v.clients);
    this.long(v.humanClients);
    this.long(v.establishedClients);
    this.long(v.flaggedClients);
    this.longs(v.paths);
    this.boolean(v.pathsOverflow);
    this.nullableString(v.userAgent);
    this.boolean(v.declaredCrawler);
  }

  private trafficTick(v: Value): void {
    this.string(v.kind);
    this.long(v.partition);
    this.long(v.time);
    this.long(v.requests);
    this.long(v.late);
    this.long(v.clients);
    this.long(v.establishedClients);
    this.records(v.prefixes, this.prefixCount);
  }

  private prefixCount(p: Value): void {
    this.string(p.prefix);
    this.long(p.clients);
    this.long(p.humanClients);
    this.long(p.establishedClients);
    this.long(p.protectedClients);
  }

  private contentPartialBatch(v: Value): void {
    this.string(v.kind);
    this.long(v.time);
    this.records(v.partials, this.contentPartial);
  }

  private contentPartial(p: Value): void {
    this.nullableString(p.host);
    this.string(p.path);
    this.long(p.time);
    this.long(p.requests);
    this.long(p.withQuery);
    this.long(p.newVisitors);
    this.long(p.hits);
    this.long(p.misses);
    this.long(p.expired);
    this.long(p.stale);
    this.long(p.uncacheable);
    this.long(p.plainRequests);
    this.long(p.plainCached);
    this.long(p.busts);
    this.long(p.queryMisses);
    this.long(p.serverErrors);
    this.double(p.originMsSum);
    this.long(p.originCount);
    this.longs(p.queryHashes);
    this.long(p.queryOverflow);
    // Fields with a default: avsc writes the default for an absent one.
    this.long(p.queryCompared === undefined ? 0 : p.queryCompared);
    this.long(p.querySameAsPlain === undefined ? 0 : p.querySameAsPlain);
    if (p.contentParams === undefined) this.int(0);
    else this.strings(p.contentParams);
  }

  private strings(value: unknown): void {
    const items = this.arrayOf(value);
    if (items.length > 0) {
      this.int(items.length);
      for (let i = 0; i < items.length; i++) this.string(items[i]);
    }
    this.int(0);
  }

  /**
   * An array of records: one block of all items, then the end (avsc writes no block when empty).
   * An item is any non-null object (avsc ignores fields the schema does not name).
   */
  private records(value: unknown, write: (this: StageRecordEncoder, item: Value) => void): void {
    const items = this.arrayOf(value);
    if (items.length > 0) {
      this.int(items.length);
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        if (item === null || typeof item !== 'object') throw MISFIT;
        write.call(this, item as Value);
      }
    }
    this.int(0);
  }

  private arrayOf(value: unknown): unknown[] {
    if (!Array.isArray(value)) throw MISFIT;
    return value;
  }

  /** An array of longs: one block of all items, then the end (avsc writes no block when empty). */
  private longs(value: unknown): void {
    const items = this.arrayOf(value);
    if (items.length > 0) {
      this.int(items.length);
      for (let i = 0; i < items.length; i++) this.long(items[i]);
    }
    this.int(0);
  }

  private room(bytes: number): void {
    if (this.pos + bytes > this.buf.length) throw NO_ROOM;
  }

  private boolean(value: unknown): void {
    if (typeof value !== 'boolean') throw MISFIT;
    this.room(1);
    this.buf[this.pos++] = value ? 1 : 0;
  }

  private double(value: unknown): void {
    if (typeof value !== 'number') throw MISFIT;
    this.room(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  private nullableString(value: unknown): void {
    if (value === null) this.int(0);
    else {
      this.int(1);
      this.string(value);
    }
  }

  /** A long as avsc checks it: an integer number within ±(2^53 − 2). */
  private long(value: unknown): void {
    if (typeof value !== 'number') throw MISFIT;
    if ((value | 0) === value) this.int(value);
    else if (Number.isInteger(value) && value >= -MAX_LONG && value <= MAX_LONG) this.wide(value);
    else throw MISFIT;
  }

  /**
   * A 32-bit integer as a zig-zag varint: counts, lengths, union indexes and nearly every long
   * here, in integer arithmetic.
   */
  private int(n: number): void {
    this.varint(((n << 1) ^ (n >> 31)) >>> 0);
  }

  /** An unsigned 32-bit number as a varint. */
  private varint(z: number): void {
    this.room(5);
    const buf = this.buf;
    let pos = this.pos;
    while (z > 0x7f) {
      buf[pos++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    buf[pos++] = z;
    this.pos = pos;
  }

  /**
   * A safe integer beyond 32 bits (epoch milliseconds, unsigned 32-bit hashes): its zig-zag value
   * (≥ 2^31, exact below 2^54) split into 28 low bits and the rest, each written in integer
   * arithmetic; a byte at a time in floating point cost ~100 ns per long.
   */
  private wide(n: number): void {
    this.room(10);
    const buf = this.buf;
    let pos = this.pos;
    const z = n >= 0 ? n * 2 : -n * 2 - 1;
    const high = Math.floor(z / 0x10000000);
    const low = z - high * 0x10000000;
    // z ≥ 2^31, so high > 0: all four bytes of the low part carry the continuation bit.
    buf[pos++] = (low & 0x7f) | 0x80;
    buf[pos++] = ((low >>> 7) & 0x7f) | 0x80;
    buf[pos++] = ((low >>> 14) & 0x7f) | 0x80;
    buf[pos++] = ((low >>> 21) & 0x7f) | 0x80;
    this.pos = pos;
    this.varint(high);
  }

  /**
   * A string: its UTF-8 byte length, then the bytes. ASCII (nearly every value here) is copied
   * char by char behind a length guessed from `length`; other short strings are encoded as avsc's
   * own loop does (a lone surrogate as its 3-byte form), longer ones by `Buffer#write` (avsc:
   * `utf8Write`, the same bytes).
   */
  private string(value: unknown): void {
    if (typeof value !== 'string') throw MISFIT;
    const length = value.length;
    if (length <= SHORT_STRING_BYTES) {
      this.room(10 + length);
      const start = this.pos;
      this.int(length);
      const buf = this.buf;
      let pos = this.pos;
      let i = 0;
      for (; i < length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[pos++] = c;
      }
      if (i === length) {
        this.pos = pos;
        return;
      }
      this.pos = start;
    }
    const bytes = Buffer.byteLength(value);
    this.int(bytes);
    this.room(bytes);
    if (bytes > SHORT_STRING_BYTES) this.buf.write(value, this.pos, bytes, 'utf8');
    else writeUtf8AsAvsc(this.buf, this.pos, value);
    this.pos += bytes;
  }
}
