import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalIp,
  canonicalIpAt,
  ipVersion,
  isPrivateOrReserved,
  parseIp,
  parseIpInto,
  prefixOf,
} from '../src/index.js';

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

  it('keeps canonical IPv6 text as is and rewrites every other spelling of it', () => {
    // Random addresses with zero runs of random lengths: the canonical text (as formatted from
    // the parsed words) comes back unchanged, and the expanded, upper-case and zero-padded
    // spellings of it come back as that text.
    let seed = 7;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let round = 0; round < 2000; round++) {
      const groups = Array.from({ length: 8 }, () =>
        random(3) === 0 ? 0 : [random(16), random(256), random(4096), random(65536)][random(4)]!,
      );
      const start = random(8);
      for (let k = start; k < Math.min(8, start + random(5)); k++) groups[k] = 0;
      const expanded = groups.map((g) => g.toString(16)).join(':');
      const canonical = parseIp(expanded)?.text;
      if (canonical === undefined || canonical.includes('.')) continue; // IPv4-mapped
      assert.equal(canonicalIp(canonical), canonical, expanded);
      assert.equal(parseIp(canonical)?.text, canonical, expanded);
      for (const variant of [
        expanded,
        expanded.toUpperCase(),
        groups.map((g) => g.toString(16).padStart(4, '0')).join(':'),
        `${canonical}%eth0`,
      ]) {
        assert.equal(canonicalIp(variant), canonical, variant);
      }
    }
  });

  it('canonicalIpAt reads an address in place in a longer text, as canonicalIp reads it alone', () => {
    for (const address of [
      '203.0.113.7',
      '2001:db8::1',
      '2001:0DB8:0:0::1',
      '::ffff:192.0.2.1',
      'fe80::1%eth0',
      '010.0.0.1',
      'not-an-address',
      '1.2.3.4:80',
    ]) {
      const line = `x ${address} - - [...]`;
      assert.equal(canonicalIpAt(line, 2, 2 + address.length), canonicalIp(address), address);
    }
    // Only the range is read: the text around it is no part of the address.
    assert.equal(canonicalIpAt('1.2.3.45', 0, 7), '1.2.3.4');
    assert.equal(canonicalIpAt('::1:2', 0, 3), '::1');
    assert.equal(canonicalIpAt('1:2:3:4:5:6:7:8:9', 0, 15), '1:2:3:4:5:6:7:8');
    // Two zero groups at the end, whatever follows the range, are `::`.
    for (const after of ['', ' ', 'a', '0', ':0']) {
      assert.equal(
        canonicalIpAt(`8d1:0:e9c6:5485:8546:4466:0:0${after}`, 0, 29),
        '8d1:0:e9c6:5485:8546:4466::',
        after,
      );
    }
    assert.equal(canonicalIpAt('8d1:0:e9c6:5485:8546:4466:0:1a', 0, 29), '8d1:0:e9c6:5485:8546:4466:0:1');
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

  it('reads zone ids, embedded dotted quads, `::` anywhere, leading zeros and upper case', () => {
    const cases: Array<[string, string]> = [
      ['fe80::1%eth0', 'fe80::1'],
      ['fe80::1%25', 'fe80::1'],
      ['fe80::%eth0', 'fe80::'],
      ['::%1', '::'],
      ['fe80::1%eth0%x:y', 'fe80::1'], // the zone id is everything after the first %
      ['::ffff:1.2.3.4%eth0', '1.2.3.4'],
      ['64:ff9b::1.2.3.4%3', '64:ff9b::102:304'],
      ['::1.2.3.4', '::102:304'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
      ['1::1.2.3.4', '1::102:304'],
      ['::', '::'],
      ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
      ['1:2:3::4:5:6:7', '1:2:3:0:4:5:6:7'],
      ['1:2:3:4:5:6::7', '1:2:3:4:5:6:0:7'],
      ['0001:0002:0003:0004:0005:0006:0007:0008', '1:2:3:4:5:6:7:8'],
      ['000a::00B', 'a::b'],
      ['ABCD:EF01:2345:6789:abcd:ef01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
      ['::FFFF:C000:0201', '192.0.2.1'],
    ];
    for (const [input, canonical] of cases) assert.equal(canonicalIp(input), canonical, input);
  });

  it('refuses misplaced `::` and colons, over-long groups, bad quads and stray characters', () => {
    for (const text of [
      ':',
      ':::',
      '::::',
      '1:::2',
      ':1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:',
      '1::2:',
      '::1:',
      '1::2::3',
      '::1::',
      '00000::1',
      '1:2:3:4:5:6:7:12345',
      '1::fffff',
      '1:2:3:4:5:6:7:8:9',
      '::1:2:3:4:5:6:7:8',
      '1:2:3:4::5:6:7:8',
      'fe80::1%',
      '%eth0',
      '1.2.3.4%eth0',
      '::1.2.3',
      '::1.2.3.4.5',
      '::1.2.3.04',
      '::1.2.3.4:5',
      '::ffff:1a.2.3.4',
      '::ffff:.1.2.3',
      '::1.2.3.4%',
      '1:2:3:4:5:6:7:1.2.3.4',
      '1:2:3:4:5:6::1.2.3.4',
      '1.2.3.4::',
      '1:2 ',
      ' ::1',
      '::1 ',
      '::g',
      '::１',
      '2001:db8::1/64',
    ]) {
      assert.equal(parseIp(text), null, text);
      assert.equal(parseIpInto(text, new Uint32Array(4)), 0, text);
    }
  });

  it('agrees with a reference reading (split on colons) on 20,000 random and mutated texts', () => {
    let seed = 99;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const alphabet = '0123456789abcdefABCDEFg:::...%';
    const texts: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const groups = Array.from({ length: 1 + random(9) }, () => random(65536).toString(16));
      if (random(4) === 0) groups.splice(random(groups.length), 0, '');
      if (random(5) === 0)
        groups[groups.length - 1] = `${random(300)}.${random(300)}.${random(256)}.${random(256)}`;
      let text = groups.join(':');
      if (random(2) === 0) {
        const at = random(text.length + 1);
        text = text.slice(0, at) + alphabet[random(alphabet.length)] + text.slice(at + random(2));
      }
      if (random(8) === 0) text += `%${random(3) === 0 ? '' : 'eth0'}`;
      texts.push(text);
    }
    for (let i = 0; i < 10_000; i++)
      texts.push(Array.from({ length: random(14) }, () => alphabet[random(alphabet.length)]).join(''));
    const words = new Uint32Array(4);
    let valid = 0;
    for (const text of texts) {
      const expected = referenceParse(text);
      const version = parseIpInto(text, words);
      const got = version === 0 ? null : version === 4 ? [words[0]!] : [...words];
      assert.deepEqual(got, expected, text);
      if (expected) valid++;
      if (expected?.length === 4) assert.equal(parseIp(text)?.text, referenceFormat(expected), text);
    }
    assert.ok(valid > 1000, `enough valid addresses among the texts (${valid})`);
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

/**
 * A second, deliberately different reading of the rules (split on `::` and `:`, regular
 * expressions), to check the char-code scanner against: the words (one for IPv4), or null.
 */
function referenceParse(input: string): number[] | null {
  const quad = (text: string): number | null => {
    const parts = text.split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255))
      return null;
    return parts.reduce((value, p) => value * 256 + Number(p), 0);
  };
  const v4 = quad(input);
  if (v4 !== null) return [v4];
  let text = input;
  const zone = text.indexOf('%');
  if (zone >= 0) {
    if (zone === text.length - 1) return null;
    text = text.slice(0, zone);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string, last: boolean): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let k = 0; k < items.length; k++) {
      const item = items[k]!;
      if (last && k === items.length - 1 && item.includes('.')) {
        const value = quad(item);
        if (value === null) return null;
        out.push(Math.floor(value / 65536), value % 65536);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(item)) {
        out.push(Number.parseInt(item, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (head === null || tail === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return null;
    groups = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) return null;
    groups = head;
  }
  const words = [0, 1, 2, 3].map((k) => (groups[2 * k]! * 65536 + groups[2 * k + 1]!) >>> 0);
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return [words[3]!];
  return words;
}

/** RFC 5952 text of four words, the plain way (toString(16), a regular expression for the zero run). */
function referenceFormat(words: number[]): string {
  const groups = words.flatMap((w) => [(w >>> 16).toString(16), (w & 0xffff).toString(16)]);
  const joined = `:${groups.join(':')}:`;
  // The longest run of two or more zero groups, the first on a tie.
  let best = '';
  for (const run of joined.match(/(:0)+(?=:)/g) ?? [])
    if (run.length > best.length && run.length >= 4) best = run;
  const text = best ? joined.replace(`${best}:`, '::') : joined;
  return text.replace(/^:(?!:)/, '').replace(/(?<!:):$/, '');
}
