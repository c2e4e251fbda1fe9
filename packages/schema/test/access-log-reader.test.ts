import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AccessLog,
  accessLogBatchFingerprint,
  accessLogBatchFormat,
  BadInput,
  decodeAccessLogMessage,
  emptyAccessLog,
  encodeAccessLogBatch,
  handWrittenAccessLogReader,
} from '../src/index.js';

// The hand-written reader of batches written with our own schema (envelope.ts) against avsc's.
const avsc = (value: Buffer) =>
  (accessLogBatchFormat.batchType.fromBuffer(value) as { records: unknown[] }).records;
const decode = (value: Buffer) => decodeAccessLogMessage(value, accessLogBatchFingerprint);
const undecodable = (e: unknown) => e instanceof BadInput && e.reason === 'undecodable';

const full = (i: number): AccessLog => ({
  time: 1_705_829_400_000 + i,
  clientAddress: i % 2 ? '2001:db8::7' : `192.0.2.${i % 250}`,
  peerAddress: '10.0.0.2',
  method: i % 3 ? 'GET' : 'POST',
  host: 'shop.example',
  path: `/p/${i % 5}`,
  query: i % 4 ? `q=${i}` : null,
  protocol: 'HTTP/2.0',
  status: 200 + (i % 3),
  bytes: i * 1000,
  edgeDurationMs: 12.5,
  originDurationMs: i % 2 ? null : 180,
  cacheStatus: 'MISS',
  userAgent: `Mozilla/5.0 (X11; Linux x86_64) Firefox/${120 + (i % 3)}`,
  referer: 'https://shop.example/',
  acceptLanguage: 'de-AT,de;q=0.9',
  ja3: 'e7d705a3286e19ea42f587b344ee6865',
  ja4: 't13d1516h2_8daaf6152771_b186095e22b6',
  headerOrder: 'host,user-agent,accept',
  asn: 64500,
  country: 'AT',
  edgeNode: 'vie-1',
  requestId: `84a1b2c3d4e5f6${i}`,
});

const edgeCases: AccessLog[] = [
  emptyAccessLog(),
  { ...emptyAccessLog(), clientAddress: '::1', method: 'GET', path: '/', status: -1, bytes: -5, asn: -7 },
  {
    ...full(1),
    userAgent: 'ü'.repeat(300),
    referer: 'x'.repeat(256),
    path: `/${'a'.repeat(600)}`,
    host: '日本語.example',
    country: '',
    query: '',
  },
  { ...full(2), userAgent: '😀 emoji', acceptLanguage: '\u0000\u007f\u0080', edgeNode: 'é' },
  { ...full(3), edgeDurationMs: Number.NaN, originDurationMs: -0, time: 2 ** 53 - 2 },
  { ...full(4), userAgent: '\ud800 lone high', referer: 'lone low \udc00' },
];

describe('AccessLog batch reader (own schema)', () => {
  it('matches the schema it was written for', () => assert.equal(handWrittenAccessLogReader, true));

  it("returns avsc's records (same class, same values) for repeated and edge-case values", () => {
    const records = [...Array.from({ length: 600 }, (_, i) => full(i)), ...edgeCases, ...edgeCases];
    for (let i = 0; i < records.length; i += 250) {
      const value = encodeAccessLogBatch(records.slice(i, i + 250));
      assert.deepStrictEqual(decode(value), avsc(value), `batch at ${i}`);
    }
  });

  it('gives a repeated value as the same string, and decodes changed bytes anew', () => {
    const [a, b] = decode(encodeAccessLogBatch([full(0), full(3)]));
    assert.equal(a!.userAgent, b!.userAgent);
    // Same length, other bytes: invalid UTF-8 (0xff) in the second record's method.
    const value = encodeAccessLogBatch([
      { ...full(1), method: 'GOT' },
      { ...full(1), method: 'GOT' },
    ]);
    const at = value.lastIndexOf('GOT');
    value[at + 1] = 0xff;
    const decoded = decode(value);
    assert.deepStrictEqual(decoded, avsc(value));
    assert.deepEqual(
      decoded.map((r) => r.method),
      ['GOT', 'G\ufffdT'],
    );
    // The table now holds 'G\ufffdT', which no byte sequence equals: 'G', 0xef, 'T' is decoded.
    value[at + 1] = 0xef;
    assert.deepStrictEqual(decode(value), avsc(value));
  });

  it('turns cut and malformed bytes into BadInput "undecodable"', () => {
    const value = encodeAccessLogBatch([full(1), full(2)]);
    const ua = Buffer.from(full(2).userAgent!);
    const uaAt = value.lastIndexOf(ua);
    // Cut in the middle of a string, and right after its length.
    assert.throws(() => decode(value.subarray(0, uaAt + 10)), undecodable);
    assert.throws(() => decode(value.subarray(0, uaAt)), undecodable);
    // Its length (one byte, before it) past the end: 63 (zig-zag 0x7e) in a batch cut after the UA.
    assert.equal(value[uaAt - 1], ua.length * 2);
    const past = Buffer.from(value.subarray(0, uaAt + ua.length));
    past[uaAt - 1] = 0x7e;
    assert.ok(uaAt + 63 > past.length);
    assert.throws(() => decode(past), undecodable);
    // A negative length (zig-zag 0x01 is −1).
    const negative = Buffer.from(value);
    negative[uaAt - 1] = 0x01;
    assert.throws(() => decode(negative), undecodable);
    // A union index that is neither 0 (null) nor 1: the userAgent branch before the length.
    const badUnion = Buffer.from(value);
    assert.equal(badUnion[uaAt - 2], 2);
    badUnion[uaAt - 2] = 4;
    assert.throws(() => decode(badUnion), undecodable);
    // A cut float and a cut varint at the very end.
    assert.throws(() => decode(value.subarray(0, value.length - 1)), undecodable);
    const last = encodeAccessLogBatch([{ ...emptyAccessLog(), edgeDurationMs: 1.5 }]);
    assert.throws(() => decode(last.subarray(0, last.length - 20)), undecodable);
    // avsc fails on all of these too.
    for (const bad of [past, negative, badUnion]) assert.throws(() => avsc(bad));
  });
});
