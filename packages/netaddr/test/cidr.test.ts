import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import { CidrSet, cidrsOverlap, parseCidr } from '../src/index.js';

describe('parseCidr', () => {
  it('reads IPv4 and IPv6 CIDRs into canonical text', () => {
    assert.equal(parseCidr('10.0.0.0/8').text, '10.0.0.0/8');
    assert.equal(parseCidr('2001:0DB8::/32').text, '2001:db8::/32');
    assert.equal(parseCidr(' 192.0.2.0/24 ').text, '192.0.2.0/24');
  });

  it('treats a bare address as a /32 or a /128', () => {
    assert.deepEqual(parseCidr('192.0.2.1'), {
      version: 4,
      prefixLength: 32,
      network: 0xc0000201,
      text: '192.0.2.1/32',
    });
    assert.equal(parseCidr('2001:db8::1').text, '2001:db8::1/128');
  });

  it('clears host bits after the prefix, as nginx set_real_ip_from does', () => {
    assert.equal(parseCidr('10.1.2.3/8').text, '10.0.0.0/8');
    assert.equal(parseCidr('2001:db8:ffff:1::7/33').text, '2001:db8:8000::/33');
    assert.equal(parseCidr('1.2.3.4/0').text, '0.0.0.0/0');
  });

  it('reads an IPv4-mapped CIDR as the IPv4 range', () => {
    assert.equal(parseCidr('::ffff:10.0.0.0/104').text, '10.0.0.0/8');
    assert.equal(parseCidr('::ffff:10.0.0.1').text, '10.0.0.1/32');
  });

  it('rejects bad text with a BadInput naming the text and what was expected', () => {
    for (const text of [
      '10.0.0.0/33',
      '2001:db8::/129',
      '10.0.0.0/',
      '10.0.0.0/8/8',
      '10.0.0.0/-1',
      '10.0.0/8',
      'example.com/24',
      '',
      'fe80::%eth0/64',
      '::ffff:10.0.0.0/64',
    ]) {
      assert.throws(
        () => parseCidr(text),
        (error: unknown) =>
          error instanceof BadInput &&
          error.reason === 'bad-cidr' &&
          error.message.includes(JSON.stringify(text)) &&
          error.message.includes('expected'),
        text,
      );
    }
  });
});

