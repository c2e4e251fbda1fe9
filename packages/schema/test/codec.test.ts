import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import {
  type AccessLog,
  accessLogSchema,
  accessLogType,
  decodeAccessLog,
  emptyAccessLog,
  encodeAccessLog,
} from '../src/index.js';

const full: AccessLog = {
  ...emptyAccessLog(),
  time: Date.UTC(2024, 0, 21, 9, 30, 12, 345),
  clientAddress: '2001:db8::7',
  peerAddress: '10.0.0.5',
  method: 'GET',
  host: 'shop.example',
  path: '/products/42',
  query: 'utm=1&x=%20',
  protocol: 'HTTP/2.0',
  status: 200,
  bytes: 5_123_456_789,
  edgeDurationMs: 12.5,
  originDurationMs: 250,
  cacheStatus: 'MISS',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36',
  referer: 'https://shop.example/',
  acceptLanguage: 'de-AT,de;q=0.9',
  ja3: '769,47-53,0-10-11,23-24,0',
  ja4: 't13d1516h2_8daaf6152771_02713d6af862',
  headerOrder: 'host,user-agent,accept',
  asn: 64500,
  country: 'AT',
  edgeNode: 'vie-1',
  requestId: 'req-1',
};

describe('AccessLog Avro codec', () => {
  it('round-trips a record with every field set', () => {
    assert.deepEqual({ ...decodeAccessLog(encodeAccessLog(full)) }, full);
  });

  it('round-trips a record with every optional field null', () => {
    const minimal = { ...emptyAccessLog(), time: 1, clientAddress: '192.0.2.1', method: 'GET', path: '/' };
    assert.deepEqual({ ...decodeAccessLog(encodeAccessLog(minimal)) }, minimal);
  });

  it('rejects a truncated buffer with an error instead of returning garbage', () => {
    const buf = encodeAccessLog(full);
    assert.throws(() => decodeAccessLog(buf.subarray(0, buf.length - 5)), /truncated/);
  });

  it('reads records written by an older writer schema through reader/writer resolution', () => {
    // A v0 writer that knew only a few fields: the reader fills the rest with their defaults.
    const v0 = avro.Type.forSchema({
      type: 'record',
      name: 'AccessLog',
      namespace: 'io.edgeguard',
      fields: [
        { name: 'time', type: 'long' },
        { name: 'clientAddress', type: 'string' },
        { name: 'method', type: 'string' },
        { name: 'path', type: 'string' },
        { name: 'status', type: 'int' },
        { name: 'bytes', type: 'long' },
      ],
    });
    const buf = v0.toBuffer({
      time: 5,
      clientAddress: '192.0.2.9',
      method: 'HEAD',
      path: '/x',
      status: 204,
      bytes: 0,
    });
    const resolver = accessLogType.createResolver(v0);
    const read = accessLogType.fromBuffer(buf, resolver) as AccessLog;
    assert.equal(read.clientAddress, '192.0.2.9');
    assert.equal(read.status, 204);
    assert.equal(read.userAgent, null);
    assert.equal(read.ja4, null);
  });

  it('declares every AccessLog property in the Avro schema', () => {
    const names = accessLogSchema.fields.map((f) => f.name).sort();
    assert.deepEqual(names, Object.keys(emptyAccessLog()).sort());
  });
});
