import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCdnAddress, isCdnIpv4 } from '@edgeguard/fingerprint';
import { parseIpv4Value } from '@edgeguard/netaddr';
import { isBadInput } from '@edgeguard/schema';
import { ipv4Number } from '../src/address-index.js';
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

test('hasIpv4 (by the address table number) answers as has (by the text), for every kind of entry and address', () => {
  const entries = [
    '192.0.2.10',
    '198.51.100.0/25',
    '10.0.0.0/8',
    '0.0.0.0/32',
    '255.255.255.255',
    '::ffff:172.16.0.0/108', // an IPv4 range written as IPv4-mapped IPv6
    '2001:db8:1::/48',
    '203.0.113.64/26',
  ];
  const cdn = (ip: string) => ip.startsWith('104.16.');
  const lists = [
    new Allowlist(entries, ['66.249.64.0/19']),
    new Allowlist(entries, [], 24, 64, cdn),
    new Allowlist([], [], 24, 64, cdn),
    new Allowlist(entries, [], 24, 64, isCdnAddress, isCdnIpv4),
    new Allowlist([], [], 24, 64, isCdnAddress, isCdnIpv4).copy(),
    new Allowlist(),
  ];
  const addresses = [
    '192.0.2.10',
    '192.0.2.11',
    '198.51.100.127',
    '198.51.100.128',
    '10.255.255.255',
    '11.0.0.0',
    '9.255.255.255',
    '0.0.0.0',
    '0.0.0.1',
    '255.255.255.255',
    '255.255.255.254',
    '172.16.0.1',
    '172.31.255.255',
    '172.32.0.0',
    '66.249.70.1',
    '104.16.1.1',
    '203.0.113.63',
    '203.0.113.64',
    '203.0.113.127',
    '203.0.113.128',
    // Not canonical dotted quads (ipv4Number is -1: the text is parsed), and not addresses.
    '::ffff:10.1.2.3',
    '::ffff:203.0.113.70',
    '2001:db8:1:ff::7',
    '2001:db8:2::1',
    '010.0.0.1',
    'not-an-address',
    '',
  ];
  // Random addresses around the entries' edges too.
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  for (let k = 0; k < 2000; k++) {
    const base = [10, 172, 192, 198, 203, 66, 104, 0, 255, 13, 162, 188][k % 12]!;
    addresses.push(`${base}.${next() % 256}.${next() % 256}.${next() % 256}`);
  }
  for (const allowlist of lists) {
    for (const ip of addresses) {
      const ipv4 = ipv4Number(ip);
      assert.equal(ipv4, parseIpv4Value(ip), `${ip}: the address table reads the number CidrSet would`);
      assert.equal(allowlist.hasIpv4(ipv4, ip), allowlist.has(ip), `${ip} by number and by text`);
    }
  }
  assert.equal(lists[0]!.hasIpv4(ipv4Number('10.1.2.3'), '10.1.2.3'), true);
  assert.equal(
    lists[1]!.hasIpv4(ipv4Number('104.16.1.1'), '104.16.1.1'),
    true,
    'the further test, by its text',
  );
  assert.equal(lists[0]!.hasIpv4(ipv4Number('104.16.1.1'), '104.16.1.1'), false);
});

test('with the CDN test by number beside it (as the pipeline wires it), hasIpv4 asks it by the number (the text is not parsed again)', () => {
  const allowlist = new Allowlist([], [], 24, 64, isCdnAddress, isCdnIpv4);
  assert.equal(isCdnAddress('104.16.1.1'), true);
  // The text is not read when the number is given: a wrong one does not change the answer.
  assert.equal(allowlist.hasIpv4(ipv4Number('104.16.1.1'), 'not-read'), true);
  assert.equal(allowlist.copy().hasIpv4(ipv4Number('104.16.1.1'), 'not-read'), true);
  assert.equal(allowlist.hasIpv4(ipv4Number('203.0.113.1'), '104.16.1.1'), false);
  // Any other further test is still asked with the text.
  const other = new Allowlist([], [], 24, 64, (ip) => ip === 'by-text');
  assert.equal(other.hasIpv4(ipv4Number('104.16.1.1'), 'by-text'), true);
});