describe('CidrSet', () => {
  it('matches addresses inside IPv4 ranges, up to and including both boundaries', () => {
    const set = new CidrSet(['192.0.2.0/24', '198.51.100.128/25']);
    assert.equal(set.size, 2);
    assert.equal(set.has('192.0.2.0'), true);
    assert.equal(set.has('192.0.2.255'), true);
    assert.equal(set.has('192.0.3.0'), false);
    assert.equal(set.has('192.0.1.255'), false);
    assert.equal(set.has('198.51.100.127'), false);
    assert.equal(set.has('198.51.100.128'), true);
    assert.equal(set.has('198.51.100.255'), true);
  });

  it('handles /0 and /32 for IPv4, and /0 and /128 for IPv6, separately per family', () => {
    const everyV4 = new CidrSet(['0.0.0.0/0']);
    assert.equal(everyV4.has('255.255.255.255'), true);
    assert.equal(everyV4.has('0.0.0.0'), true);
    assert.equal(everyV4.has('2001:db8::1'), false);
    const everyV6 = new CidrSet(['::/0']);
    assert.equal(everyV6.has('2001:db8::1'), true);
    assert.equal(everyV6.has('1.2.3.4'), false);
    const hosts = new CidrSet(['203.0.113.9/32', '2001:db8::9/128']);
    assert.equal(hosts.has('203.0.113.9'), true);
    assert.equal(hosts.has('203.0.113.8'), false);
    assert.equal(hosts.has('2001:db8::9'), true);
    assert.equal(hosts.has('2001:db8::8'), false);
    assert.equal(hosts.has('2001:db8:0:0:0:0:0:9'), true);
  });

  it('matches IPv6 ranges at non-word-aligned prefix boundaries', () => {
    const set = new CidrSet(['2001:db8:8000::/33', '2001:db8:1:2::/63']);
    assert.equal(set.has('2001:db8:8000::1'), true);
    assert.equal(set.has('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'), true);
    assert.equal(set.has('2001:db8:7fff:ffff::'), false);
    assert.equal(set.has('2001:db8:1:3:ffff::'), true);
    assert.equal(set.has('2001:db8:1:4::'), false);
  });

  it('returns the most specific matching CIDR', () => {
    const set = new CidrSet(['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '2001:db8::/32', '2001:db8:1::/48']);
    assert.equal(set.match('10.1.2.3'), '10.1.2.0/24');
    assert.equal(set.match('10.1.3.3'), '10.1.0.0/16');
    assert.equal(set.match('10.2.0.1'), '10.0.0.0/8');
    assert.equal(set.match('11.0.0.1'), null);
    assert.equal(set.match('2001:db8:1::5'), '2001:db8:1::/48');
    assert.equal(set.match('2001:db8:2::5'), '2001:db8::/32');
  });

  it('matches ranges wider than a /16 across all of their /16s, in both families', () => {
    const set = new CidrSet(['10.0.0.0/7', '2400::/6', '2001:db8::/32']);
    assert.equal(set.match('10.0.0.1'), '10.0.0.0/7');
    assert.equal(set.match('11.255.255.254'), '10.0.0.0/7');
    assert.equal(set.match('12.0.0.1'), null);
    assert.equal(set.match('9.255.255.255'), null);
    assert.equal(set.match('::ffff:11.1.2.3'), '10.0.0.0/7');
    assert.equal(set.match('2400::1'), '2400::/6');
    assert.equal(set.match('27ff:ffff::1'), '2400::/6');
    assert.equal(set.match('2800::1'), null);
    assert.equal(set.match('2001:db8:ffff::1'), '2001:db8::/32');
    assert.equal(set.match('2001:db9::1'), null);
  });

  it('matches by number (matchIpv4) as by text, in both halves of the IPv4 space', () => {
    const set = new CidrSet([
      '0.0.0.0/1',
      '128.0.0.0/1',
      '192.0.2.0/24',
      '255.255.255.255/32',
      '127.255.0.0/16',
    ]);
    const cases: Array<[number, string | null]> = [
      [0, '0.0.0.0/1'],
      [0x7fffffff, '127.255.0.0/16'],
      [0x80000000, '128.0.0.0/1'],
      [0xc0000201, '192.0.2.0/24'],
      [0xfffffffe, '128.0.0.0/1'],
      [0xffffffff, '255.255.255.255/32'],
    ];
    for (const [value, expected] of cases) {
      const text = `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
      assert.equal(set.matchIpv4(value), expected, text);
      assert.equal(set.match(text), expected, text);
    }
    assert.deepEqual(
      [...set],
      ['255.255.255.255/32', '192.0.2.0/24', '127.255.0.0/16', '0.0.0.0/1', '128.0.0.0/1'],
    );
  });

  it('matches IPv4-mapped IPv6 addresses against IPv4 ranges', () => {
    const set = new CidrSet(['192.0.2.0/24']);
    assert.equal(set.match('::ffff:192.0.2.44'), '192.0.2.0/24');
  });

  it('returns no match for text that is not an address', () => {
    const set = new CidrSet(['0.0.0.0/0', '::/0']);
    assert.equal(set.match('example.com'), null);
    assert.equal(set.has(''), false);
    assert.equal(set.has('1.2.3.4:80'), false);
  });

  it('counts duplicates once and lists the canonical CIDRs', () => {
    const set = new CidrSet();
    set.add('10.0.0.0/8').add('10.9.9.9/8').add('2001:db8::/32').add('2001:DB8::/32');
    assert.equal(set.size, 2);
    assert.deepEqual([...set], ['10.0.0.0/8', '2001:db8::/32']);
  });

  it('throws BadInput when a CIDR added is malformed', () => {
    assert.throws(() => new CidrSet(['10.0.0.0/8', 'nope']), BadInput);
  });

  it('agrees with a brute-force scan of its ranges on many addresses', () => {
    // Deterministic pseudo-random addresses (LCG) against a set of nested ranges.
    const ranges: Array<[number, number]> = [
      [0x0a000000, 8],
      [0x0a800000, 9],
      [0x0a8c0000, 14],
      [0xc0000200, 24],
      [0xc0000280, 26],
      [0xc00002c1, 32],
    ];
    const toText = (v: number) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
    const set = new CidrSet(ranges.map(([network, length]) => `${toText(network)}/${length}`));
    let seed = 12345;
    for (let i = 0; i < 5000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const base = ranges[i % ranges.length]![0];
      const value = (base ^ (seed & (i % 2 ? 0x00ffffff : 0x000000ff))) >>> 0;
      let expected: string | null = null;
      let bestLength = -1;
      for (const [network, length] of ranges) {
        const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
        if ((value & mask) >>> 0 === network && length > bestLength) {
          bestLength = length;
          expected = `${toText(network)}/${length}`;
        }
      }
      assert.equal(set.match(toText(value)), expected, toText(value));
    }
  });
});

describe('cidrsOverlap', () => {
  const overlap = (a: string, b: string) => cidrsOverlap(parseCidr(a), parseCidr(b));

  it('is true when one range holds the other, either way round, and for the same range', () => {
    assert.equal(overlap('10.0.0.0/8', '10.1.2.0/24'), true);
    assert.equal(overlap('10.1.2.3', '10.0.0.0/8'), true);
    assert.equal(overlap('192.0.2.0/24', '192.0.2.0/24'), true);
    assert.equal(overlap('0.0.0.0/0', '203.0.113.9'), true);
    assert.equal(overlap('2001:db8::/32', '2001:db8:ffff::/48'), true);
    assert.equal(overlap('2001:db8::1', '2001:db8::/126'), true);
  });

  it('is false for disjoint ranges and across IP versions', () => {
    assert.equal(overlap('10.0.0.0/9', '10.128.0.0/9'), false);
    assert.equal(overlap('192.0.2.1', '192.0.2.2'), false);
    assert.equal(overlap('2001:db8::/33', '2001:db8:8000::/33'), false);
    assert.equal(overlap('2001:db8::/127', '2001:db8::2'), false);
    assert.equal(overlap('0.0.0.0/0', '::/0'), false);
  });
});
