import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput, stageRecords } from '@edgeguard/schema';
import {
  decodeRecordBatch,
  decodeTopicValue,
  encodeBatchRecord,
  encodeRecordBatch,
  HEADERS,
  isRecordBatch,
  RECORD_BATCH_FORMAT,
  RECORD_BATCH_JSON_FORMAT,
} from '../src/codec.js';

describe('record batches (stage outputs to internal topics)', () => {
  const records = [
    { key: '203.0.113.7', time: 1_700_000_000_000, seq: 41, value: { kind: 'client', rate: 3.5 } },
    { key: 'ex.com/é', time: 1_700_000_000_250, seq: 44, value: { kind: 'content', path: '/é?x=1' } },
  ];
  const avroHeaders = { [HEADERS.format]: RECORD_BATCH_FORMAT, [HEADERS.schema]: stageRecords.fingerprint };
  const jsonHeaders = { [HEADERS.format]: RECORD_BATCH_JSON_FORMAT };
  const avroBatch = (): Buffer => {
    const writer = stageRecords.writer();
    for (const record of records) writer.add(record, 1 << 20);
    return writer.finish()!;
  };

  it('round-trips keys, event times, sequence numbers and values (Avro, and JSON from older builds)', () => {
    assert.deepEqual(decodeRecordBatch(avroBatch(), avroHeaders), records);
    const json = encodeRecordBatch(records.map(encodeBatchRecord));
    assert.deepEqual(decodeRecordBatch(json, jsonHeaders), records);
    assert.ok(isRecordBatch(avroHeaders) && isRecordBatch(jsonHeaders) && !isRecordBatch({}));
  });

  it('decodeTopicValue gives the values of a batch message (what `edgeguard tail` prints)', () => {
    for (const [buffer, headers] of [
      [avroBatch(), avroHeaders],
      [encodeRecordBatch(records.map(encodeBatchRecord)), jsonHeaders],
    ] as const)
      assert.deepEqual(
        decodeTopicValue('signals', buffer, headers),
        records.map((r) => r.value),
      );
  });

  it('rejects a cut Avro batch or an unknown writer schema with BadInput', () => {
    const whole = avroBatch();
    assert.throws(
      () => decodeRecordBatch(whole.subarray(0, whole.length - 4), avroHeaders),
      (error: unknown) =>
        error instanceof BadInput && error.reason === 'undecodable' && /record batch/.test(error.message),
    );
    assert.throws(
      () => decodeRecordBatch(whole, { ...avroHeaders, [HEADERS.schema]: 'f00d' }),
      (error: unknown) => error instanceof BadInput && error.reason === 'unknown-schema',
    );
  });

  it('rejects what is not a JSON record batch with BadInput naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['{"not":"an array"}', /expected a JSON array/],
      ['[["k", 1, 2]]', /element 0 is not \[key, time, seq, value\]/],
      ['[["k", "1", 2, {}]]', /element 0/],
      ['[["k", 1, 2, {}], 7]', /element 1/],
      ['[["k", 1, 2, {}', /not JSON/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => decodeRecordBatch(Buffer.from(text), jsonHeaders),
        (error: unknown) =>
          error instanceof BadInput && error.reason === 'undecodable' && message.test(error.message),
        text,
      );
    }
  });
});
