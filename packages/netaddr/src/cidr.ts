import { BadInput } from '@edgeguard/schema';
import { canonicalIp, formatIpv4, formatIpv6Words, type IpAddress, parseIp } from './ip.js';

export interface Ipv4Cidr {
  version: 4;
  prefixLength: number;
  /** Network address as an unsigned 32-bit integer (host bits cleared). */
  network: number;
  /** Canonical text, e.g. `203.0.113.0/24`. */
  text: string;
}

export interface Ipv6Cidr {
  version: 6;
  prefixLength: number;
  /** Network address as four unsigned 32-bit words, most significant first (host bits cleared). */
  words: readonly [number, number, number, number];
  /** Canonical text, e.g. `2001:db8::/32`. */
  text: string;
}

export type Cidr = Ipv4Cidr | Ipv6Cidr;

/** Mask of the top `bits` bits of a 32-bit word (0 ≤ bits ≤ 32), unsigned. */
export function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** The four IPv6 words with every bit after `prefixLength` cleared. */
export function maskIpv6Words(
  words: ArrayLike<number>,
  prefixLength: number,
): [number, number, number, number] {
  return [
    ((words[0] as number) & wordMask(prefixLength)) >>> 0,
    ((words[1] as number) & wordMask(prefixLength - 32)) >>> 0,
    ((words[2] as number) & wordMask(prefixLength - 64)) >>> 0,
    ((words[3] as number) & wordMask(prefixLength - 96)) >>> 0,
  ];
}

/** The CIDR of `address` with `prefixLength` bits (host bits cleared). */
export function cidrOf(address: IpAddress, prefixLength: number): Cidr {
  if (address.version === 4) {
    const network = (address.value & wordMask(prefixLength)) >>> 0;
    return { version: 4, prefixLength, network, text: `${formatIpv4(network)}/${prefixLength}` };
  }
  const words = maskIpv6Words(address.words, prefixLength);
  return { version: 6, prefixLength, words, text: `${formatIpv6Words(words)}/${prefixLength}` };
}

/** Whether two CIDRs share any address (one holds the other); never across IP versions. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const length = Math.min(a.prefixLength, b.prefixLength);
  if (a.version === 4 && b.version === 4) return ((a.network ^ b.network) & wordMask(length)) === 0;
  if (a.version !== 6 || b.version !== 6) return false;
  const x = maskIpv6Words(a.words, length);
  const y = maskIpv6Words(b.words, length);
  return x[0] === y[0] && x[1] === y[1] && x[2] === y[2] && x[3] === y[3];
}

function badCidr(text: string, expected: string): BadInput {
  return new BadInput('bad-cidr', `${JSON.stringify(text)} is not a CIDR: expected ${expected}`, 'cidr');
}

/**
 * Parses `address/prefixLength` or a bare address (a /32 or /128). Host bits after the prefix are
 * cleared, as nginx's `set_real_ip_from` does (`10.1.2.3/8` is `10.0.0.0/8`). An IPv4-mapped IPv6
 * CIDR with a prefix of at least 96 bits is the IPv4 CIDR (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
 * Throws {@link BadInput} with reason `bad-cidr`.
 */
export function parseCidr(text: string): Cidr {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const expected =
    'an IPv4 or IPv6 address, optionally followed by /prefix-length (e.g. 10.0.0.0/8, 2001:db8::/32)';
  // parseIp strips zone ids, which have no meaning in a range.
  if (addressText.includes('%')) throw badCidr(text, expected);
  const address = parseIp(addressText);
  if (!address) throw badCidr(text, expected);
  const mappedV4 = address.version === 4 && addressText.includes(':');
  const maxLength = address.version === 4 ? 32 : 128;
  let prefixLength = mappedV4 ? 128 : maxLength;
  if (slash >= 0) {
    const lengthText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lengthText))
      throw badCidr(text, `a prefix length of 0 to ${mappedV4 ? 128 : maxLength}`);
    prefixLength = Number(lengthText);
  }
  if (mappedV4) {
    // `::ffff:0:0/96` is the whole IPv4 space written as IPv6.
    if (prefixLength > 128 || prefixLength < 96) {
      throw badCidr(text, 'a prefix length of 96 to 128 for an IPv4-mapped address');
    }
    prefixLength -= 96;
  } else if (prefixLength > maxLength) {
    throw badCidr(text, `a prefix length of 0 to ${maxLength} for an IPv${address.version} address`);
  }
  return cidrOf(address, prefixLength);
}

/**
 * {@link parseCidr} for what an operator writes (config, allowlist entries, manual range
 * decisions): an address with bits set after its prefix length is refused instead of cleared —
 * `203.0.113.7/8` is almost surely a typo, and read as 203.0.0.0/8 it would trust, allow or block
 * a whole /8. The message names the network it would have been. Throws BadInput `bad-cidr`.
 */
export function parseExactCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  const slash = text.indexOf('/');
  const address = slash < 0 ? null : canonicalIp(text.slice(0, slash).trim());
  if (address !== null && address !== cidr.text.slice(0, cidr.text.indexOf('/')))
    throw new BadInput(
      'bad-cidr',
      `'${text.trim()}' has bits set after its prefix length: the network is ${cidr.text}`,
      'cidr',
    );
  return cidr;
}
