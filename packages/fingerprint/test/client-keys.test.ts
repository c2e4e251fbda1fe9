import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey, fingerprintKey, prefixKey, tlsFingerprint } from '../src/client-keys.js';

test('addressKey is ip: and the canonical address', () => {
  assert.equal(addressKey('203.0.113.7'), 'ip:203.0.113.7');
  assert.equal(addressKey('2001:0DB8:0000:0000:0000:0000:0000:0001'), 'ip:2001:db8::1');
  assert.equal(addressKey('::ffff:198.51.100.9'), 'ip:198.51.100.9');
});

test('addressKey keeps text that is not an address rather than throwing', () => {
  assert.equal(addressKey('unknown'), 'ip:unknown');
});

test('prefixKey is the /24 of an IPv4 address and the /64 of an IPv6 address', () => {
  assert.equal(prefixKey('203.0.113.7'), 'range:203.0.113.0/24');
  assert.equal(prefixKey('2001:db8:1:2:3:4:5:6'), 'range:2001:db8:1:2::/64');
  assert.equal(prefixKey('203.0.113.7', 16), 'range:203.0.0.0/16');
  assert.equal(prefixKey('not an address'), null);
});

test('fingerprintKey is the decision key of a fingerprint', () => {
  assert.equal(fingerprintKey('h1:0123456789ab'), 'fp:h1:0123456789ab');
});

test('tlsFingerprint prefers JA4, falls back to JA3, else null', () => {
  const ja4 = 't13d1516h2_8daaf6152771_02713d6af862';
  const ja3 = 'E7D705A3286E19EA42F587B344EE6865';
  assert.equal(tlsFingerprint({ ja4, ja3 }), `ja4:${ja4}`);
  assert.equal(tlsFingerprint({ ja4: null, ja3 }), `ja3:${ja3.toLowerCase()}`);
  assert.equal(tlsFingerprint({ ja4: '-', ja3: ' ' }), null);
  assert.equal(tlsFingerprint({ ja4: null, ja3: null }), null);
});
