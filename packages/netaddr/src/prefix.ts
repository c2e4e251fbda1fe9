import { cidrOf, maskIpv6Words, wordMask } from './cidr.js';
import { formatIpv4, formatIpv6Words, parseIpInto, parseIpv4Value } from './ip.js';

/**
 * The network prefix holding `ip`, as canonical CIDR text: `prefixOf('203.0.113.7')` is
 * `'203.0.113.0/24'`, `prefixOf('2001:db8:1:2:3::1')` is `'2001:db8:1:2::/64'`. Null when `ip` is
 * not an address. Called per request (range aggregation, fingerprints): the IPv4 /24 case slices
 * the text instead of formatting numbers.
 */
export function prefixOf(ip: string, v4Bits = 24, v6Bits = 64): string | null {
  if (!(v4Bits >= 0 && v4Bits <= 32) || !(v6Bits >= 0 && v6Bits <= 128)) {
    throw new RangeError(`prefixOf: prefix lengths must be 0..32 and 0..128, got ${v4Bits} and ${v6Bits}`);
  }
  const v4 = parseIpv4Value(ip);
  if (v4 >= 0) {
    if (v4Bits === 24) return `${ip.slice(0, ip.lastIndexOf('.'))}.0/24`;
    if (v4Bits === 32) return `${ip}/32`;
  }
  if (v4 >= 0) return cidrOf({ version: 4, text: ip, value: v4 }, v4Bits).text;
  // IPv6 (a fifth of the clients of a busy site): read into words, with no address object and
  // no canonical text of the address, which the prefix does not need.
  const version = parseIpInto(ip, scratchWords);
  if (version === 0) return null;
  if (version === 4) return `${formatIpv4((scratchWords[0]! & wordMask(v4Bits)) >>> 0)}/${v4Bits}`;
  return `${formatIpv6Words(maskIpv6Words(scratchWords, v6Bits))}/${v6Bits}`;
}

const scratchWords = new Uint32Array(4);
