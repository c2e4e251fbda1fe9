import { crc32c, installKafkajsCrc32c } from './crc32c.js';
import { replaceKafkajsModule } from './kafkajs-internals.js';

/**
 * A Produce request body (v3, which kafkajs also sends for v4–v7 with another version number)
 * written once into one exactly-sized buffer.
 *
 * kafkajs builds it through nested Encoders: each record in its own zero-filled buffer, copied
 * into a batch body that doubles as it grows, copied again into the batch, the length-prefixed
 * batch, the partition, the topic and the request, with a fresh one-byte Buffer per varint. For
 * the shipper's ~768 KiB requests that is 7–9 copies and allocations of every payload byte,
 * ~120–170 MB/s on this machine, which bounded the main thread. This writes each value once and
 * checksums each batch with crc32c (≈ 3× faster), byte-identical to kafkajs' output (tested).
 *
 * Layout (Kafka protocol guide, "Produce API" and "Record Batch",
 * https://kafka.apache.org/documentation/#recordbatch):
 *   transactional_id NULLABLE_STRING, acks INT16, timeout INT32, [topic STRING, [partition INT32,
 *   records BYTES]], records = one batch: baseOffset INT64, batchLength INT32,
 *   partitionLeaderEpoch INT32, magic INT8 (2), crc UINT32 (CRC-32C of the rest), attributes
 *   INT16, lastOffsetDelta INT32, baseTimestamp INT64, maxTimestamp INT64, producerId INT64,
 *   producerEpoch INT16, baseSequence INT32, [record] (INT32 count), record = length VARINT,
 *   attributes INT8, timestampDelta VARLONG, offsetDelta VARINT, key VARINT-BYTES, value
 *   VARINT-BYTES, [header key VARINT-STRING, value VARINT-BYTES] (VARINT count); VARINTs are
 *   zig-zag LEB128.
 *
 * Only uncompressed requests whose messages carry no timestamp of their own and no null header
 * value are written here (all edgeguard sends); any other request goes to kafkajs' own encoder.
 */

/** kafkajs' Long (a BigInt in `value`). */
interface LongLike {
  value: bigint;
}
interface ProduceMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string | null | undefined | (Buffer | string)[]>;
  timestamp?: string | number;
}
interface ProducePartition {
  partition: number;
  firstSequence?: number;
  messages: ProduceMessage[];
}
interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  /** A decimal string from InitProducerId, a number, a bigint or a kafkajs Long (as Long.fromValue). */
  producerId?: LongLike | string | number | bigint;
  producerEpoch?: number;
  compression?: number;
  topicData: { topic: string; partitions: ProducePartition[] }[];
}
interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
}
interface EncoderClass {
  nextPowerOfTwo(n: number): number;
  prototype: KafkajsEncoder & { ensureAvailable(length: number): void };
}

const PRODUCE_API_KEY = 0;
const BATCH_OVERHEAD = 61; // baseOffset … record count, before the records
const TRANSACTIONAL = 16;

function int64(value: LongLike | string | number | bigint): bigint {
  if (typeof value === 'bigint') return BigInt.asIntN(64, value);
  if (typeof value === 'object') return BigInt.asIntN(64, value.value);
  return BigInt.asIntN(64, BigInt(value));
}

function zigzag(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

function sizeOfVarInt(n: number): number {
  let v = zigzag(n);
  let bytes = 1;
  while (v >= 0x80) {
    v >>>= 7;
    bytes++;
  }
  return bytes;
}

function writeVarInt(buf: Buffer, at: number, n: number): number {
  let v = zigzag(n);
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

/** Bytes of a key, value or header value as kafkajs writes it (a string as UTF-8, else String()). */
function bytesOf(value: unknown): Buffer | null {
  if (value === null || value === undefined) return null;
  return Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'utf8');
}

interface PreparedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: [Buffer, Buffer][];
  bodySize: number;
}

