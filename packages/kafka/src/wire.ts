import type { IHeaders, Message } from 'kafkajs';
import type { InputMessage, PendingOutput } from './stage-task.js';

/**
 * Kafka messages between the runner and its stage workers as one ArrayBuffer, handed over
 * (transferred) rather than structured-cloned: a fetched batch is a few MB of Avro, and cloning
 * objects would cost the runner's thread what the workers save it. Decoded keys, values and header
 * values are views into that buffer, not copies.
 *
 * Layout: u32 count, then per message: topic, offset, timestamp (strings), partition (i32, −1 for
 * none), key and value (i32 length, −1 for null, bytes), header count (u32) and per header value
 * a name (string) and its bytes (a repeated header is written once per value). A string is a u32
 * byte length and its UTF-8.
 */
export interface WireMessage {
  topic: string;
  offset: string;
  timestamp: string;
  /** −1: none (the producer's partitioner would choose). */
  partition: number;
  /** A string is written as its UTF-8 (as kafkajs writes it); decoded, always bytes. */
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers: IHeaders;
}

/** A message read back: keys, values and header values are views into the transferred buffer. */
export type DecodedMessage = WireMessage & { key: Buffer | null; value: Buffer | null };

/** A message's header values, a repeated header once per value, absent ones left out. */
function headerPairs(headers: Message['headers'] | IHeaders | undefined): [string, Buffer | string][] {
  const pairs: [string, Buffer | string][] = [];
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const values = Array.isArray(raw) ? raw : [raw];
    for (const value of values)
      if (value !== null && value !== undefined) pairs.push([name, value as Buffer | string]);
  }
  return pairs;
}

const lengthOf = (value: Buffer | string | null): number =>
  value === null ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length;

/**
 * Writes into a buffer sized exactly beforehand (a first pass adds the lengths up): no growing
 * copies, and its ArrayBuffer is handed over as it is. Batches are megabytes: every copy of them
 * shows in the runner thread's profile.
 */
class WireWriter {
  private readonly buffer: Buffer;
  private at = 0;

  constructor(size: number) {
    // allocUnsafeSlow: an ArrayBuffer of exactly `size` bytes, not a slice of Node's pool.
    this.buffer = Buffer.allocUnsafeSlow(size);
  }

  u32(value: number): void {
    this.at = this.buffer.writeUInt32LE(value, this.at);
  }

  i32(value: number): void {
    this.at = this.buffer.writeInt32LE(value, this.at);
  }

  string(value: string): void {
    const length = Buffer.byteLength(value);
    this.u32(length);
    this.at += this.buffer.write(value, this.at, length, 'utf8');
  }

  /** Bytes or a string's UTF-8, length first (−1: null). */
  bytes(value: Buffer | string | null): void {
    if (value === null) {
      this.i32(-1);
    } else if (typeof value === 'string') {
      this.string(value);
    } else {
      this.i32(value.length);
      this.at += value.copy(this.buffer, this.at);
    }
  }

  finish(): ArrayBuffer {
    if (this.at !== this.buffer.length)
      throw new Error(`wire: wrote ${this.at} of ${this.buffer.length} bytes`);
    return this.buffer.buffer as ArrayBuffer;
  }
}

class WireReader {
  private at = 0;
  private readonly buffer: Buffer;

  constructor(data: ArrayBuffer) {
    this.buffer = Buffer.from(data);
  }

  u32(): number {
    const value = this.buffer.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  i32(): number {
    const value = this.buffer.readInt32LE(this.at);
    this.at += 4;
    return value;
  }

  string(): string {
    const length = this.u32();
    const value = this.buffer.toString('utf8', this.at, this.at + length);
    this.at += length;
    return value;
  }

  bytes(): Buffer | null {
    const length = this.i32();
    if (length < 0) return null;
    const value = this.buffer.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
}

function readHeaders(reader: WireReader): IHeaders {
  const headers: IHeaders = {};
  const count = reader.u32();
  for (let i = 0; i < count; i++) {
    const name = reader.string();
    const value = reader.bytes() ?? Buffer.alloc(0);
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else headers[name] = [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  return headers;
}

/** Bytes of a message on the wire. */
function sizeOf(message: WireMessage, headers: [string, Buffer | string][]): number {
  let size =
    4 * 7 +
    Buffer.byteLength(message.topic) +
    Buffer.byteLength(message.offset) +
    Buffer.byteLength(message.timestamp) +
    lengthOf(message.key) +
    lengthOf(message.value);
  for (const [name, value] of headers) size += 8 + Buffer.byteLength(name) + lengthOf(value);
  return size;
}

export function encodeWire(messages: readonly WireMessage[]): ArrayBuffer {
  const headers = messages.map((m) => headerPairs(m.headers));
  let size = 4;
  for (let i = 0; i < messages.length; i++) size += sizeOf(messages[i]!, headers[i]!);
  const writer = new WireWriter(size);
  writer.u32(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    writer.string(message.topic);
    writer.string(message.offset);
    writer.string(message.timestamp);
    writer.i32(message.partition);
    writer.bytes(message.key);
    writer.bytes(message.value);
    writer.u32(headers[i]!.length);
    for (const [name, value] of headers[i]!) {
      writer.string(name);
      writer.bytes(value);
    }
  }
  return writer.finish();
}

export function decodeWire(data: ArrayBuffer): DecodedMessage[] {
  const reader = new WireReader(data);
  const count = reader.u32();
  const messages: DecodedMessage[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const topic = reader.string();
    const offset = reader.string();
    const timestamp = reader.string();
    const partition = reader.i32();
    const key = reader.bytes();
    const value = reader.bytes();
    messages[i] = { topic, offset, timestamp, partition, key, value, headers: readHeaders(reader) };
  }
  return messages;
}

/** A fetched batch's messages, for a stage worker. */
export function encodeInputs(messages: readonly InputMessage[]): ArrayBuffer {
  return encodeWire(
    messages.map((m) => ({
      topic: '',
      offset: m.offset,
      timestamp: m.timestamp,
      partition: -1,
      key: m.key ?? null,
      value: m.value,
      headers: m.headers ?? {},
    })),
  );
}

/** A batch's outputs, from a stage worker. */
export function encodeOutputs(outputs: readonly PendingOutput[]): ArrayBuffer {
  return encodeWire(
    outputs.map(({ topic, message }) => ({
      topic,
      offset: '',
      timestamp: '',
      partition: message.partition ?? -1,
      key: message.key ?? null,
      value: message.value ?? null,
      headers: (message.headers ?? {}) as IHeaders,
    })),
  );
}

export function decodeOutputs(data: ArrayBuffer): PendingOutput[] {
  return decodeWire(data).map((m) => ({
    topic: m.topic,
    message: {
      key: m.key,
      value: m.value,
      ...(m.partition >= 0 ? { partition: m.partition } : {}),
      headers: m.headers,
    },
  }));
}

/** The bytes as an ArrayBuffer of their own, to transfer: the Buffer's own when it spans all of it. */
export function transferable(bytes: Buffer): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  if (whole) return bytes.buffer as ArrayBuffer;
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
