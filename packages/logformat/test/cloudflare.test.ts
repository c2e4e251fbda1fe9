import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AccessLog, emptyAccessLog, isBadInput } from '@edgeguard/schema';
import { createParser } from '../src/index.js';

const parser = createParser('cloudflare');

// Field names and value shapes as in Cloudflare Logpush http_requests records.
const entry = {
  ClientIP: '2001:DB8::7',
  ClientRequestHost: 'shop.example',
  ClientRequestMethod: 'GET',
  ClientRequestURI: '/products/42?utm=x',
  ClientRequestPath: '/products/42',
  ClientRequestProtocol: 'HTTP/2',
  ClientRequestUserAgent: 'Mozilla/5.0',
  ClientRequestReferer: 'https://shop.example/',
  EdgeStartTimestamp: '2024-01-21T09:30:12Z',
  EdgeEndTimestamp: '2024-01-21T09:30:12.250Z',
  EdgeResponseStatus: 200,
  EdgeResponseBytes: 5123,
  CacheCacheStatus: 'miss',
  OriginResponseDurationMs: 180,
  ClientASN: 64500,
  ClientCountry: 'at',
  JA3Hash: 'e7d705a3286e19ea42f587b344ee6865',
  JA4: 't13d1516h2_8daaf6152771_b186095e22b6',
  RayID: '84a1b2c3d4e5f607',
  EdgeColoCode: 'VIE',
  RequestHeaders: { 'accept-language': 'de-AT', 'x-forwarded-for': '198.51.100.4' },
};

/** The entry as a JSON line with `field` set to an array nested `depth` deep (written as text:
 *  JSON.stringify itself overflows the stack on it). */
function nested(field: string, depth: number): string {
  const line = JSON.stringify({ ...entry, [field]: 0 });
  return line.replace(`"${field}":0`, `"${field}":${'['.repeat(depth)}1${']'.repeat(depth)}`);
}

function parse(value: object): AccessLog {
  const result = parser.parse(JSON.stringify(value));
  if (isBadInput(result)) assert.fail(`${result.reason}: ${result.message}`);
  return result;
}

describe('cloudflare format (Logpush http_requests JSON lines)', () => {
  it('maps the Logpush fields into the AccessLog record', () => {
    assert.deepEqual(parse(entry), {
      ...emptyAccessLog(),
      time: Date.UTC(2024, 0, 21, 9, 30, 12),
      clientAddress: '2001:db8::7',
      peerAddress: '2001:db8::7',
      method: 'GET',
      host: 'shop.example',
      path: '/products/42',
      query: 'utm=x',
      protocol: 'HTTP/2',
      status: 200,
      bytes: 5123,
      edgeDurationMs: 250,
      originDurationMs: 180,
      cacheStatus: 'MISS',
      userAgent: 'Mozilla/5.0',
      referer: 'https://shop.example/',
      acceptLanguage: 'de-AT',
      ja3: 'e7d705a3286e19ea42f587b344ee6865',
      ja4: 't13d1516h2_8daaf6152771_b186095e22b6',
      asn: 64500,
      country: 'AT',
      edgeNode: 'VIE',
      requestId: '84a1b2c3d4e5f607',
    });
  });

  it('reads EdgeStartTimestamp as Unix seconds, milliseconds or nanoseconds by magnitude', () => {
    const expected = Date.UTC(2024, 0, 21, 9, 30, 12);
    assert.equal(
      parse({ ...entry, EdgeStartTimestamp: 1705829412, EdgeEndTimestamp: undefined }).time,
      expected,
    );
    assert.equal(parse({ ...entry, EdgeStartTimestamp: 1705829412123 }).time, expected + 123);
    assert.equal(parse({ ...entry, EdgeStartTimestamp: 1705829412123456800 }).time, expected + 123);
    assert.equal(parse({ ...entry, EdgeStartTimestamp: '1705829412' }).time, expected);
  });

  it('leaves implausible durations null (beyond a day: 1e39 ms overflowed the record)', () => {
    const record = parse({
      ...entry,
      OriginResponseDurationMs: 1e39,
      EdgeEndTimestamp: undefined,
      EdgeTimeToFirstByteMs: 1e300,
    });
    assert.equal(record.originDurationMs, null);
    assert.equal(record.edgeDurationMs, null);
  });

  it('uses ClientRequestPath when the URI is not logged', () => {
    const record = parse({ ...entry, ClientRequestURI: undefined });
    assert.equal(record.path, '/products/42');
    assert.equal(record.query, null);
  });

  it('leaves origin time null on a cache hit that never reached the origin', () => {
    const record = parse({ ...entry, CacheCacheStatus: 'hit', OriginResponseDurationMs: 0 });
    assert.equal(record.cacheStatus, 'HIT');
    assert.equal(record.originDurationMs, null);
  });

  it('leaves headerOrder null: RequestHeaders key order is the job configuration, not the client', () => {
    assert.equal(parse(entry).headerOrder, null);
  });

  it('resolves the client from RequestHeaders x-forwarded-for only behind a trusted proxy', () => {
    assert.equal(parse({ ...entry, ClientIP: '10.0.0.1' }).clientAddress, '10.0.0.1');
    const behind = createParser('cloudflare', { trustedProxies: ['10.0.0.0/8'] });
    const record = behind.parse(JSON.stringify({ ...entry, ClientIP: '10.0.0.1' })) as AccessLog;
    assert.equal(record.clientAddress, '198.51.100.4');
    assert.equal(record.peerAddress, '10.0.0.1');
  });

  it('rejects bad JSON lines with stable reasons', () => {
    const cases: Array<[string, string]> = [
      ['not json', 'bad-json'],
      ['[1,2]', 'bad-json'],
      ['{"ClientIP": "1.2.3.4", ', 'truncated'],
      [JSON.stringify({ ...entry, ClientIP: undefined }), 'missing-field'],
      [JSON.stringify({ ...entry, ClientIP: 'n/a' }), 'bad-address'],
      [JSON.stringify({ ...entry, EdgeStartTimestamp: 'yesterday' }), 'bad-timestamp'],
      [JSON.stringify({ ...entry, EdgeResponseStatus: '200' }), 'bad-status'],
      [JSON.stringify({ ...entry, EdgeResponseBytes: -1 }), 'bad-bytes'],
      [JSON.stringify({ ...entry, ClientRequestMethod: undefined }), 'missing-field'],
      // String() of a deeply nested array overflows the stack: described by kind, not thrown
      [nested('EdgeStartTimestamp', 5000), 'bad-timestamp'],
      [nested('EdgeResponseStatus', 5000), 'bad-status'],
      [JSON.stringify({ ...entry, EdgeResponseBytes: { n: 1 } }), 'bad-bytes'],
      // beyond any clock: would move event time ahead by ages (and overflow Avro's long)
      [JSON.stringify({ ...entry, EdgeStartTimestamp: 1e300 }), 'bad-timestamp'],
      [JSON.stringify({ ...entry, EdgeStartTimestamp: '100000000000000000000000000' }), 'bad-timestamp'],
      [JSON.stringify({ ...entry, EdgeStartTimestamp: '9999-12-31T23:59:59Z' }), 'bad-timestamp'],
    ];
    for (const [line, reason] of cases) {
      const result = parser.parse(line, 'logpush.json:3');
      assert.ok(isBadInput(result), line.slice(0, 60));
      assert.equal(result.reason, reason, `${line.slice(0, 60)}: ${result.message}`);
      assert.equal(result.location, 'logpush.json:3');
    }
  });
});