function prepareRecord(message: ProduceMessage, offsetDelta: number): PreparedRecord {
  const key = bytesOf(message.key);
  const value = bytesOf(message.value);
  const headers: [Buffer, Buffer][] = [];
  for (const name of Object.keys(message.headers ?? {})) {
    const raw = message.headers![name];
    const nameBytes = Buffer.from(name, 'utf8');
    if (Array.isArray(raw)) for (const v of raw) headers.push([nameBytes, bytesOf(v)!]);
    else headers.push([nameBytes, bytesOf(raw)!]);
  }
  let bodySize =
    1 + // attributes
    1 + // timestampDelta 0 as a varlong
    sizeOfVarInt(offsetDelta) +
    (key ? sizeOfVarInt(key.length) + key.length : 1) +
    (value ? sizeOfVarInt(value.length) + value.length : 1) +
    sizeOfVarInt(headers.length);
  for (const [name, v] of headers)
    bodySize += sizeOfVarInt(name.length) + name.length + sizeOfVarInt(v.length) + v.length;
  return { key, value, headers, bodySize };
}

function writeBytesVarInt(buf: Buffer, at: number, bytes: Buffer | null): number {
  if (!bytes) return writeVarInt(buf, at, -1);
  at = writeVarInt(buf, at, bytes.length);
  return at + bytes.copy(buf, at);
}

/** Whether `args` is a request this module writes (else kafkajs' encoder does). */
export function fastProduceEligible(args: ProduceArgs): boolean {
  if ((args.compression ?? 0) !== 0) return false;
  for (const topic of args.topicData)
    for (const partition of topic.partitions)
      for (const message of partition.messages) {
        if (message.timestamp != null) return false;
        // kafkajs refuses a null header value (it throws); let it.
        for (const v of Object.values(message.headers ?? {})) if (v == null) return false;
      }
  return true;
}

/** The request body as kafkajs' produce v3 `encode()` would write it, `now` as the batch time. */
export function encodeProduceRequest(args: ProduceArgs, now: number = Date.now()): Buffer {
  const transactionalId = args.transactionalId ?? null;
  const txBytes = transactionalId === null ? null : Buffer.from(transactionalId, 'utf8');
  const producerId = args.producerId == null ? -1n : int64(args.producerId);
  const attributes = transactionalId ? TRANSACTIONAL : 0;
  const nowBig = BigInt(now);
  let size = 2 + (txBytes ? txBytes.length : 0) + 2 + 4 + 4;
  const topics = args.topicData.map((topic) => {
    const name = Buffer.from(topic.topic, 'utf8');
    size += 2 + name.length + 4;
    const partitions = topic.partitions.map((partition) => {
      const records = partition.messages.map(prepareRecord);
      let batchSize = BATCH_OVERHEAD;
      for (const r of records) batchSize += sizeOfVarInt(r.bodySize) + r.bodySize;
      size += 4 + 4 + batchSize;
      return { partition, records, batchSize };
    });
    return { name, partitions };
  });

  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (txBytes) {
    at = buf.writeInt16BE(txBytes.length, at);
    at += txBytes.copy(buf, at);
  } else at = buf.writeInt16BE(-1, at);
  at = buf.writeInt16BE(args.acks, at);
  at = buf.writeInt32BE(args.timeout, at);
  at = buf.writeInt32BE(topics.length, at);
  for (const topic of topics) {
    at = buf.writeInt16BE(topic.name.length, at);
    at += topic.name.copy(buf, at);
    at = buf.writeInt32BE(topic.partitions.length, at);
    for (const { partition, records, batchSize } of topic.partitions) {
      at = buf.writeInt32BE(partition.partition, at);
      at = buf.writeInt32BE(batchSize, at);
      at = buf.writeBigInt64BE(0n, at); // baseOffset
      at = buf.writeInt32BE(batchSize - 12, at); // batchLength: what follows this field
      at = buf.writeInt32BE(0, at); // partitionLeaderEpoch
      at = buf.writeInt8(2, at); // magic
      const crcAt = at;
      at += 4;
      const bodyStart = at;
      at = buf.writeInt16BE(attributes, at);
      at = buf.writeInt32BE(records.length - 1, at); // lastOffsetDelta
      at = buf.writeBigInt64BE(nowBig, at); // baseTimestamp
      at = buf.writeBigInt64BE(nowBig, at); // maxTimestamp
      at = buf.writeBigInt64BE(producerId, at);
      at = buf.writeInt16BE(args.producerEpoch ?? 0, at);
      at = buf.writeInt32BE(partition.firstSequence ?? 0, at);
      at = buf.writeInt32BE(records.length, at);
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        at = writeVarInt(buf, at, r.bodySize);
        buf[at++] = 0; // attributes
        buf[at++] = 0; // timestampDelta
        at = writeVarInt(buf, at, i);
        at = writeBytesVarInt(buf, at, r.key);
        at = writeBytesVarInt(buf, at, r.value);
        at = writeVarInt(buf, at, r.headers.length);
        for (const [name, v] of r.headers) {
          at = writeBytesVarInt(buf, at, name);
          at = writeBytesVarInt(buf, at, v);
        }
      }
      buf.writeUInt32BE(crc32c(buf.subarray(bodyStart, at)), crcAt);
    }
  }
  if (at !== size) throw new Error(`produce encoder: wrote ${at} of ${size} bytes`);
  return buf;
}

