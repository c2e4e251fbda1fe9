import { parseIp } from './ip.js';

/** [network, prefix length] of IPv4 ranges that never identify a public client. */
const privateIpv4: ReadonlyArray<readonly [number, number]> = [
  [0x00000000, 8], // "this network" (RFC 1122)
  [0x0a000000, 8], // private (RFC 1918)
  [0x64400000, 10], // carrier-grade NAT (RFC 6598)
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // link-local (RFC 3927)
  [0xac100000, 12], // private (RFC 1918)
  [0xc0a80000, 16], // private (RFC 1918)
  [0xe0000000, 4], // multicast
  [0xf0000000, 4], // reserved, including the limited broadcast address
];

/**
 * Whether `ip` is private, loopback, link-local, CGNAT, unique-local, multicast or reserved:
 * an address that cannot be a public client. Documentation ranges (192.0.2.0/24,
 * 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are deliberately NOT included: tests and
 * examples use them as stand-ins for public clients. False when `ip` is not an address.
 */
export function isPrivateOrReserved(ip: string): boolean {
  const address = parseIp(ip);
  if (!address) return false;
  if (address.version === 4) {
    const value = address.value;
    for (const [network, length] of privateIpv4) {
      if (value >>> (32 - length) === network >>> (32 - length)) return true;
    }
    return false;
  }
  const [w0, w1, w2, w3] = address.words;
  if (w0 === 0 && w1 === 0 && w2 === 0 && (w3 === 0 || w3 === 1)) return true; // :: and ::1
  const top16 = w0 >>> 16;
  if ((top16 & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
  if ((top16 & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((top16 & 0xff00) === 0xff00) return true; // multicast ff00::/8
  return false;
}
