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
