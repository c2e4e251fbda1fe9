import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBadInput } from '@edgeguard/schema';
import { Allowlist } from '../src/allowlist.js';

test('allowlisted addresses and ranges are recognised, IPv4 and IPv6', () => {
  const allowlist = new Allowlist(['192.0.2.10', '198.51.100.0/25', '2001:db8:1::/48'], ['66.249.64.0/19']);
  assert.equal(allowlist.has('192.0.2.10'), true);
  assert.equal(allowlist.has('192.0.2.11'), false);
  assert.equal(allowlist.has('198.51.100.127'), true);
  assert.equal(allowlist.has('198.51.100.128'), false);
  assert.equal(allowlist.has('2001:db8:1:ff::7'), true);
  assert.equal(allowlist.has('66.249.70.1'), true, 'protected (verified crawler) ranges count too');
});

test('a range decision may not cover a prefix holding an allowlisted address, or inside an allowlisted range', () => {
  const allowlist = new Allowlist(['192.0.2.10', '10.0.0.0/8', '2001:db8:1:2::9']);
  assert.equal(allowlist.touchesRange('192.0.2.0/24'), true);
  assert.equal(allowlist.touchesRange('192.0.3.0/24'), false);
  assert.equal(allowlist.touchesRange('10.20.30.0/24'), true);
  assert.equal(allowlist.touchesRange('2001:db8:1:2::/64'), true);
  assert.equal(allowlist.touchesRange('2001:db8:1:3::/64'), false);
});

test('a bad allowlist entry is a BadInput naming it', () => {
  assert.throws(
    () => new Allowlist(['192.0.2.300']),
    (error: unknown) =>
      isBadInput(error) && error.reason === 'bad-cidr' && error.message.includes('192.0.2.300'),
  );
});

test('a further protection test (CDN egress addresses) protects addresses and the ranges holding them', () => {
  const cdn = (ip: string) => ip.startsWith('104.16.');
  const allowlist = new Allowlist([], [], 24, 64, cdn);
  assert.equal(allowlist.has('104.16.1.1'), true);
  assert.equal(allowlist.has('203.0.113.1'), false);
  assert.equal(allowlist.touchesRange('104.16.1.0/24'), true);
  assert.equal(allowlist.touchesRange('203.0.113.0/24'), false);
});
