/**
 * Where clients come from. Address pools are prefixes in the style of the networks each population
 * really uses (residential ISPs, mobile carriers, hosting providers, the crawlers' published ranges).
 * The residential, carrier and hosting prefixes are illustrative: they say "an ISP-looking /16", not
 * "this exact operator". The crawler and monitor ranges are the documented ones (sources inline).
 */
import type { Rng } from './rng.js';

/**
 * Googlebot: 66.249.64.0/20, the block that covers most of the ranges in Google's published
 * googlebot.json (https://developers.google.com/search/docs/crawling-indexing/verifying-googlebot)
 * and the one the detector's verified-crawler list holds whole. The wider 66.249.64.0/19 is not
 * all Googlebot's: an address drawn from its upper half is, to the detector, an impostor.
 */
export const GOOGLEBOT_RANGES = ['66.249.64.0/20'] as const;

/**
 * Bingbot: ranges listed in Bing's published bingbot.json
 * (https://www.bing.com/webmasters/help/verifying-that-bingbot-is-bingbot-3905dc26).
 */
export const BINGBOT_RANGES = ['157.55.39.0/24', '207.46.13.0/24', '40.77.167.0/24'] as const;

/**
 * UptimeRobot probe addresses, from its published list (https://uptimerobot.com/inc/files/ips/IPv4.txt,
 * as mirrored in crowdsecurity/sec-lists whitelists/benign_bots/legit_bots/uptimerobot.json).
 */
export const UPTIMEROBOT_ADDRESSES = [
  '3.12.251.153',
  '3.20.63.178',
  '5.161.61.238',
  '18.116.205.62',
] as const;

/** The edge's load balancers: the TCP peer of every `edge`-format line. */
export const LOAD_BALANCER_COUNT = 6;
export function loadBalancerAddress(index: number): string {
  return `10.0.0.${11 + (index % LOAD_BALANCER_COUNT)}`;
}

/** Residential ISP /16s: home broadband clients, spread over many /24s. */
const RESIDENTIAL_V4 = [
  '73.162',
  '73.15',
  '24.5',
  '24.130',
  '98.207',
  '71.58',
  '76.102',
  '68.44',
  '99.56',
  '174.48',
  '70.121',
  '108.28',
  '50.35',
  '67.161',
  '75.71',
  '86.130',
  '81.98',
  '82.15',
  '90.214',
  '92.40',
  '84.67',
  '77.102',
  '109.150',
  '176.250',
  '178.38',
  '2.96',
  '2.125',
  '91.64',
  '188.97',
  '95.90',
  '62.31',
  '79.199',
  '87.121',
  '89.204',
  '93.134',
  '46.114',
  '37.187',
  '31.16',
  '80.229',
  '83.56',
  '85.245',
  '122.105',
  '126.220',
  '110.174',
  '101.178',
  '1.36',
  '27.120',
  '49.228',
  '60.241',
  '177.34',
  '179.218',
  '186.12',
  '187.108',
  '189.6',
  '200.14',
  '201.82',
  '105.112',
  '41.216',
  '197.211',
] as const;

/** Residential IPv6 prefixes: [first group, low second group, high second group]. */
const RESIDENTIAL_V6: readonly (readonly [number, number, number])[] = [
  [0x2601, 0x0100, 0x0fff],
  [0x2600, 0x1700, 0x17ff],
  [0x2603, 0x8000, 0x90ff],
  [0x2003, 0x00c0, 0x00ef],
  [0x2a01, 0xcb00, 0xcbff],
  [0x2a02, 0x0810, 0x081f],
  [0x2a00, 0x23c0, 0x23df],
  [0x2a02, 0xa440, 0xa47f],
  [0x2405, 0x6580, 0x65ff],
  [0x2804, 0x0140, 0x017f],
];

/** Mobile carrier egress (carrier-grade NAT pools and mobile IPv6). */
const CARRIER_V4 = [
  '172.56',
  '172.58',
  '174.205',
  '174.241',
  '107.115',
  '166.205',
  '82.132',
  '31.94',
  '176.24',
  '80.187',
  '37.120',
] as const;
const CARRIER_V6: readonly (readonly [number, number, number])[] = [
  [0x2607, 0xfb90, 0xfb9f],
  [0x2600, 0x0387, 0x0387],
  [0x2600, 0x1010, 0x101f],
  [0x2a01, 0x0598, 0x0599],
];

