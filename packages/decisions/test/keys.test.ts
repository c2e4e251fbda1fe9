import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCidr } from '@edgeguard/netaddr';
import { BadInput } from '@edgeguard/schema';
import { cidrField, parseDecisionKey } from '../src/keys.js';

test('a range is indexed by the hex digits its prefix covers, the last one masked', () => {
  assert.equal(cidrField(parseCidr('198.51.100.0/24')), '4/24/c63364');
  assert.equal(cidrField(parseCidr('172.16.15.255/21')), '4/21/ac1008');
  assert.equal(cidrField(parseCidr('0.0.0.0/0')), '4/0/');
  assert.equal(cidrField(parseCidr('2001:db8:abcd::/48')), '6/48/20010db8abcd');
  assert.equal(cidrField(parseCidr('2001:db8:ff0f::/45')), '6/45/20010db8ff08');
});

test('decision keys are read in canonical form', () => {
  assert.equal(parseDecisionKey('ip:2001:DB8::0:1').key, 'ip:2001:db8::1');
  assert.equal(parseDecisionKey('ip:::ffff:203.0.113.7').key, 'ip:203.0.113.7');
  assert.equal(parseDecisionKey('range:10.1.2.3/8').key, 'range:10.0.0.0/8');
  assert.equal(parseDecisionKey('fp:ja4:t13d').scope, 'fingerprint');
  assert.throws(() => parseDecisionKey('asn:64500'), BadInput);
  assert.throws(() => parseDecisionKey('fp:'), BadInput);
});
