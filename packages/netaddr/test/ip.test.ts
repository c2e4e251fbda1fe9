import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalIp, ipVersion, isPrivateOrReserved, parseIp, prefixOf } from '../src/index.js';

describe('parseIp / canonicalIp', () => {
  it('keeps a canonical dotted quad as is and reads its integer value', () => {
    const address = parseIp('203.0.113.7');
    assert.deepEqual(address, { version: 4, text: '203.0.113.7', value: 0xcb007107 });
    assert.equal(canonicalIp('0.0.0.0'), '0.0.0.0');
    assert.equal(canonicalIp('255.255.255.255'), '255.255.255.255');
  });

  it('refuses dotted quads that are out of range, short, long or zero-padded', () => {
    for (const text of [
      '256.1.1.1',
      '1.2.3',
      '1.2.3.4.5',
      '1..2.3',
      '010.0.0.1',
      '1.2.3.04',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '1.2.3.4.',
      '',
      '-',
      'unix:',
      '1.2.3.a',
    ]) {
      assert.equal(parseIp(text), null, text);
      assert.equal(canonicalIp(text), null, text);
    }
  });

  it('writes IPv6 in RFC 5952 form: lower case, no leading zeros, longest zero run compressed', () => {
    const cases: Array<[string, string]> = [
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longer run wins
      ['0:0:0:0:0:0:0:0', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['fe80::', 'fe80::'],
      ['2001:db8::0:1', '2001:db8::1'],
      ['2001:db8:85a3:0000:0000:8a2e:0370:7334', '2001:db8:85a3::8a2e:370:7334'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ];
    for (const [input, canonical] of cases) {
      assert.equal(canonicalIp(input), canonical, input);
      assert.equal(parseIp(input)?.version, 6, input);
    }
  });

  it('treats an IPv4-mapped IPv6 address as the IPv4 address', () => {
    assert.deepEqual(parseIp('::ffff:192.0.2.1'), { version: 4, text: '192.0.2.1', value: 0xc0000201 });
    assert.equal(canonicalIp('::FFFF:c000:0201'), '192.0.2.1');
    assert.equal(ipVersion('::ffff:192.0.2.1'), 4);
  });

  it('strips a zone id but refuses brackets, ports and malformed IPv6', () => {
    assert.equal(canonicalIp('fe80::1%eth0'), 'fe80::1');
    for (const text of [
      '[2001:db8::1]:443',
      '[2001:db8::1]',
      '1.2.3.4:80',
      'fe80::1%',
      '2001:db8:::1',
      '2001:db8::1::2',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8::',
      '12345::1',
      ':1::',
      '1:',
      'g::1',
      '::ffff:1.2.3.256',
      '1:2:3:4:5:6:7:1.2.3.4',
    ]) {
      assert.equal(parseIp(text), null, text);
    }
  });

  it('tells the version of an address, or null', () => {
    assert.equal(ipVersion('198.51.100.1'), 4);
    assert.equal(ipVersion('2001:db8::'), 6);
    assert.equal(ipVersion('example.com'), null);
  });
});

describe('prefixOf', () => {
  it('gives the /24 of an IPv4 address and the /64 of an IPv6 address by default', () => {
    assert.equal(prefixOf('203.0.113.77'), '203.0.113.0/24');
    assert.equal(prefixOf('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(prefixOf('2001:db8::1'), '2001:db8::/64');
  });

  it('honours other prefix lengths, including /0 and full length', () => {
    assert.equal(prefixOf('203.0.113.77', 16), '203.0.0.0/16');
    assert.equal(prefixOf('203.0.113.77', 20), '203.0.112.0/20');
    assert.equal(prefixOf('203.0.113.77', 32), '203.0.113.77/32');
    assert.equal(prefixOf('203.0.113.77', 0), '0.0.0.0/0');
    assert.equal(prefixOf('2001:db8:abcd:12ff::1', 24, 48), '2001:db8:abcd::/48');
    assert.equal(prefixOf('2001:db8::1', 24, 128), '2001:db8::1/128');
    assert.equal(prefixOf('2001:db8::1', 24, 0), '::/0');
  });

  it('uses the IPv4 prefix for IPv4-mapped addresses and returns null for non-addresses', () => {
    assert.equal(prefixOf('::ffff:198.51.100.9'), '198.51.100.0/24');
    assert.equal(prefixOf('not-an-ip'), null);
    assert.equal(prefixOf('1.2.3'), null);
  });

  it('refuses impossible prefix lengths', () => {
    assert.throws(() => prefixOf('1.2.3.4', 33), RangeError);
    assert.throws(() => prefixOf('1.2.3.4', 24, 129), RangeError);
  });
});

describe('isPrivateOrReserved', () => {
  it('flags private, loopback, link-local, CGNAT, ULA and multicast addresses', () => {
    for (const ip of [
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '127.0.0.1',
      '169.254.1.1',
      '100.64.0.1',
      '100.127.255.255',
      '0.1.2.3',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      'fc00::1',
      'ff02::1',
    ]) {
      assert.equal(isPrivateOrReserved(ip), true, ip);
    }
  });

  it('does not flag public or documentation addresses (tests use them as public clients)', () => {
    for (const ip of [
      '172.32.0.1',
      '172.15.255.255',
      '100.128.0.1',
      '8.8.8.8',
      '192.0.2.1',
      '198.51.100.1',
      '203.0.113.1',
      '2001:db8::1',
      '2606:4700::1111',
      'not-an-ip',
    ]) {
      assert.equal(isPrivateOrReserved(ip), false, ip);
    }
  });
});
