import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import {
  type AccessLog,
  accessLogBatchFingerprint,
  accessLogSchema,
  BadInput,
  decodeAccessLogMessage,
  emptyAccessLog,
  encodeAccessLogBatch,
  registerBatchWriterSchema,
  registerConfluentSchema,
} from '../src/index.js';

const record = (i: number): AccessLog => ({
  ...emptyAccessLog(),
  time: 1_705_829_400_000 + i,
  clientAddress: `192.0.2.${i % 250}`,
  method: 'GET',
  path: `/p/${i}`,
  status: 200,
  bytes: i,
  userAgent: 'curl/8.5.0',
});

describe('AccessLog batch envelope', () => {
  it('carries many records in one message and back, in order', () => {
    const records = Array.from({ length: 500 }, (_, i) => record(i));
    const decoded = decodeAccessLogMessage(encodeAccessLogBatch(records), accessLogBatchFingerprint);
    assert.equal(decoded.length, 500);
    assert.deepEqual({ ...decoded[499] }, records[499]);
  });

  it('encodes batches larger than its reused buffer, and each result owns its bytes', () => {
    const big = Array.from({ length: 3000 }, (_, i) => ({ ...record(i), userAgent: 'x'.repeat(600) }));
    const bigBuffer = encodeAccessLogBatch(big);
    assert.ok(bigBuffer.length > 1 << 20, `expected > 1 MiB, got ${bigBuffer.length}`);
    const small = encodeAccessLogBatch([record(7)]);
    const again = decodeAccessLogMessage(bigBuffer, accessLogBatchFingerprint);
    assert.equal(again.length, 3000);
    assert.deepEqual({ ...again[2999] }, big[2999]);
    assert.deepEqual({ ...decodeAccessLogMessage(small, accessLogBatchFingerprint)[0] }, record(7));
  });

  it('turns a truncated message into BadInput "undecodable" (for the dead-letter topic)', () => {
    const buf = encodeAccessLogBatch([record(1), record(2)]);
    assert.throws(
      () => decodeAccessLogMessage(buf.subarray(0, buf.length - 3), accessLogBatchFingerprint),
      (e: unknown) => e instanceof BadInput && e.reason === 'undecodable',
    );
  });

  it('refuses a record count the bytes cannot hold, at once (a 4-byte message claiming 20M records)', () => {
    const undecodable = (e: unknown) => e instanceof BadInput && e.reason === 'undecodable';
    const started = process.hrtime.bigint();
    // zig-zag varint of 20,000,000, then nothing
    assert.throws(() => decodeAccessLogMessage(Buffer.from([0x80, 0xb4, 0x89, 0x13])), undecodable);
    // a valid first block, then a second block claiming a million records
    const one = encodeAccessLogBatch([record(1)]);
    const twoBlocks = Buffer.concat([
      one.subarray(0, one.length - 1),
      Buffer.from([0x80, 0x89, 0x7a]),
      Buffer.from([0]),
    ]);
    assert.throws(() => decodeAccessLogMessage(twoBlocks), undecodable);
    assert.ok(
      process.hrtime.bigint() - started < 1_000_000_000n,
      'refused without decoding the claimed records',
    );
  });

  it('reads blocks written with a negative count and a byte size, and several blocks (Avro spec)', () => {
    const items = [record(1), record(2), record(3)];
    const itemType = avro.Type.forSchema(accessLogSchema as unknown as avro.Schema);
    const encoded = items.map((r) => itemType.toBuffer(r));
    const longType = avro.Type.forSchema('long');
    const zigzag = (n: number) => longType.toBuffer(n);
    const message = Buffer.concat([
      zigzag(-2), // two records, then the block's byte size
      zigzag(encoded[0]!.length + encoded[1]!.length),
      encoded[0]!,
      encoded[1]!,
      zigzag(1),
      encoded[2]!,
      zigzag(0),
    ]);
    assert.deepEqual(
      decodeAccessLogMessage(message).map((r) => ({ ...r })),
      items,
    );
  });

  it('refuses a batch written with an unknown writer schema', () => {
    assert.throws(
      () => decodeAccessLogMessage(encodeAccessLogBatch([record(1)]), 'deadbeef'),
      (e: unknown) => e instanceof BadInput && e.reason === 'unknown-schema',
    );
  });

  it('reads batches from an older writer once its schema is registered', () => {
    const oldRecord = {
      type: 'record',
      name: 'AccessLog',
      namespace: 'io.edgeguard',
      fields: accessLogSchema.fields.filter((f) => !['ja4', 'headerOrder', 'edgeNode'].includes(f.name)),
    };
    const oldBatch = {
      type: 'record',
      name: 'AccessLogBatch',
      namespace: 'io.edgeguard',
      fields: [{ name: 'records', type: { type: 'array', items: oldRecord } }],
    };
    const writer = avro.Type.forSchema(oldBatch as avro.Schema);
    const { ja4: _a, headerOrder: _b, edgeNode: _c, ...old } = record(3);
    const fingerprint = registerBatchWriterSchema(oldBatch);
    const decoded = decodeAccessLogMessage(writer.toBuffer({ records: [old] }), fingerprint);
    assert.equal(decoded[0]!.path, '/p/3');
    assert.equal(decoded[0]!.ja4, null);
  });

  it('accepts Confluent wire format (magic 0 + schema id) for a registered id', () => {
    registerConfluentSchema(42, accessLogSchema);
    const body = avro.Type.forSchema(accessLogSchema as unknown as avro.Schema).toBuffer(record(7));
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 42]), body]);
    const [decoded] = decodeAccessLogMessage(framed);
    assert.equal(decoded!.path, '/p/7');
    const unknown = Buffer.concat([Buffer.from([0, 0, 0, 0, 43]), body]);
    assert.throws(() => decodeAccessLogMessage(unknown), /schema id 43 is not registered/);
  });
});
