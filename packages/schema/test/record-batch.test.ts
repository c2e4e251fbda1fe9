import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import {
  BadInput,
  type StageRecord,
  StageRecordCodec,
  stageRecordBatchSchema,
  stageRecordBatchSchemaWithoutSizes,
  stageRecords,
} from '../src/index.js';

const T = 1_705_829_400_000;

const clientSignal = {
  kind: 'client',
  ip: '203.0.113.77',
  prefix: null,
  fingerprint: '9f2c41d0a7b3e815',
  time: T + 123,
  score: 5.5,
  reason: 'repetition',
  signals: [
    { name: 'repetitionRatio', value: 0.75, threshold: 0.5 },
    { name: 'requestsPerMinute', value: 42.125 },
  ],
  humanLooking: false,
  botShaped: true,
  paths: [1, 4_294_967_295, 2_166_136_261],
  burstRequests: 12.345,
  established: false,
  firstSeen: T - 60_000,
  requests: 420,
};
const fingerprintPartial = {
  kind: 'fingerprint',
  fingerprint: '9f2c41d0a7b3e815',
  time: T,
  requests: 12,
  pages: 10,
  assets: 0,
  repeats: 3,
  pathRepeats: 4,
  busts: 1.5,
  loginPosts: 0,
  authFailures: 0,
  sensitiveHits: 0,
  errors: 1,
  clients: 3,
  humanClients: 0,
  establishedClients: 0,
  flaggedClients: 1,
  paths: [],
  pathsOverflow: true,
  userAgent: null,
  declaredCrawler: false,
};
const tick = {
  kind: 'tick',
  partition: 2,
  time: T,
  requests: 1000,
  late: 0,
  clients: 40,
  establishedClients: 7,
  prefixes: [
    { prefix: '2001:db8::/64', clients: 3, humanClients: 1, establishedClients: 0, protectedClients: 0 },
  ],
};
const contentBatch = {
  kind: 'content-batch',
  time: T,
  partials: [
    {
      host: null,
      path: '/é/ü?',
      time: T,
      requests: 9,
      withQuery: 4,
      newVisitors: 2,
      hits: 1,
      misses: 5,
      expired: 0,
      stale: 0,
      uncacheable: 0,
      plainRequests: 5,
      plainCached: 1,
      busts: 3,
      queryMisses: 4,
      serverErrors: 0,
      originMsSum: 812.25,
      originCount: 5,
      queryHashes: [3_000_000_000, 7],
      queryOverflow: 0,
      queryCompared: 3,
      querySameAsPlain: 2,
      contentParams: ['page', 'é'],
    },
  ],
};

const records = (values: unknown[]): StageRecord[] =>
  values.map((value, i) => ({ key: `key-${i}`, time: T + i, seq: 100 + i, value }));

function roundTrip(input: StageRecord[], codec = stageRecords): StageRecord[] {
  const writer = codec.writer();
  for (const record of input) assert.equal(writer.add(record, 1 << 20), null);
  return codec.decode(writer.finish()!, codec.fingerprint);
}

