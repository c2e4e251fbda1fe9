import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createParser } from '@edgeguard/logformat';
import { type AccessLog, BadInput, emptyAccessLog, encodeAccessLogBatch } from '@edgeguard/schema';
import { generateScenario } from '@edgeguard/testkit';
import { appendAccessLogBatch, encodeAccessLogBatchFast, handWritten } from '../src/access-log-encoder.js';

function parsed(format: 'edge' | 'combined'): AccessLog[] {
  const scenario = generateScenario({ seed: 3, durationSec: 60, scale: 0.2, format });
  const parser = createParser(scenario.format, { trustedProxies: scenario.trustedProxies });
  const records: AccessLog[] = [];
  for (const line of scenario.lines()) {
    const record = parser.parse(line);
    if (!(record instanceof BadInput)) records.push(record);
  }
  return records;
}

const record = (fields: Partial<AccessLog>): AccessLog => ({
  ...emptyAccessLog(),
  time: 1_705_815_115_000,
  clientAddress: '203.0.113.7',
  method: 'GET',
  path: '/',
  ...fields,
});

describe('hand-written AccessLog batch encoder', () => {
  it('matches the schema it was written for', () => assert.equal(handWritten, true));

  for (const format of ['edge', 'combined'] as const)
    it(`writes avsc's bytes for every record of a ${format} scenario, in batches`, () => {
      const records = parsed(format);
      assert.ok(records.length > 1000);
      for (let i = 0; i < records.length; i += 500) {
        const batch = records.slice(i, i + 500);
        assert.deepEqual(encodeAccessLogBatchFast(batch), encodeAccessLogBatch(batch), `batch at ${i}`);
      }
    });

  it("writes avsc's bytes at the edges: lengths, non-ASCII, surrogates, big and negative numbers", () => {
    const strings = [
      '',
      'a'.repeat(63),
      'a'.repeat(64),
      'a'.repeat(65),
      'a'.repeat(200),
      'é',
      `${'é'.repeat(31)}x`,
      'é'.repeat(32),
      'é'.repeat(33),
      '日本語',
      '😀 emoji',
      '\ud800 lone high',
      'lone low \udc00',
      `${'x'.repeat(70)}\ud800`,
      '\u0000\u007f\u0080',
    ];
    const records = strings.map((s, i) =>
      record({
        path: s,
        userAgent: s,
        host: i % 2 ? s : null,
        time: [0, -1, 2 ** 30, -(2 ** 30) - 1, 2 ** 53 - 2, 1_705_815_115_000][i % 6]!,
        bytes: [0, 1, 63, 64, 8191, 8192, 2 ** 31, 2 ** 40][i % 8]!,
        status: [200, -5, 2 ** 31 - 1, -(2 ** 31)][i % 4]!,
        asn: i % 3 ? null : [0, 13335, 2 ** 31 - 1][i % 3]!,
        edgeDurationMs: i % 2 ? 12.345 : null,
        originDurationMs: i % 3 ? Number.NaN : 0.1,
      }),
    );
    for (const [i, r] of records.entries())
      assert.deepEqual(encodeAccessLogBatchFast([r]), encodeAccessLogBatch([r]), `record ${i}`);
    assert.deepEqual(encodeAccessLogBatchFast(records), encodeAccessLogBatch(records));
    assert.deepEqual(encodeAccessLogBatchFast([]), encodeAccessLogBatch([]));
  });

  it('leaves records avsc refuses or reads differently to avsc', () => {
    for (const bad of [
      record({ time: 1.5 }),
      record({ status: 2 ** 31 }),
      record({ bytes: Number.NaN }),
      record({ host: 5 as unknown as string }),
      record({ asn: 1.5 }),
      record({ time: 2 ** 53 - 1 }),
    ])
      assert.throws(() => encodeAccessLogBatchFast([record({}), bad]));
    // avsc writes an undefined nullable field as null: so does the fallback.
    const loose = [record({ referer: undefined as unknown as null })];
    assert.deepEqual(encodeAccessLogBatchFast(loose), encodeAccessLogBatch(loose));
  });

  it('appends envelopes back to back into a growing buffer, avsc fallbacks included', () => {
    const records = parsed('combined').slice(0, 2000);
    const batches = [records.slice(0, 700), [], records.slice(700, 701), records.slice(701)];
    // A batch avsc must write (an undefined nullable field) in the middle.
    batches.splice(2, 0, [record({ referer: undefined as unknown as null })]);
    let target = Buffer.allocUnsafeSlow(100);
    let end = 0;
    for (const batch of batches) {
      const written = appendAccessLogBatch(batch, target, end);
      assert.equal(written.buffer.byteOffset, 0, 'starts its own ArrayBuffer (transferable)');
      target = written.buffer;
      end = written.end;
    }
    assert.deepEqual(target.subarray(0, end), Buffer.concat(batches.map((b) => encodeAccessLogBatch(b))));
    // The module's own scratch is untouched by appends.
    assert.deepEqual(encodeAccessLogBatchFast(batches[0]!), encodeAccessLogBatch(batches[0]!));
  });
});