/** Hosting /24 blocks per population ("a.b.c"): the datacenter networks abusive traffic rents. */
export const HOSTING_BLOCKS = {
  swarm: ['45.148.10', '193.32.162', '5.188.62', '141.98.11'],
  fakeCrawler: ['178.128.94', '159.89.174'],
  scraper: ['18.191.52', '3.138.77', '52.14.201'],
  scanner: ['80.94.95', '194.26.29', '45.155.205', '185.224.128'],
  spoofer: ['167.99.230'],
  stuffer: ['107.172.41', '192.3.150', '104.168.55', '23.95.97', '198.23.249'],
  monitor: ['178.255.152', '95.216.41'],
  feeds: ['34.229.63', '144.76.24', '52.71.18'],
} as const;

/** RFC 5952 text of an IPv6 address given as eight 16-bit groups (lower case, longest zero run as ::). */
export function formatIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** An address in one of the [first group, low, high] prefixes with a random (privacy) interface id. */
function ipv6From(rng: Rng, prefixes: readonly (readonly [number, number, number])[]): string {
  const [first, low, high] = rng.pick(prefixes);
  return formatIPv6([
    first,
    rng.int(low, high),
    rng.int(0, 0xffff),
    rng.int(0, 0xff) << 4, // ISPs delegate /56s: low bits of the site prefix are the subnet
    rng.int(1, 0xffff),
    rng.int(0, 0xffff),
    rng.int(0, 0xffff),
    rng.int(1, 0xffff),
  ]);
}

export function residentialIPv4(rng: Rng): string {
  return `${rng.pick(RESIDENTIAL_V4)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}

export function residentialIPv6(rng: Rng): string {
  return ipv6From(rng, RESIDENTIAL_V6);
}

export function carrierIPv4(rng: Rng): string {
  return `${rng.pick(CARRIER_V4)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}

export function carrierIPv6(rng: Rng): string {
  return ipv6From(rng, CARRIER_V6);
}

/** A host in one of the given /24 blocks (never .0, .1 (gateway) or .255). */
export function hostIn(rng: Rng, blocks: readonly string[]): string {
  return `${rng.pick(blocks)}.${rng.int(2, 254)}`;
}

/**
 * Enough /24 blocks for `clients` hosts at a realistic density (hosting abuse rarely fills a /24):
 * the given blocks first, then the following /24s of the same /16.
 */
export function blocksFor(base: readonly string[], clients: number, perBlock = 40): string[] {
  const needed = Math.max(base.length, Math.ceil(clients / perBlock));
  const blocks = [...base];
  for (let k = 1; blocks.length < needed; k++) {
    const seed = base[k % base.length] as string;
    const [a, b, c] = seed.split('.').map(Number) as [number, number, number];
    blocks.push(`${a}.${b}.${(c + Math.ceil(k / base.length)) % 256}`);
  }
  return blocks.slice(0, needed);
}

/** A host inside an IPv4 CIDR range (used for the crawlers' published ranges). */
export function hostInCidr(rng: Rng, cidr: string): string {
  const [network, bits] = cidr.split('/') as [string, string];
  const octets = network.split('.').map(Number);
  const base =
    (((octets[0] ?? 0) << 24) | ((octets[1] ?? 0) << 16) | ((octets[2] ?? 0) << 8) | (octets[3] ?? 0)) >>> 0;
  const size = 2 ** (32 - Number(bits));
  for (;;) {
    const value = base + rng.int(0, size - 1);
    const last = value & 255;
    if (last !== 0 && last !== 255) {
      return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${last}`;
    }
  }
}

/**
 * Hands out addresses so that two actors never share one by accident: a collision would merge two
 * ground-truth clients into one line stream. Grows with the number of clients, like the labels do.
 */
export class AddressAllocator {
  private readonly taken = new Set<string>();

  claim(draw: () => string, what: string): string {
    for (let attempt = 0; attempt < 200; attempt++) {
      const address = draw();
      if (!this.taken.has(address)) {
        this.taken.add(address);
        return address;
      }
    }
    throw new RangeError(`testkit: address pool for ${what} is exhausted; lower its population`);
  }

  /** Reserve a fixed address (published monitor probes); false when already taken. */
  reserve(address: string): boolean {
    if (this.taken.has(address)) return false;
    this.taken.add(address);
    return true;
  }
}