describe('stage record batches (Avro on signals and content-partials)', () => {
  it('decodes to exactly what JSON gives: plain objects, nulls kept, an absent threshold absent', () => {
    const input = records([clientSignal, fingerprintPartial, tick, contentBatch]);
    const decoded = roundTrip(input);
    assert.deepStrictEqual(decoded, JSON.parse(JSON.stringify(input)));
    assert.equal(JSON.stringify(decoded), JSON.stringify(input), 'same fields in the same order');
    const signal = decoded[0]!.value as typeof clientSignal;
    assert.equal(Object.getPrototypeOf(signal), Object.prototype);
    assert.equal('threshold' in signal.signals[1]!, false);
  });

  it('writes values that fit no schema as JSON text, so they arrive as JSON would carry them', () => {
    const odd = [
      { ...fingerprintPartial, requests: 2.5 }, // a count that is not an integer
      { ...tick, extra: undefined, time: Number.NaN }, // NaN event time: JSON null
      { kind: 'unknown', n: 1 },
      'a string',
      [1, 2],
      undefined,
    ];
    const writer = stageRecords.writer();
    for (const record of records(odd)) writer.add(record, 1 << 20);
    assert.equal(writer.jsonRecords, odd.length);
    const decoded = stageRecords.decode(writer.finish()!, stageRecords.fingerprint);
    assert.deepStrictEqual(
      decoded.map((r) => r.value),
      odd.map((v) => JSON.parse(JSON.stringify(v) ?? 'null')),
    );
  });

  it('refuses a record whose event time or sequence number is not an integer, keeping the batch', () => {
    const writer = stageRecords.writer();
    writer.add({ key: 'a', time: T, seq: 1, value: tick }, 1 << 20);
    assert.throws(
      () => writer.add({ key: 'b', time: T + 0.5, seq: 2, value: tick }, 1 << 20),
      /not an integer/,
    );
    assert.throws(
      () => writer.add({ key: 'c', time: T, seq: Number.NaN, value: tick }, 1 << 20),
      /not an integer/,
    );
    const decoded = stageRecords.decode(writer.finish()!, stageRecords.fingerprint);
    assert.deepStrictEqual(decoded, [{ key: 'a', time: T, seq: 1, value: tick }]);
  });

  it('finishes a batch when the next record would take it past the byte limit', () => {
    const writer = stageRecords.writer();
    // Records of one size: the same key, times and sequence numbers of the same varint length.
    const input = Array.from({ length: 50 }, (_, i) => ({
      key: 'fp',
      time: T + i,
      seq: 100 + i,
      value: fingerprintPartial,
    }));
    const one = stageRecords.writer();
    one.add(input[0]!, 0);
    const size = one.finish()!.length - 2; // a batch of one: count, record, end
    const batches: Buffer[] = [];
    for (const record of input) {
      const full = writer.add(record, size * 10);
      if (full !== null) batches.push(full);
    }
    batches.push(writer.finish()!);
    assert.equal(writer.finish(), null, 'empty after finish');
    assert.deepEqual(
      batches.map((b) => stageRecords.decode(b, stageRecords.fingerprint).length),
      [10, 10, 10, 10, 10],
    );
    assert.ok(batches.every((b) => b.length <= size * 10 + 2));
    const again = batches.flatMap((b) => stageRecords.decode(b, stageRecords.fingerprint));
    assert.deepStrictEqual(again, JSON.parse(JSON.stringify(input)));
  });

  it('grows its buffer for a record larger than it, keeping the records before', () => {
    const writer = stageRecords.writer();
    const big = { ...fingerprintPartial, userAgent: 'x'.repeat(100_000) };
    const input = records([tick, big, tick]);
    for (const record of input) writer.add(record, 1 << 20);
    const decoded = stageRecords.decode(writer.finish()!, stageRecords.fingerprint);
    assert.deepStrictEqual(decoded, JSON.parse(JSON.stringify(input)));
  });

  it('turns cut, trailing or foreign bytes into BadInput "undecodable", an unknown schema into "unknown-schema"', () => {
    const writer = stageRecords.writer();
    for (const record of records([clientSignal, contentBatch])) writer.add(record, 1 << 20);
    const whole = writer.finish()!;
    const undecodable = (e: unknown) =>
      e instanceof BadInput && e.reason === 'undecodable' && /record batch/.test(e.message);
    for (const bad of [
      whole.subarray(0, whole.length - 5),
      whole.subarray(0, 1),
      Buffer.concat([whole, Buffer.from([1])]),
      Buffer.from('[["k",1,2,{}]]'),
    ])
      assert.throws(() => stageRecords.decode(bad, stageRecords.fingerprint), undecodable);
    assert.throws(
      () => stageRecords.decode(whole, 'deadbeef'),
      (e: unknown) => e instanceof BadInput && e.reason === 'unknown-schema',
    );
  });

  describe('schema evolution (a field added with a default)', () => {
    /** The batch schema with `field` added to the FingerprintPartial record. */
    function withField(field: object): object {
      const schema = JSON.parse(JSON.stringify(stageRecordBatchSchema));
      const union = schema.fields[0].type.items.fields[3].type as { name?: string; fields: object[] }[];
      union.find((branch) => branch.name === 'FingerprintPartial')!.fields.push(field);
      return schema;
    }
    const added = { name: 'asn', type: ['null', 'long'], default: null };

    it('this build reads batches of a newer writer once its schema is registered (the field is skipped)', () => {
      const newer = withField(added);
      const writer = avro.Type.forSchema(newer as avro.Schema);
      const value = { ...fingerprintPartial, asn: 64_500 };
      const bytes = writer.toBuffer({
        records: [{ key: 'fp', time: T, seq: 1, value: { 'io.edgeguard.FingerprintPartial': value } }],
      });
      const fingerprint = stageRecords.register(newer);
      assert.notEqual(fingerprint, stageRecords.fingerprint);
      const [record] = stageRecords.decode(bytes, fingerprint);
      assert.deepStrictEqual(record!.value, fingerprintPartial);
    });

    it('a newer reader reads this build’s batches, filling in the default', () => {
      const newer = new StageRecordCodec(withField(added));
      newer.register(stageRecordBatchSchema);
      const writer = stageRecords.writer();
      writer.add({ key: 'fp', time: T, seq: 1, value: fingerprintPartial }, 1 << 20);
      const [record] = newer.decode(writer.finish()!, stageRecords.fingerprint);
      assert.deepStrictEqual(record!.value, { ...fingerprintPartial, asn: null });
    });
  });

  it('reads content partials of a profiler from before answer sizes, the sizes 0 and no parameter names (a rolling upgrade)', () => {
    const older = new StageRecordCodec(stageRecordBatchSchemaWithoutSizes);
    const writer = older.writer();
    writer.add({ key: 'c', time: T, seq: 1, value: contentBatch }, 1 << 20);
    assert.notEqual(older.fingerprint, stageRecords.fingerprint);
    const [record] = stageRecords.decode(writer.finish()!, older.fingerprint);
    const partial = (record!.value as typeof contentBatch).partials[0]!;
    assert.equal(partial.queryCompared, 0);
    assert.equal(partial.querySameAsPlain, 0);
    assert.deepStrictEqual(partial.contentParams, []);
    assert.deepStrictEqual(
      { ...partial, queryCompared: 3, querySameAsPlain: 2, contentParams: ['page', 'é'] },
      contentBatch.partials[0],
    );
  });

  describe('the hand-written encoder (stage-record-encoder.ts)', () => {
    const viaAvsc = new StageRecordCodec(stageRecordBatchSchema, false);

    /** Both writers' bytes and JSON-record counts for `values`, one record each. */
    function bothWrite(values: unknown[]): { own: Buffer; avsc: Buffer; ownJson: number; avscJson: number } {
      const own = stageRecords.writer();
      const avsc = viaAvsc.writer();
      // A small limit: batches finish and the buffers grow along the way.
      const ownOut: Buffer[] = [];
      const avscOut: Buffer[] = [];
      for (const record of records(values)) {
        const a = own.add(record, 300);
        if (a) ownOut.push(a);
        const b = avsc.add(record, 300);
        if (b) avscOut.push(b);
      }
      ownOut.push(own.finish() ?? Buffer.alloc(0));
      avscOut.push(avsc.finish() ?? Buffer.alloc(0));
      return {
        own: Buffer.concat(ownOut),
        avsc: Buffer.concat(avscOut),
        ownJson: own.jsonRecords,
        avscJson: avsc.jsonRecords,
      };
    }

    it('is the one stageRecords uses (update it with stageRecordBatchSchema)', () => {
      assert.equal(stageRecords.handWritten, true);
      assert.equal(viaAvsc.handWritten, false);
    });

    it('writes the bytes avsc writes, every branch, every field given a value that fits or not', () => {
      const odd: unknown[] = [
        'x',
        'é',
        '',
        'a'.repeat(64),
        'a'.repeat(65),
        'é'.repeat(40),
        `${'a'.repeat(63)}é`,
        '\ud83d\ude00 ok',
        'lone \ud800 high',
        'lone \udc00 low',
        `${'b'.repeat(70)}\ud800`,
        0,
        -0,
        1,
        -1,
        63,
        64,
        -64,
        -65,
        2 ** 30 - 1,
        2 ** 30,
        -(2 ** 30),
        -(2 ** 30) - 1,
        2 ** 31,
        2 ** 32 - 1,
        2 ** 32,
        -(2 ** 32),
        9_007_199_254_740_990,
        -9_007_199_254_740_990,
        9_007_199_254_740_991,
        2 ** 53,
        1.5,
        -2.25,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        T,
        true,
        false,
        null,
        undefined,
        [],
        [1, 2],
        [4_294_967_295, -3],
        [1.5],
        ['1'],
        {},
        [{}],
        [{ name: 'n', value: 1 }],
        [{ name: 'n', value: 1, threshold: 'x' }],
        [null],
      ];
      const values: unknown[] = [];
      for (const base of [clientSignal, fingerprintPartial, tick, contentBatch] as Record<
        string,
        unknown
      >[]) {
        values.push(base, { ...base, extra: 'ignored' });
        for (const field of Object.keys(base)) {
          if (field === 'kind') continue;
          for (const v of odd) values.push({ ...base, [field]: v });
        }
      }
      // Nested records: signals, prefixes, partials, with each of their fields changed too.
      const nested: [Record<string, unknown>, string][] = [
        [clientSignal, 'signals'],
        [tick, 'prefixes'],
        [contentBatch, 'partials'],
      ];
      for (const [base, field] of nested) {
        const item = (base[field] as Record<string, unknown>[])[0]!;
        for (const key of [...Object.keys(item), 'threshold'])
          for (const v of odd) values.push({ ...base, [field]: [item, { ...item, [key]: v }] });
      }
      values.push({ kind: 'unknown' }, { kind: 5 }, 'text', 7, null, undefined, [clientSignal]);
      const { own, avsc, ownJson, avscJson } = bothWrite(values);
      assert.ok(ownJson > 100 && ownJson < values.length, `${ownJson} JSON records`);
      assert.equal(ownJson, avscJson);
      assert.ok(own.equals(avsc), 'same bytes');
    });

    it('grows its buffer for long values as avsc does', () => {
      const big = {
        ...fingerprintPartial,
        userAgent: 'é'.repeat(30_000),
        paths: Array(5000).fill(2 ** 32 - 1),
      };
      const { own, avsc } = bothWrite([tick, big, { ...big, userAgent: 1 }, tick]);
      assert.ok(own.equals(avsc));
    });

    it('refuses a key that is not a string, keeping the batch', () => {
      const writer = stageRecords.writer();
      writer.add({ key: 'a', time: T, seq: 1, value: tick }, 1 << 20);
      assert.throws(() => writer.add({ key: 5 as unknown as string, time: T, seq: 2, value: tick }, 1 << 20));
      assert.deepStrictEqual(stageRecords.decode(writer.finish()!, stageRecords.fingerprint), [
        { key: 'a', time: T, seq: 1, value: tick },
      ]);
    });
  });
});