export type ProduceEncoderInstall = 'installed' | 'already' | 'unavailable' | 'too-late';
let installed: ProduceEncoderInstall | null = null;

/**
 * Makes kafkajs write eligible Produce requests with `encodeProduceRequest`. kafkajs has no hook
 * for this: its produce request versions 4–7 wrap `src/protocol/requests/produce/v3/request.js`,
 * which they take when first required (lazily, at the first produce), and version 3 itself is
 * required anew by each call. So this replaces that module's export in Node's CommonJS cache
 * before any produce (replaceKafkajsModule), and makes kafkajs' Encoder grow without zero-filling
 * (below). If the module is missing or a wrapper is already loaded, kafkajs keeps its own encoder.
 * Requests this does not write (compressed, messages with their own timestamps or null header
 * values) go to kafkajs' function unchanged. The broker checks every batch (CRC, lengths,
 * sequence numbers), so a mistake here fails loudly.
 */
export function installKafkajsProduceEncoder(): ProduceEncoderInstall {
  if (installed) return installed === 'installed' ? 'already' : installed;
  installed = install();
  return installed;
}

function install(): Exclude<ProduceEncoderInstall, 'already'> {
  // The fallback (kafkajs' own encoder) should checksum with crc32c too: install that first.
  installKafkajsCrc32c();
  return replaceKafkajsModule(
    'src/protocol/requests/produce/v3/request.js',
    [4, 5, 6, 7].map((v) => `src/protocol/requests/produce/v${v}/request.js`),
    (original, load) => {
      const Encoder = load('src/protocol/encoder.js') as EncoderClass &
        (new (
          size?: number,
        ) => KafkajsEncoder);
      if (typeof Encoder !== 'function') throw new Error('kafkajs Encoder not found');
      growWithoutZeroing(Encoder);
      const kafkajsRequest = original as (args: ProduceArgs) => object;
      return (args: ProduceArgs) => {
        if (!fastProduceEligible(args)) return kafkajsRequest(args);
        return {
          apiKey: PRODUCE_API_KEY,
          apiVersion: 3,
          apiName: 'Produce',
          expectResponse: () => args.acks !== 0,
          encode: async () => {
            // kafkajs' request framing copies the body from an Encoder's `buf` up to `offset`.
            const encoder = new Encoder(0);
            encoder.buf = encodeProduceRequest(args);
            encoder.offset = encoder.buf.length;
            return encoder;
          },
        };
      };
    },
  );
}

/**
 * kafkajs' Encoder grows its buffer with `Buffer.alloc` (zero-filled) and copies what it wrote;
 * every request is framed by two such Encoders as big as the request. Its writes are sequential
 * and it only ever hands out `buf` up to `offset` (the `buffer` getter and `size()`), so the
 * zeroing is wasted: grow with `Buffer.allocUnsafe` instead (same sizes, same copy).
 */
function growWithoutZeroing(Encoder: EncoderClass): void {
  if (typeof Encoder.nextPowerOfTwo !== 'function' || typeof Encoder.prototype.ensureAvailable !== 'function')
    return;
  Encoder.prototype.ensureAvailable = function ensureAvailable(this: KafkajsEncoder, length: number) {
    if (this.offset + length > this.buf.length) {
      const grown = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(this.offset + length));
      this.buf.copy(grown, 0, 0, this.offset);
      this.buf = grown;
    }
  };
}
