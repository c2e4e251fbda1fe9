import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import {
  decodeRecordBatch,
  decodeTopicValue,
  encodeBatchRecord,
  encodeRecordBatch,
  HEADERS,
  RECORD_BATCH_FORMAT,
} from '../src/codec.js';

describe('record batches (stage outputs to internal topics)', () => {
  const records = [
    { key: '203.0.113.7', time: 1_700_000_000_000, seq: 41, value: { kind: 'client', rate: 3.5 } },
    { key: 'ex.com/é', time: 1_700_000_000_250, seq: 44, value: { kind: 'content', path: '/é?x=1' } },
  ];

  it('round-trips keys, event times, sequence numbers and values', () => {
    const buffer = encodeRecordBatch(records.map(encodeBatchRecord));
    assert.deepEqual(decodeRecordBatch(buffer), records);
  });

  it('decodeTopicValue gives the values of a batch message (what `edgeguard tail` prints)', () => {
    const buffer = encodeRecordBatch(records.map(encodeBatchRecord));
    const values = decodeTopicValue('signals', buffer, { [HEADERS.format]: RECORD_BATCH_FORMAT });
    assert.deepEqual(
      values,
      records.map((r) => r.value),
    );
  });

  it('rejects what is not a record batch with BadInput naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['{"not":"an array"}', /expected a JSON array/],
      ['[["k", 1, 2]]', /element 0 is not \[key, time, seq, value\]/],
      ['[["k", "1", 2, {}]]', /element 0/],
      ['[["k", 1, 2, {}], 7]', /element 1/],
      ['[["k", 1, 2, {}', /not JSON/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => decodeRecordBatch(Buffer.from(text)),
        (error: unknown) =>
          error instanceof BadInput && error.reason === 'undecodable' && message.test(error.message),
        text,
      );
    }
  });
});
